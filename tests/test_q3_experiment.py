"""Q3's experiment: the decoders side by side in forked processes, resumed after an interruption."""

from __future__ import annotations

import json

import pytest
import torch

from test_determinism import metrics  # noqa: E402 - pytest puts tests/ on the path


class _Interrupt(Exception):
    pass


def _run(results_dir, *extra):
    from experiments.q3_asr import run
    from pipeline.runner import main

    return main("q3_asr", "Q3", run, ["--profile", "quick", "--device", "cpu", "--no-progress",
                                      "--results-dir", str(results_dir), *extra])


def test_side_by_side_training_killed_after_an_epoch_resumes_to_the_same_results(tmp_path, monkeypatch):
    """Both forked decoder processes die after saving epoch 1; the rerun resumes both and matches a clean run."""
    from pipeline.checkpoint import Checkpointer

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # a core per decoder, whatever this machine has
    assert _run(tmp_path / "clean", "--no-resume") == 0
    clean = json.loads((tmp_path / "clean" / "quick" / "q3_asr" / "results.json").read_text())
    assert clean["training"]["side_by_side"] and clean["training"]["processes"] == 2

    real_save = Checkpointer.save

    def save_then_die(self, name, state):
        real_save(self, name, state)
        raise _Interrupt(name)  # in the forked child: the process reports the error and ends

    monkeypatch.setattr(Checkpointer, "save", save_then_die)
    with pytest.raises(RuntimeError, match="_Interrupt"):
        _run(tmp_path / "cut")
    assert not (tmp_path / "cut" / "quick" / "q3_asr" / "results.json").exists()
    monkeypatch.setattr(Checkpointer, "save", real_save)
    assert _run(tmp_path / "cut") == 0
    resumed = json.loads((tmp_path / "cut" / "quick" / "q3_asr" / "results.json").read_text())
    assert resumed["meta"]["resumed_from_checkpoints"] == ["q3-attention-seed42", "q3-lstm-seed42"]
    assert metrics(resumed) == metrics(clean)
