"""``make verify``: rerun, judge every printed number against its noise, exit status, record, appendix."""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.noise import IDENTICAL, MISSING, OUTSIDE, WITHIN
from pipeline.report.traces import printed_numbers
from pipeline.report.values import FILTERS, traced
from pipeline.verify import check_numbers, format_table, verdict_line

ROOT = Path(__file__).resolve().parent.parent
KEY = "variants.maxpool.runs[0]"


def pipeline_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HW2_RESULTS_DIR", None)
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout)


def copy_results(src_root: Path, dst_root: Path, profile: str, names: list[str]) -> Path:
    for name in names:
        shutil.copytree(src_root / profile / name, dst_root / profile / name)
    return dst_root


def edit(root: Path, profile: str, name: str, change) -> None:
    path = root / profile / name / "results.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def rows(stdout: str, verdict: str) -> list[str]:
    """The numbers (last column) of the table rows with ``verdict``."""
    return [line.split()[-1] for line in stdout.splitlines() if line.strip().startswith(verdict)]


def flagged_only_through(stdout: str, verdict: str, key: str) -> bool:
    """True when the rows with ``verdict`` are the value at ``key`` and numbers derived from it.

    The report also prints gaps computed from a value (test accuracy minus the baseline's, say):
    when the value moves, they move with it, and each such row's trace names the key.
    """
    lines = [line for line in stdout.splitlines() if line.strip().startswith(verdict)]
    return any(line.split()[-1] == key for line in lines) and all(key in line for line in lines)


def verdict(stdout: str) -> str:
    (line,) = [line for line in stdout.splitlines() if line.startswith("verdict:")]
    return line


# fast: the judging, on numbers printed by the report's own filters ----------------------------------

def test_check_numbers_flags_only_what_moved_beyond_its_noise():
    file = "results/default/q2_cnn/results.json"
    old = {"q2_cnn": {"data": {"split_sizes": {"val": 3000, "test": 529}}, "meta": {"config": {"n_seeds": 1}},
                      "model": {"parameters": {"maxpool": 224892}},
                      "variants": {"maxpool": {"runs": [{"final_val_acc": 0.901, "test_acc": 0.904, "sd": {}}]}}}}
    new = json.loads(json.dumps(old))
    new["q2_cnn"]["variants"]["maxpool"]["runs"][0].update(final_val_acc=0.896, test_acc=0.70)
    del new["q2_cnn"]["model"]["parameters"]["maxpool"]
    num, intcomma = FILTERS["num"], FILTERS["intcomma"]
    text = " ".join([num(traced(0.901, f"{file}: {KEY}.final_val_acc"), 3),
                     num(traced(0.904, f"{file}: {KEY}.test_acc"), 3),
                     intcomma(traced(224892, f"{file}: model.parameters.maxpool")),
                     num(traced(3000, f"{file}: data.split_sizes.val"), 0)])
    checks = check_numbers(printed_numbers(text), old, new)
    verdicts = {c.label: c.judgement.verdict for c in checks}
    assert verdicts == {f"{KEY}.final_val_acc": WITHIN, f"{KEY}.test_acc": OUTSIDE,
                        "model.parameters.maxpool": MISSING, "data.split_sizes.val": IDENTICAL}
    table = format_table(checks, ["q2_cnn"])
    assert "1 identical numbers not listed" in table and "binomial standard error on 529 test images" in table
    assert verdict_line(checks, ["q2_cnn"]).startswith("verdict: DOES NOT REPRODUCE")


def test_unknown_experiment_and_missing_results_are_one_line_errors(tmp_path):
    proc = pipeline_cli("verify", "--exp", "q7", "--results-dir", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown experiment 'q7'")
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = pipeline_cli("verify", "--profile", "quick", "--exp", "q2", "--results-dir", str(tmp_path))
    assert proc.returncode == 2 and "no committed results for q2_cnn" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "_verify").exists()


# slow: on real quick-profile results --------------------------------------------------------------------

@pytest.fixture
def committed_and_rerun(quick_report, tmp_path):
    """Copies of the quick Q2 results: (committed root, a 'rerun' root to edit)."""
    source = quick_report[3].parent / "results"
    return (copy_results(source, tmp_path / "committed", "quick", ["q2_cnn"]),
            copy_results(source, tmp_path / "rerun", "quick", ["q2_cnn"]))


@pytest.mark.slow
def test_a_number_beyond_its_noise_fails_and_is_the_row_flagged(committed_and_rerun):
    committed, rerun = committed_and_rerun

    def shift(data):  # test accuracy on 529 images: noise about 0.02, so 0.3 is far outside
        run = data["variants"]["maxpool"]["runs"][0]
        run["test_acc"] = min(1.0, run["test_acc"] + 0.3) if run["test_acc"] < 0.6 else run["test_acc"] - 0.3

    edit(rerun, "quick", "q2_cnn", shift)
    proc = pipeline_cli("verify", "--profile", "quick", "--exp", "q2", "--results-dir", str(committed),
                        "--against", str(rerun))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert flagged_only_through(proc.stdout, OUTSIDE, f"{KEY}.test_acc")
    assert verdict(proc.stdout).startswith("verdict: DOES NOT REPRODUCE")
    record = json.loads((committed / "quick" / "verification.json").read_text())
    entry = record["experiments"]["q2_cnn"]
    assert entry["verdict"] == "does not reproduce"
    assert f"{KEY}.test_acc" in [d["number"] for d in entry["disagreements"]]
    assert all(f"{KEY}.test_acc" in d["number"] for d in entry["disagreements"])


