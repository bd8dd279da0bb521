"""The report rendered by a real Quarto (HTML and PDF through Typst), when one is installed.

Skipped unless ``quarto`` is on PATH or ``$QUARTO`` names it (for example the offline build,
``QUARTO=/root/.quarto-offline/bin/quarto``).  Checks that every cross-reference resolves
(no ``?@`` left) and gets the number the pandoc fallback gives it, in both outputs.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

from pipeline.report.crossref import REF_RE, number_labels, split_front_matter

pytestmark = pytest.mark.slow  # renders the quick report


def quarto_executable() -> str | None:
    explicit = os.environ.get("QUARTO")
    if explicit:
        return explicit if (shutil.which(explicit) or os.path.isfile(explicit)) else None
    return shutil.which("quarto")


@pytest.fixture(scope="module")
def quarto_report(tmp_path_factory, quick_report):
    quarto = quarto_executable()
    if not quarto:
        pytest.skip("Quarto is not installed (put it on PATH or set QUARTO=/path/to/quarto)")
    from pypdf import PdfReader

    from pipeline.report.build import build

    _, _, _, quick_out = quick_report
    out = tmp_path_factory.mktemp("quarto")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUARTO", quarto)
        build("quick", run="none", results=quick_out.parent / "results", out_dir=out, renderer="quarto")
    html = (out / "report-quick.html").read_text(encoding="utf-8")
    pdf = " ".join(page.extract_text() for page in PdfReader(out / "report-quick.pdf").pages)
    qmd = (out / "report-quick.qmd").read_text(encoding="utf-8")
    return html, re.sub(r"\s+", " ", pdf.replace("\xa0", " ")), qmd, out


def expected_reference_texts(qmd: str) -> dict[str, str]:
    """Label -> "Figure 3" for every @label in the text, numbered as the pandoc fallback numbers them."""
    _, body = split_front_matter(qmd)
    numbering = number_labels(body)
    return {label: numbering.text(label) for label in set(REF_RE.findall(body))}


def visible_text(html: str) -> str:
    return re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)


def test_html_references_resolve_with_the_fallbacks_numbers(quarto_report):
    html, _, qmd, _ = quarto_report
    expected = expected_reference_texts(qmd)
    assert any(label.startswith("fig-") for label in expected) and any(l.startswith("eq-") for l in expected)
    assert "?@" not in visible_text(html)
    links = {label: text.replace("\xa0", " ")
             for label, text in re.findall(r'<a href="#([a-z]+-[\w-]+)" class="quarto-xref">([^<]+)</a>', html)}
    for label, text in expected.items():
        if label.startswith("sec-"):
            continue  # Quarto prints "Section 2.3"; checked in the PDF below
        assert links.get(label) == text, (label, links.get(label), text)


def test_pdf_references_resolve_with_the_fallbacks_numbers(quarto_report):
    _, pdf, qmd, _ = quarto_report
    assert "?@" not in pdf
    for label, text in expected_reference_texts(qmd).items():
        assert text in pdf, f"@{label}: {text} is not in the PDF"
    figures = sorted({int(n) for n in re.findall(r"Figure (\d+):", pdf)})
    assert figures == list(range(1, len(figures) + 1)) and len(figures) >= 5


def test_pdf_math_compiled_with_current_typst_symbol_names(quarto_report):
    """Quarto's .typ (kept: keep-typ in report/_quarto.yml) has none of the removed names either."""
    from test_typst_symbols import renamed_table

    _, pdf, _, out = quarto_report
    assert "⊗" in pdf  # \otimes in Q1 (pandoc writes times.circle, which Typst 0.15 removed)
    typ = (out / "report-quick.typ").read_text(encoding="utf-8")  # Quarto's template code holds $ too: scan it all
    dotted = {name for name in renamed_table() if "." in name}  # undotted ones (join, sect) are also English words
    assert "times.o" in typ and not set(re.findall(r"[A-Za-z][A-Za-z.]*[A-Za-z]", typ)) & dotted
