"""Repeated runs over seeds: profile names, mean and standard deviation, and the report's ± cells."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest

from hw2.q2.history import RunResult
from hw2.q2.sweep import combine_seeds
from hw2.errors import Hw2Error
from pipeline.profiles import get_config, profile_name, split_profile
from hw2.stats import combine_metrics, mean_curve, mean_sd, seed_list


def test_profile_names_with_seeds():
    assert split_profile("default") == ("default", None)
    assert split_profile("quick-seeds3") == ("quick", 3)
    assert profile_name("default", 1) == "default"
    assert profile_name("default", 3) == "default-seeds3"
    for bad in ("nope", "nope-seeds3", "default-seeds0", "default-seeds", "default-seedsx"):
        with pytest.raises(Hw2Error, match="unknown profile"):
            split_profile(bad)


def test_seeds_reach_only_the_experiments_that_train():
    assert get_config("q2_cnn", "default-seeds3").n_seeds == 3
    assert get_config("q3_asr", "quick-seeds2").n_seeds == 2
    assert get_config("q2_cnn", "default").n_seeds == 1
    assert get_config("q1_attention", "default-seeds3") == get_config("q1_attention", "default")
    assert seed_list(42, get_config("q2_cnn", "default-seeds3").n_seeds) == [42, 43, 44]


def test_mean_and_sample_standard_deviation():
    mean, sd = mean_sd([1.0, 2.0, None, 4.0])
    assert mean == pytest.approx(7 / 3)
    assert sd == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2))
    assert mean_sd([5.0]) == (5.0, None)
    assert mean_sd([None, None]) == (None, None)
    assert mean_curve([[1.0, None], [3.0, 2.0]]) == [2.0, 2.0]
    means, sds = combine_metrics([{"a": 1.0, "b": 0.0}, {"a": 3.0, "b": 0.0}])
    assert means == {"a": 2.0, "b": 0.0} and sds["a"] == pytest.approx(math.sqrt(2)) and sds["b"] == 0.0


def _run(lr, seed_shift, diverged=False):
    if diverged:
        return RunResult(lr=lr, no_maxpool=False, train_loss=[1.0, None], train_loss_cumulative=[1.0, None],
                         val_acc=[0.5, None], diverged=True, diverged_epoch=2)
    return RunResult(lr=lr, no_maxpool=False, train_loss=[1.0 + seed_shift, 0.5 + seed_shift],
                     train_loss_cumulative=[1.0, 0.75], val_acc=[0.5, 0.6 + seed_shift], test_acc=0.7 + seed_shift)


def test_combining_seeds_averages_finished_runs_and_counts_diverged_ones():
    sweeps = [[_run(0.1, 0.0), _run(0.01, 0.0)], [_run(0.1, 0.1), _run(0.01, 0.0, diverged=True)],
              [_run(0.1, 0.2, diverged=True), _run(0.01, 0.0, diverged=True)]]
    a, b = combine_seeds(sweeps, [42, 43, 44])
    assert a.seeds == [42, 43, 44] and a.n_diverged_seeds == 1 and not a.diverged
    assert a.val_acc[-1] == pytest.approx(0.65) and a.test_acc == pytest.approx(0.75)
    assert a.sd["test_acc"] == pytest.approx(math.sqrt(0.005))
    assert b.n_diverged_seeds == 2 and not b.diverged and b.sd["test_acc"] is None  # one finished seed: no sd
    all_diverged = combine_seeds([[_run(0.1, 0, True)], [_run(0.1, 0, True)]], [1, 2])[0]
    assert all_diverged.diverged and all_diverged.diverged_epoch == 2 and all_diverged.test_acc is None


@pytest.mark.slow  # builds the quick-seeds2 report: runs every experiment twice
def test_seeds_profile_reports_mean_and_sd(tmp_path):
    """quick-seeds2: Q2 and Q3 train twice, and the report's tables print mean ± sd from results.json."""
    results, out = tmp_path / "results", tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--profile", "quick-seeds2",
                           "--results-dir", str(results), "--out-dir", str(out), "--formats", "html"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    q2 = json.loads((results / "quick-seeds2" / "q2_cnn" / "results.json").read_text())
    q3 = json.loads((results / "quick-seeds2" / "q3_asr" / "results.json").read_text())
    assert q2["training"]["seeds"] == [42, 43] and q3["training"]["seeds"] == [42, 43]
    assert all(run["seeds"] == [42, 43] for run in q2["variants"]["maxpool"]["runs"])
    assert len(q3["decoders"]["lstm"]["test_per_seed"]) == 2
    qmd = (out / "report-quick-seeds2.qmd").read_text(encoding="utf-8")
    plain = re.sub(r"\[([^\]]*)\]\{\.num[^}]*\}", r"\1", qmd)  # drop the hover-title spans
    run = q2["variants"]["maxpool"]["runs"][-1]
    if not run["diverged"]:
        assert f"{run['test_acc']:.3f} ± {run['sd']['test_acc']:.3f}" in plain
    lstm = q3["decoders"]["lstm"]
    row = f"{lstm['test']['jaccard']:.3f} | {lstm['test']['cosine']:.3f}"
    sd_row = f"±{lstm['test_sd']['jaccard']:.3f} | ±{lstm['test_sd']['cosine']:.3f}"
    assert row in plain and sd_row in plain and plain.index(sd_row) > plain.index(row)
    assert "mean ± sample standard deviation over seeds 42 and 43" in plain
    assert (out / "report-quick-seeds2.html").is_file()
    assert not (results / "quick").exists()  # the single-seed profile's results are left alone
