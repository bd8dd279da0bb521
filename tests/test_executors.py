"""Parallel and cluster execution write the same results tree as a plain run."""

from __future__ import annotations

import concurrent.futures
import json
import os

import pytest

from hw2.errors import Hw2Error
from pipeline.executors import run_many


@pytest.mark.slow
def test_submitit_local_executor_runs_the_same_code_path(results_root):
    pytest.importorskip("submitit")
    run_many(["q1_attention"], "quick", results_root, executor="submitit-local")
    data = json.loads((results_root / "quick" / "q1_attention" / "results.json").read_text())
    assert data["meta"]["profile"] == "quick" and data["dimensions"]


@pytest.mark.slow
def test_parallel_local_processes(results_root):
    """JOBS=2: Q2 and Q3 in two processes sharing the cores, then Q1 (it times itself) alone on all of them."""
    run_many(["q1_attention", "q2_cnn", "q3_asr"], "quick", results_root, jobs=2)
    meta = {name: json.loads((results_root / "quick" / name / "results.json").read_text())["meta"]
            for name in ("q1_attention", "q2_cnn", "q3_asr")}
    cores = os.cpu_count() or 1
    assert meta["q2_cnn"]["hardware"]["torch_threads"] == max(1, cores // 2)
    assert meta["q3_asr"]["hardware"]["torch_threads"] == max(1, cores // 2)
    assert meta["q1_attention"]["started"] >= max(meta["q2_cnn"]["finished"], meta["q3_asr"]["finished"])


def test_longest_first_and_timing_experiments_alone(results_root, monkeypatch):
    from pipeline import executors

    for name, wall in (("q2_cnn", 100.0), ("q3_asr", 300.0)):
        (results_root / "default" / name).mkdir(parents=True)
        (results_root / "default" / name / "results.json").write_text(json.dumps({"meta": {"wall_time_s": wall}}))
    calls = []
    monkeypatch.setattr(executors, "run_one", lambda name, profile, root, threads=None, quiet=False,
                        threads_file=None, overrides=None: calls.append((name, threads)) or name)

    class InOrder:  # runs each submitted job at once, so that the calls list the submission order
        def __init__(self, max_workers):
            self.max_workers = max_workers

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, fn, *args):
            future = concurrent.futures.Future()
            future.set_result(fn(*args))
            return future

    monkeypatch.setattr(executors, "ThreadPoolExecutor", InOrder)
    run_many(["q1_attention", "q2_cnn", "q3_asr"], "quick", results_root, jobs=2)
    threads = max(1, (os.cpu_count() or 1) // 2)
    assert calls == [("q3_asr", threads), ("q2_cnn", threads), ("q1_attention", None)]  # quick falls back on default
    calls.clear()
    run_many(["q1_attention", "q2_cnn", "q3_asr"], "quick", results_root, jobs=1)
    assert calls == [("q1_attention", None), ("q2_cnn", None), ("q3_asr", None)]  # one at a time: report order


def test_unknown_executor():
    with pytest.raises(Hw2Error, match="EXECUTOR"):
        run_many(["q1_attention"], "quick", None, executor="lsf")


def test_thread_share_follows_the_experiments_still_running(tmp_path, monkeypatch):
    """The runner's share file says cores // running; a training loop's ThreadShare applies it."""
    import torch

    from pipeline.device import ThreadShare
    from pipeline.executors import ThreadShareFile

    share = ThreadShareFile(tmp_path / "threads", cores=4)
    with share.running():
        with share.running():
            assert share.path.read_text().strip() == "2"
        assert share.path.read_text().strip() == "4"
    assert share.path.read_text().strip() == "4"

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        (tmp_path / "threads").write_text("2\n")
        monkeypatch.setenv("HW2_THREADS_FILE", str(tmp_path / "threads"))
        follower = ThreadShare(interval_s=0.0)
        follower.update()
        assert torch.get_num_threads() == 2
        (tmp_path / "threads").write_text("garbage")
        follower.update()  # unreadable: left as it is
        assert torch.get_num_threads() == 2
        monkeypatch.delenv("HW2_THREADS_FILE")
        ThreadShare().update()  # a plain run: nothing happens
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
