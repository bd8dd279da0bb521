"""``make diff``: the numbers and figures that changed since a git revision, judged against their noise."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.diff import flatten, pixels_differ
from tests.test_verify import ROOT, copy_results, edit, pipeline_cli

NAMES = ["q1_attention", "q2_cnn", "q3_asr"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    (path / "README").write_text("test repo\n")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "start")
    return path


def diff_json(results: Path, *extra: str) -> dict:
    proc = pipeline_cli("diff", "--profile", "quick", "--results-dir", str(results), "--json",
                        "--html", str(results.parent / "diff.html"), *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# fast: bad input --------------------------------------------------------------------------------------------

def test_diff_outside_a_git_checkout_is_a_one_line_error(tmp_path):
    proc = pipeline_cli("diff", "--results-dir", str(tmp_path))
    assert proc.returncode == 2 and "not inside a git checkout" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unknown_revision_and_revision_without_results(tmp_path):
    repo = make_repo(tmp_path / "repo")
    (repo / "results" / "quick" / "q1_attention").mkdir(parents=True)
    (repo / "results" / "quick" / "q1_attention" / "results.json").write_text("{}")
    proc = pipeline_cli("diff", "--profile", "quick", "--results-dir", str(repo / "results"), "--rev", "nope")
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown revision 'nope'")
    proc = pipeline_cli("diff", "--profile", "quick", "--results-dir", str(repo / "results"), "--rev", "HEAD")
    assert proc.returncode == 2 and "has no results under results/quick/" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_figures_compare_by_pixels_not_bytes(tmp_path):
    from PIL import Image, PngImagePlugin

    image = Image.new("RGB", (20, 10), "white")
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    image.save(a)
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "another matplotlib")
    image.save(b, pnginfo=info)
    image.putpixel((3, 4), (0, 0, 0))
    image.save(c)
    assert a.read_bytes() != b.read_bytes() and not pixels_differ(a, b)
    assert pixels_differ(a, c)


# slow: on real quick-profile results --------------------------------------------------------------------------

@pytest.fixture
def repo_with_results(quick_report, tmp_path):
    """A git repository whose HEAD holds the quick results (results.json and figures) of all three experiments."""
    repo = make_repo(tmp_path / "repo")
    copy_results(quick_report[3].parent / "results", repo / "results", "quick", NAMES)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "results")
    return repo


def changed_numbers(old: dict, new: dict) -> set[str]:
    """Keys of numbers that differ, found without the code under test's comparison."""
    a, b = dict(flatten(old)), dict(flatten(new))
    out = set()
    for key in a.keys() & b.keys():
        if key.startswith("fingerprint") or key in ("meta.started", "meta.finished"):
            continue
        x, y = (v if isinstance(v, (int, float)) and not isinstance(v, bool) else None for v in (a[key], b[key]))
        if (x is not None or y is not None) and x != y and not (x is not None and y is not None
                                                                 and math.isnan(x) and math.isnan(y)):
            out.add(key)
    return out


