"""End to end: run the quick profile, render HTML and PDF, find the Q1 numbers in both."""

from __future__ import annotations

import json
import re
import shutil
from html import unescape as html_unescape

import pytest

from pipeline.report.values import fmt_int

pytestmark = pytest.mark.slow  # runs the quick experiments and renders the report


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


SPAN = re.compile(r'<span class="num" title="([^"]+)">([^<]+)</span>')
PLAIN = re.compile(r"^−?[\d,]+(?:\.\d+)?%?$")


def lookup(data, key):
    """Follow a trace key such as ``timing.series[1].exact_s[3]`` into a results dict."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        data = data[int(part[1:-1])] if part.startswith("[") else data[part]
    return data


TOKEN = re.compile(r"(?P<file>[\w./-]+?\.json): |(?P<num>(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.\[]))"
                   r"|(?P<key>[A-Za-z_][\w]*(?:\.\w+|\[\d+\])*)|(?P<op>[−+×/()])|(?P<space>\s+)")


def evaluate_trace(trace, results_root):
    """Evaluate a hover trace: ``file: key``, or arithmetic of traced values (``file: a − b``)."""
    if not re.search(r" [−+×/] |−\(|abs\(", trace):  # one value; keys may hold '-' and '+' (voice names)
        file, key = trace.split(": ", 1)
        profile_exp = "/".join(file.split("/")[-3:-1])
        return lookup(json.loads((results_root / profile_exp / "results.json").read_text()), key)
    expr, data = [], None
    for m in TOKEN.finditer(trace):
        if m["file"]:
            profile_exp = "/".join(m["file"].split("/")[-3:-1])
            data = json.loads((results_root / profile_exp / "results.json").read_text())
        elif m["num"]:
            expr.append(m["num"])
        elif m["key"]:
            expr.append("abs" if m["key"] == "abs" else repr(float(lookup(data, m["key"]))))
        elif m["op"]:
            expr.append({"−": "-", "×": "*"}.get(m["op"], m["op"]))
    return eval("".join(expr), {"abs": abs})  # noqa: S307 - test-only, numbers and operators


def test_every_traced_number_matches_results_and_appears_in_pdf(quick_report):
    """Each number the HTML traces to results.json equals that value (to its printed precision) and is in the PDF."""
    data, html, pdf_text, out = quick_report
    results_root = out.parent / "results"
    flat = re.sub(r"\s+", " ", pdf_text)
    checked = 0
    for trace, text in SPAN.findall(html):
        text = text.strip()
        if not PLAIN.match(text):
            continue  # durations and sizes carry units; their values are checked elsewhere
        value = evaluate_trace(html_unescape(trace), results_root)
        shown = float(text.replace(",", "").replace("−", "-").rstrip("%"))
        if text.endswith("%"):
            shown /= 100
        decimals = len(text.rstrip("%").split(".")[1]) if "." in text else 0
        scale = 100 if text.endswith("%") else 1
        assert abs(shown - float(value)) <= 0.5 * 10 ** -decimals / scale + 1e-12, (trace, text, value)
        assert text in flat, f"{text} ({trace}) is in the HTML but not in the PDF"
        checked += 1
    assert checked >= 20


def test_typst_markup_uses_no_removed_or_deprecated_symbol_names(quick_report, tmp_path):
    """The .typ the project writes compiles with Typst 0.15 without a warning, and its math has none of
    the names Typst 0.14/0.15 renamed or removed (report/typst-symbols.lua)."""
    import typst

    from test_typst_symbols import renamed_table

    from pipeline.report.render import render_pdf_typst

    _, _, _, out = quick_report
    work = shutil.copytree(out, tmp_path / "report")  # the pandoc path's .typ, whichever path made the report
    render_pdf_typst(work / "report-quick.qmd", work / "report-quick.pdf")
    typ = (work / "report-quick.typ").read_text(encoding="utf-8")
    math = " ".join(re.sub(r'"(?:[^"\\]|\\.)*"', "", m) for m in re.findall(r"\$[^$]*\$", typ))
    names = set(re.findall(r"[A-Za-z][A-Za-z.]*[A-Za-z]", math))
    assert "times.o" in names or "inter" in names  # the Q1 section's math went through the filter
    assert not names & set(renamed_table()), names & set(renamed_table())
    assert not re.search(r"\d \\, \d{3}", math)  # a number like 4,096 is not split into a list
    _, warnings = typst.compile_with_warnings(str(work / "report-quick.typ"), root=str(work))
    assert [str(w) for w in warnings] == []