@pytest.mark.slow
def test_a_change_within_noise_passes(committed_and_rerun):
    committed, rerun = committed_and_rerun

    def nudge(data):  # validation accuracy on 300 images: noise about 0.03, so 0.01 is within
        run = data["variants"]["maxpool"]["runs"][0]
        run["final_val_acc"] += 0.01 if run["final_val_acc"] < 0.9 else -0.01

    edit(rerun, "quick", "q2_cnn", nudge)
    proc = pipeline_cli("verify", "--profile", "quick", "--exp", "q2", "--results-dir", str(committed),
                        "--against", str(rerun), "--no-record")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert flagged_only_through(proc.stdout, WITHIN, f"{KEY}.final_val_acc") and not rows(proc.stdout, OUTSIDE)
    assert not (committed / "quick" / "verification.json").exists()


@pytest.mark.slow
def test_a_printed_value_missing_from_the_rerun_fails(committed_and_rerun):
    committed, rerun = committed_and_rerun
    edit(rerun, "quick", "q2_cnn", lambda data: data["variants"]["maxpool"]["runs"][0].pop("test_acc"))
    proc = pipeline_cli("verify", "--profile", "quick", "--exp", "q2", "--results-dir", str(committed),
                        "--against", str(rerun), "--no-record")
    assert proc.returncode == 1
    assert flagged_only_through(proc.stdout, MISSING, f"{KEY}.test_acc")


@pytest.mark.slow
def test_verify_reruns_into_a_scratch_folder_and_reproduces_on_this_machine(committed_and_rerun):
    committed, _ = committed_and_rerun
    results = committed / "quick" / "q2_cnn" / "results.json"
    before = results.read_bytes()
    proc = pipeline_cli("verify", "--profile", "quick", "--exp", "q2", "--results-dir", str(committed))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert results.read_bytes() == before  # the committed results are never written over
    assert (committed / "_verify" / "quick" / "q2_cnn" / "results.json").exists()
    assert verdict(proc.stdout).startswith("verdict: reproduces")
    assert not rows(proc.stdout, WITHIN) and not rows(proc.stdout, OUTSIDE)  # same machine: only timings move
    record = json.loads((committed / "quick" / "verification.json").read_text())
    assert record["experiments"]["q2_cnn"]["verdict"] in ("identical", "reproduces where the noise is known")
    assert record["machine"]["cpu"] and record["libraries"]["torch"]


# the appendix ---------------------------------------------------------------------------------------------

def test_verification_finding_says_whether_the_check_is_of_the_results_shown():
    from types import SimpleNamespace

    from pipeline.findings.verification import findings_from_record

    record = {"date": "2026-11-28T10:00:00+00:00", "command": "python -m pipeline verify",
              "machine": {"cpu": "Intel Xeon", "cpu_count": 4}, "libraries": {"torch": "2.1", "x": None},
              "experiments": {"q2_cnn": {"verdict": "does not reproduce",
                                         "counts": {"identical": 50, "within noise": 3, "outside noise": 1},
                                         "committed": {"fingerprint": "abc"},
                                         "disagreements": [{"number": "k", "committed": "0.9", "rerun": "0.5"}]}}}
    view = SimpleNamespace(raw={"fingerprint": {"digest": "abc"}})
    section = SimpleNamespace(name="q2_cnn", title="Q2", r=view)
    other = SimpleNamespace(name="q1_attention", title="Q1", r=view)
    found = findings_from_record(record, [other, section])
    assert found.present and found.date == "2026-11-28 10:00:00 UTC" and found.libraries == ("torch 2.1",)
    (check,) = found.sections
    assert check.fails and check.total == 54 and check.outside == 1 and not check.earlier_results
    assert check.disagreements == ("`k`: 0.9 → 0.5",)
    stale = findings_from_record(record, [SimpleNamespace(name="q2_cnn", title="Q2",
                                                          r=SimpleNamespace(raw={"fingerprint": {"digest": "new"}}))])
    assert stale.sections[0].earlier_results
    assert not findings_from_record({"experiments": {}}, [section]).present


@pytest.mark.slow
def test_the_appendix_shows_the_verification_record(committed_and_rerun):
    from pipeline.report.build import fill_templates
    from pipeline.report.render import Renderer
    from pipeline.verify import read_sections

    committed, rerun = committed_and_rerun
    edit(rerun, "quick", "q2_cnn", lambda d: d["variants"]["maxpool"]["runs"][0].update(test_acc=0.0))
    assert pipeline_cli("verify", "--profile", "quick", "--exp", "q2", "--results-dir", str(committed),
                        "--against", str(rerun)).returncode == 1
    sections = read_sections("quick", committed, ["q2_cnn"])
    text = fill_templates("quick", sections, Renderer("none", "none"), "figures/quick")
    block = text.split("## Reproduction check", 1)[1]
    assert re.search(r"\*\*does not reproduce\*\*: \d+ of its", block) and f"`{KEY}.test_acc`" in block
