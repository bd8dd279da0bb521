"""Rendering report.qmd: Quarto when installed, else pandoc (HTML) and Typst (PDF)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pipeline.errors import RenderError
from pipeline.report.crossref import resolve

REPORT_ASSETS = Path(__file__).resolve().parents[2] / "report"
# Typst symbol names and numbers in math, for Quarto (report/_quarto.yml lists it) and pandoc alike
TYPST_FILTER = REPORT_ASSETS / "typst-symbols.lua"
CALLOUT_FILTER = REPORT_ASSETS / "typst-callouts.lua"  # callouts in the fallback's PDF (Quarto draws its own)


@dataclass
class Renderer:
    """Which tool chain renders the report, and its versions."""

    kind: str  # "quarto" or "pandoc+typst"
    description: str
    quarto: str | None = None


def find_quarto() -> str | None:
    """Return the quarto executable from $QUARTO or PATH, or None."""
    explicit = os.environ.get("QUARTO")
    if explicit:
        if shutil.which(explicit) or Path(explicit).is_file():
            return explicit
        raise RenderError(f"QUARTO={explicit}: no such executable")
    return shutil.which("quarto")


def choose_renderer(prefer: str = "auto") -> Renderer:
    """Pick Quarto when available (or asked for), else pandoc + Typst from PyPI."""
    quarto = find_quarto() if prefer in ("auto", "quarto") else None
    if prefer == "quarto" and not quarto:
        raise RenderError("quarto: not found on PATH (install Quarto from quarto.org, or set QUARTO=/path/to/quarto)")
    if quarto:
        try:
            version = subprocess.run([quarto, "--version"], capture_output=True, text=True,
                                     timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            raise RenderError(f"{quarto}: cannot run ({exc})") from None
        return Renderer("quarto", f"Quarto {version}", quarto)
    try:
        import pypandoc
        import typst  # noqa: F401

        pandoc_version = pypandoc.get_pandoc_version()
        typst_version = metadata.version("typst")
    except (ImportError, OSError) as exc:
        raise RenderError(
            f"no renderer: Quarto is not on PATH and pandoc/typst are unusable ({exc}); "
            "run `make venv` or install Quarto") from None
    return Renderer("pandoc+typst", f"pandoc {pandoc_version} and Typst (PyPI typst {typst_version})")


def render(qmd: Path, renderer: Renderer, formats: tuple[str, ...] = ("html", "pdf")) -> list[Path]:
    """Render ``qmd`` to the requested formats next to it; return the files written."""
    if renderer.kind == "quarto":
        return _render_quarto(qmd, renderer.quarto or "quarto", formats)
    outputs = []
    if "html" in formats:
        outputs.append(render_html_pandoc(qmd, qmd.with_suffix(".html")))
    if "pdf" in formats:
        outputs.append(render_pdf_typst(qmd, qmd.with_suffix(".pdf")))
    return outputs


def _render_quarto(qmd: Path, quarto: str, formats: tuple[str, ...]) -> list[Path]:
    outputs = []
    for fmt, to, suffix in (("html", "html", ".html"), ("pdf", "typst", ".pdf")):
        if fmt not in formats:
            continue
        proc = subprocess.run([quarto, "render", qmd.name, "--to", to], cwd=qmd.parent,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise RenderError(f"{qmd}: quarto render --to {to} failed: {tail[0]}")
        outputs.append(qmd.with_suffix(suffix))
    return outputs


def _pandoc(args: list[str], source: str, cwd: Path) -> None:
    import pypandoc

    exe = pypandoc.get_pandoc_path()
    proc = subprocess.run([exe, *args], input=source, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        message = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RenderError(f"pandoc {' '.join(args[:3])}…: {message}")


def _atomic_target(path: Path) -> Path:
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def render_html_pandoc(qmd: Path, out: Path) -> Path:
    """Render to one self-contained HTML file: images embedded, math as MathML."""
    text, _ = resolve(qmd.read_text(encoding="utf-8"), "html")
    tmp = _atomic_target(out)
    css = REPORT_ASSETS / "style.css"
    args = ["--from", "markdown", "--to", "html5", "--standalone", "--embed-resources",
            "--mathml", "--toc", "--toc-depth=2", "--number-sections", "--section-divs",
            "--css", str(css), "--resource-path", str(qmd.parent),
            "--metadata", "lang=en", "--lua-filter", str(TYPST_FILTER), "--output", str(tmp)]
    try:
        _pandoc(args, text, qmd.parent)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def render_pdf_typst(qmd: Path, out: Path) -> Path:
    """Render to PDF: pandoc writes Typst markup, the typst package compiles it (fonts embedded)."""
    import typst

    text, _ = resolve(qmd.read_text(encoding="utf-8"), "typst")
    typ = qmd.with_suffix(".typ")
    header = REPORT_ASSETS / "typst-header.typ"
    args = ["--from", "markdown", "--to", "typst", "--standalone", "--toc",
            "--include-in-header", str(header), "--variable", "section-numbering=1.1.",
            "--variable", "papersize=a4", "--variable", "fontsize=10.5pt",
            "--variable", "margin.x=2.2cm", "--variable", "margin.y=2.4cm",
            "--lua-filter", str(TYPST_FILTER), "--lua-filter", str(CALLOUT_FILTER), "--output", str(typ)]
    _pandoc(args, text, qmd.parent)
    tmp = _atomic_target(out)
    try:
        typst.compile(str(typ), output=str(tmp), root=str(qmd.parent))
        os.replace(tmp, out)
    except Exception as exc:  # typst.TypstError carries a rendered diagnostic
        detail = str(getattr(exc, "diagnostic", "") or exc).strip().splitlines()
        where = next((line.strip(" ┌─") for line in detail if "┌─" in line), "")
        raise RenderError(f"{typ}: typst compile failed: {detail[0] if detail else exc!r} {where}".strip()) from None
    finally:
        tmp.unlink(missing_ok=True)
    return out