@pytest.mark.slow
def test_after_rerunning_q1_diff_lists_exactly_the_numbers_that_changed(repo_with_results):
    results = repo_with_results / "results"
    q1 = results / "quick" / "q1_attention" / "results.json"
    old = json.loads(q1.read_text())
    proc = subprocess.run([sys.executable, "-m", "experiments.q1_attention", "--profile", "quick",
                           "--results-dir", str(results), "--no-progress"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    new = json.loads(q1.read_text())
    expected = changed_numbers(old, new)
    assert expected, "a rerun of Q1 changes at least its timings"
    found = diff_json(results)
    listed = {row["number"] for row in found["experiments"]["q1_attention"]["values"]}
    assert listed == expected
    for row in found["experiments"]["q1_attention"]["values"]:
        assert row["old"] == dict(flatten(old))[row["number"]] and row["new"] == dict(flatten(new))[row["number"]]
    for name in ("q2_cnn", "q3_asr"):
        assert found["experiments"][name] == {"printed": [], "values": [], "other": [], "added": [], "removed": [],
                                              "figures": []}
    printed = found["experiments"]["q1_attention"]["printed"]
    assert all(set(row["keys"]) <= expected for row in printed)  # which printed numbers move depends on the timings
    assert "approximation_error.png" not in found["experiments"]["q1_attention"]["figures"]  # seeded: same pixels


@pytest.mark.slow
def test_a_change_beyond_noise_is_flagged_and_shown_in_the_html(repo_with_results):
    results = repo_with_results / "results"
    edit(results, "quick", "q2_cnn", lambda d: d["variants"]["maxpool"]["runs"][1].update(test_acc=0.0))
    found = diff_json(results)
    (row,) = found["experiments"]["q2_cnn"]["values"]
    assert row["number"] == "variants.maxpool.runs[1].test_acc" and row["verdict"] == "outside noise"
    printed = found["experiments"]["q2_cnn"]["printed"]
    assert row["number"] in [r["number"] for r in printed]  # and any gap the text derives from it
    assert all(r["keys"] == [row["number"]] or row["number"] in r["keys"] for r in printed)
    assert found["experiments"]["q1_attention"]["values"] == []
    page = (results.parent / "diff.html").read_text()
    assert "variants.maxpool.runs[1].test_acc" in page and 'class="outside-noise"' in page
    proc = pipeline_cli("diff", "--profile", "quick", "--results-dir", str(results), "--exit-code",
                        "--html", str(results.parent / "diff.html"))
    assert proc.returncode == 1 and re.search(r"q2_cnn: \d+ printed numbers? changed \([1-9]\d* beyond noise\)", proc.stdout)


@pytest.mark.slow
def test_two_profiles_and_the_changes_since_appendix(repo_with_results, tmp_path):
    results = repo_with_results / "results"
    copy_results(results, results.parent / "copy", "quick", NAMES)
    (results.parent / "copy" / "quick").rename(results / "quick-seeds2")
    proc = pipeline_cli("diff", "--profile", "quick-seeds2", "--old-profile", "quick", "--results-dir", str(results),
                        "--html", str(tmp_path / "p.html"))
    assert proc.returncode == 0 and "q2_cnn: no change" in proc.stdout

    edit(results, "quick", "q2_cnn", lambda d: d["variants"]["maxpool"]["runs"][1].update(test_acc=0.0))
    proc = pipeline_cli("build", "--profile", "quick", "--results-dir", str(results), "--out-dir", str(tmp_path),
                        "--run", "none", "--formats", "html", "--changes-since", "HEAD")
    assert proc.returncode == 0, proc.stderr
    appendix = (tmp_path / "report-quick.qmd").read_text().split("## Changes since HEAD", 1)[1]
    assert "changed by more than their noise" in appendix
    assert "`variants.maxpool.runs[1].test_acc`: " in appendix and "**beyond its noise**" in appendix


def test_changes_finding_counts_each_kind_of_change():
    from pipeline.findings.changes import changes_findings
    from pipeline.noise import Noise, judge
    from pipeline.noise import Judgement as J
    from pipeline.report.traces import Printed, parse_trace
    from pipeline.verify import NumberCheck

    def check(key, judgement):
        return NumberCheck("q2_cnn", Printed("x", parse_trace(f"r/default/q2_cnn/results.json: {key}")), judgement)

    binomial = Noise(0.01, "binomial")
    checks = [check("a", judge(0.5, 0.9, "0.5", "0.9", binomial, binomial)),
              check("b", judge(0.5, 0.51, "0.50", "0.51", binomial, binomial)),
              check("c", judge(5.0, 6.0, "5.0 s", "6.0 s", Noise(None, "t", True), Noise(None, "t", True))),
              check("d", judge(0.5, 0.5, "0.5", "0.5", binomial, binomial)),
              check("e", J("missing", "—", "0.7", None, 0.7))]
    found = changes_findings("HEAD~1", "abc", checks, {"q2_cnn": "Q2"}, ["q2_cnn/all_runs.png"])
    assert (found.count, found.unchanged, found.beyond, found.within, found.unknown) == (4, 1, 1, 1, 1)
    assert [row.number for row in found.rows] == ["a", "b", "c", "e"] and found.rows[3].added
    assert found.rows[0].section == "Q2" and found.one_figure and not found.none_changed
