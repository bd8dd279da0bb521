"""report/typst-symbols.lua: Typst math that compiles with Typst 0.15 and prints numbers right.

pandoc names math symbols the way Typst 0.13 did (``\\otimes`` -> ``times.circle``);
Typst 0.14 renamed some names and 0.15 removed them, so the PDF stopped compiling.
Both render paths run the same Lua filter (Quarto through report/_quarto.yml, the
fallback through ``--lua-filter``).
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from pipeline.report.render import REPORT_ASSETS, TYPST_FILTER

typst = pytest.importorskip("typst")
pypandoc = pytest.importorskip("pypandoc")

# Every character pandoc may print by a Typst name: Latin, Greek, punctuation, the symbol
# and arrow blocks, mathematical operators, misc. technical, supplemental arrows and
# operators, CJK symbols and small forms.
RANGES = [(0x21, 0x7F), (0xA0, 0x250), (0x370, 0x400), (0x2000, 0x2C00), (0x3000, 0x3040), (0xFE00, 0xFE70)]
CHARS = [chr(c) for lo, hi in RANGES for c in range(lo, hi) if chr(c) not in "$\\`"]
# names only older pandoc versions (bundled with other Quarto releases) write
OLDER_PANDOC = {"angle.l": "⟨", "angle.r": "⟩", "plus.circle": "⊕", "plus.circle.big": "⨁"}


def pandoc_typst(markdown: str, with_filter: bool = True) -> str:
    args = ["--from", "markdown", "--to", "typst", "--wrap=none"]
    if with_filter:
        args += ["--lua-filter", str(TYPST_FILTER)]
    proc = subprocess.run([pypandoc.get_pandoc_path(), *args], input=markdown, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def compile_typst(tmp_path, source: str) -> tuple[bytes, list[str]]:
    """Compile Typst source; return the PDF and the warnings (raises on an error)."""
    path = tmp_path / "doc.typ"
    path.write_text(source, encoding="utf-8")
    pdf, warnings = typst.compile_with_warnings(str(path), format="pdf")
    return pdf, [str(w) for w in warnings]


def renamed_table() -> dict[str, str]:
    """The filter's RENAMED table, read from the Lua source."""
    text = TYPST_FILTER.read_text(encoding="utf-8")
    body = text[text.index("local RENAMED = {"):]
    body = body[: body.index("\n}\n")]
    return dict(re.findall(r'\["([\w.]+)"\]\s*=\s*"([^"]+)"', body))


def names_pandoc_writes() -> dict[str, str]:
    """Map each Typst symbol name pandoc writes for one of CHARS to that character."""
    out = pandoc_typst("\n\n".join(f"$x {c} y$" for c in CHARS), with_filter=False)
    names = {}
    for char, para in zip(CHARS, out.strip().split("\n\n")):
        match = re.fullmatch(r"\$x ([A-Za-z][A-Za-z.]*[A-Za-z]) y\$", para.strip())
        if match:
            names[match.group(1)] = char
    assert len(names) > 500, "pandoc's output was not split as expected"
    return names


def test_every_symbol_pandoc_writes_compiles_without_warnings(tmp_path):
    """All ~3,900 characters through pandoc and the filter: Typst 0.15 compiles them with no warning."""
    source = pandoc_typst("\n\n".join(f"$x {c} y$" for c in CHARS))
    _, warnings = compile_typst(tmp_path, source)
    assert warnings == []


def test_without_the_filter_typst_fails(tmp_path):
    """The check above has teeth: pandoc's own names for ⊗ and ∩ no longer compile."""
    with pytest.raises(Exception, match="unknown"):
        compile_typst(tmp_path, pandoc_typst("$a \\otimes b$ and $A \\cap B$", with_filter=False))


def test_table_covers_every_removed_or_deprecated_name(tmp_path):
    """Each name pandoc writes either compiles cleanly or is in the filter's table."""
    table = renamed_table()
    kept = [name for name in names_pandoc_writes() if name not in table]
    try:
        _, warnings = compile_typst(tmp_path, "".join(f"$x {name} y$\n\n" for name in kept))
    except Exception as exc:  # name the culprit: Typst stops at the first error
        line = int(re.search(r"doc.typ:(\d+)", str(getattr(exc, "diagnostic", "")) or str(exc)).group(1))
        raise AssertionError(f"{kept[(line - 1) // 2]} no longer compiles: {exc}") from None
    assert warnings == []


def test_each_new_name_is_the_same_character(tmp_path):
    """A renamed symbol prints the character pandoc meant, not a look-alike."""
    meant = {**names_pandoc_writes(), **OLDER_PANDOC}
    table = renamed_table()
    assert {"times.circle", "plus.circle", "minus.circle", "dot.circle", "div.circle", "sect",
            "angle.l", "angle.r"} <= set(table)
    checks = []
    for old, new in table.items():
        assert old in meant, f"{old}: not a name pandoc writes (typo in the table?)"
        if re.fullmatch(r"[A-Za-z][A-Za-z.]*", new):
            checks.append(f'#assert.eq(str(sym.{new}), "{meant[old]}", message: "{old} -> {new}")')
        else:
            assert new == meant[old], (old, new)
    compile_typst(tmp_path, "\n".join(checks) + "\n")


def test_names_inside_text_in_math_are_left_alone():
    out = pandoc_typst("$\\text{sect} \\cap \\otimes$")
    assert '"sect"' in out and "inter" in out and "times.o" in out and "times.circle" not in out


def pdf_text(pdf: bytes) -> str:
    import io

    from pypdf import PdfReader

    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_thousands_separators_stay_inside_numbers(tmp_path):
    """'L = 4,096' in math prints as 4,096 (not '4, 096'); a list's comma keeps its space."""
    source = pandoc_typst("Length $L = 4,096$, count $n = 1,234,567.5$, pair $f(1, 234)$.")
    pdf, warnings = compile_typst(tmp_path, source)
    text = pdf_text(pdf)
    assert warnings == []
    assert "4,096" in text and "1,234,567.5" in text, text
    assert "1, 234" in text, text


def test_html_math_is_untouched():
    """The filter changes Typst output only; MathML is what pandoc writes without it."""
    source = "$L = 4,096$ and $a \\otimes b \\cap c$"
    plain = pypandoc.convert_text(source, "html5", format="markdown", extra_args=["--mathml"])
    filtered = pypandoc.convert_text(source, "html5", format="markdown",
                                     extra_args=["--mathml", "--lua-filter", str(TYPST_FILTER)])
    assert plain == filtered


def test_quarto_project_runs_the_same_filter_after_its_own():
    """report/_quarto.yml lists the filter after Quarto's (equations are numbered first)."""
    config = yaml.safe_load((REPORT_ASSETS / "_quarto.yml").read_text(encoding="utf-8"))
    assert config["filters"] == ["quarto", TYPST_FILTER.name]
