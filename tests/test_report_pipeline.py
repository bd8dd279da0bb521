"""The template -> qmd -> HTML/PDF pipeline, its errors, and the experiment runner's safety."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.errors import RenderError, ResultsError
from pipeline.report.crossref import resolve
from pipeline.report.values import ResultsView, fmt_fixed, fmt_int, fmt_pct, fmt_sci, fmt_sig
from pipeline.results import read_results, write_json_atomic

QMD = """---
title: t
---
# One {#sec-one}
## Two {#sec-two}
@fig-b comes after @fig-a; see @tbl-x, @eq-y and @sec-two.

![First.](a.png){#fig-a}

![Second, with a caption
over two lines.](b.png){#fig-b width=50%}

| a |
|---|
| 1 |

: The table. {#tbl-x}

$$
x = 1
$$ {#eq-y}
"""


@pytest.mark.parametrize("target", ["html", "typst"])
def test_crossrefs_numbered_like_quarto(target):
    text, numbering = resolve(QMD, target)
    assert numbering.numbers == {"sec-one": "1", "sec-two": "1.1", "fig-a": "1", "fig-b": "2",
                                 "tbl-x": "1", "eq-y": "1"}
    assert "[Figure 2](#fig-b) comes after [Figure 1](#fig-a)" in text
    assert "[Section 1.1](#sec-two)" in text
    assert "![Figure 2: Second, with a caption" in text
    assert ": Table 1: The table." in text
    assert "(1)" in text


def test_unknown_reference_is_an_error():
    with pytest.raises(RenderError, match="@fig-nope"):
        resolve("See @fig-nope.\n", "html")


def test_results_view_names_file_key_and_command(tmp_path):
    view = ResultsView({"a": {"b": [1, 2]}}, tmp_path / "results.json", "make q1")
    assert view.a.b[1] == 2
    with pytest.raises(ResultsError) as err:
        view.a.c  # noqa: B018
    message = str(err.value)
    assert "results.json" in message and "'a.c'" in message and "make q1" in message
    assert "\n" not in message


def test_number_filters():
    assert fmt_fixed(0.83178, 4) == "0.8318"
    assert fmt_fixed(None) == "—" and fmt_fixed("nan") == "NaN"
    assert fmt_int(224892) == "224,892"
    assert fmt_pct(0.8318) == "83.2%"
    assert fmt_sig(0.000123456, 2) == "0.00012"
    assert fmt_sci(3.5e-15) == "3.5 \\times 10^{-15}"


def test_malformed_results_file_is_one_line_error(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    with pytest.raises(ResultsError) as err:
        read_results(bad)
    assert str(bad) in str(err.value) and "not valid JSON" in str(err.value)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"x": 1})

    class Boom:
        def tolist(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_json_atomic(path, {"x": Boom()})
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def run(*args, **kw):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, **kw)


@pytest.mark.parametrize("module", ["experiments.q1_attention", "pipeline"])
def test_help(module):
    proc = run("-m", module, "--help")
    assert proc.returncode == 0 and "usage" in proc.stdout


@pytest.mark.slow
def test_failed_run_keeps_previous_results(results_root):
    ok = run("-m", "experiments.q1_attention", "--profile", "quick", "--no-progress")
    assert ok.returncode == 0, ok.stderr
    path = results_root / "quick" / "q1_attention" / "results.json"
    before = path.read_bytes()
    # an invalid setting makes the run fail before anything is written
    bad = run("-m", "experiments.q1_attention", "--profile", "quick", "--set", "timing_K=0")
    assert bad.returncode != 0
    assert path.read_bytes() == before
    assert not any(p.name.startswith(".staging") for p in path.parent.parent.iterdir())


def test_failed_run_leaves_no_empty_folders(results_root):
    # bug caught: a failed first run of a profile left an empty results/<profile>/ (and results root) behind
    (results_root / "default" / "q1_attention").mkdir(parents=True)
    bad = run("-m", "experiments.q1_attention", "--profile", "quick", "--set", "timing_K=0")
    assert bad.returncode != 0
    assert sorted(p.name for p in results_root.iterdir()) == ["default"]  # made by someone else: kept
    fresh = results_root / "new" / "root"
    bad = run("-m", "experiments.q1_attention", "--profile", "quick", "--set", "timing_K=0",
              "--results-dir", str(fresh))
    assert bad.returncode != 0 and not (results_root / "new").exists()


def test_unknown_setting_is_one_line_error(results_root):
    proc = run("-m", "experiments.q1_attention", "--profile", "quick", "--set", "nope=1")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and len(proc.stderr.strip().splitlines()) == 1


def test_build_without_results_names_the_command(results_root, tmp_path):
    proc = run("-m", "pipeline", "build", "--profile", "quick", "--run", "none", "--out-dir", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "make q1 PROFILE=quick" in proc.stderr and "Traceback" not in proc.stderr


def test_traced_numbers_get_hover_titles_outside_math(tmp_path):
    from pipeline.report.values import FILTERS, strip_spans_in_math

    view = ResultsView({"runs": [{"acc": 0.8318}, {"acc": 0.75}]}, tmp_path / "results.json", "make q2")
    text = FILTERS["num"](view.runs[-1].acc, 2)
    assert text == '[0.75]{.num title="' + "/".join((tmp_path / "results.json").parts[-4:]) + ': runs[1].acc"}'
    assert FILTERS["num"](0.5, 1) == "0.5"  # a number not read from results has no title
    qmd = f"Accuracy {text}, or $a = {text}$ and `{text}`."
    assert strip_spans_in_math(qmd) == f"Accuracy {text}, or $a = 0.75$ and `0.75`."
