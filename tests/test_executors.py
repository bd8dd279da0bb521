"""Parallel and cluster execution write the same results tree as a plain run."""

from __future__ import annotations

import json

import pytest

from hw2.errors import Hw2Error
from hw2.report.executors import run_many


def test_submitit_local_executor_runs_the_same_code_path(results_root):
    pytest.importorskip("submitit")
    run_many(["q1_attention"], "quick", results_root, executor="submitit-local")
    data = json.loads((results_root / "quick" / "q1_attention" / "results.json").read_text())
    assert data["meta"]["profile"] == "quick" and data["dimensions"]


def test_parallel_local_processes(results_root):
    run_many(["q1_attention", "q1_attention"], "quick", results_root, jobs=2)
    data = json.loads((results_root / "quick" / "q1_attention" / "results.json").read_text())
    assert data["meta"]["hardware"]["torch_threads"] >= 1


def test_unknown_executor():
    with pytest.raises(Hw2Error, match="EXECUTOR"):
        run_many(["q1_attention"], "quick", None, executor="lsf")
