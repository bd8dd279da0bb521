"""End to end: run the quick profile, render HTML and PDF, find the Q1 numbers in both."""

from __future__ import annotations

import re

from hw2.report.values import fmt_int


def q1_numbers(data):
    """Numbers the Q1 section prints from results.json, formatted as the template does."""
    dims = [fmt_int(row["symmetric"]) for row in data["dimensions"]] + \
           [fmt_int(row["tensor"]) for row in data["dimensions"]]
    timing = data["timing"]["series"]
    crossovers = [fmt_int(s["predicted_crossover"]) for s in timing]
    crossovers += [fmt_int(s["measured_crossover"]) for s in timing if s["measured_crossover"]]
    return dims + crossovers


def test_outputs_exist(quick_report):
    _, _, _, out = quick_report
    for name in ("report-quick.qmd", "report-quick.html", "report-quick.pdf"):
        assert (out / name).stat().st_size > 1000


def test_html_is_self_contained_with_q1_numbers(quick_report):
    data, html, _, _ = quick_report
    for number in q1_numbers(data):
        assert number in html, number
    assert "<math" in html  # MathML, no CDN
    assert not re.search(r"<script[^>]+src=\"http", html)
    assert html.count("data:image/png;base64") >= len(data["meta"]["figures"])
    assert "@fig-" not in html and "@tbl-" not in html and "@eq-" not in html
    assert 'id="fig-q1-timings"' in html and 'href="#fig-q1-timings"' in html
    # numbers printed from results carry a hover title naming file and key
    assert re.search(r'<span class="num" title="[^"]*q1_attention/results.json: dimensions\[\d+\]\.symmetric"', html)


def test_pdf_shows_q1_numbers_and_numbered_figures(quick_report):
    data, _, pdf_text, _ = quick_report
    flat = re.sub(r"\s+", " ", pdf_text)
    for number in q1_numbers(data):
        assert number in flat, number
    assert "Figure 1:" in flat and "Figure 2:" in flat and "Table 1:" in flat
    assert "{.num" not in flat and "results.json:" not in flat  # the PDF stays clean


def test_qmd_keeps_quarto_crossrefs(quick_report):
    _, _, _, out = quick_report
    qmd = (out / "report-quick.qmd").read_text()
    assert "{#fig-q1-timings" in qmd and "@fig-q1-timings" in qmd and "{#tbl-q1-dims}" in qmd
    assert qmd.startswith("---\ntitle:")
