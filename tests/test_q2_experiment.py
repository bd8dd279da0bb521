"""Q2 experiment: choosing the learning rate on validation data, and small end-to-end runs."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from experiments import q2_cnn
from pipeline.runner import main
from hw2.q2.history import RunResult


def fake_run(lr: float, no_maxpool: bool, val: float | None, test: float | None, diverged: bool = False) -> RunResult:
    run = RunResult(lr=lr, no_maxpool=no_maxpool, diverged=diverged, diverged_epoch=2 if diverged else None)
    run.train_loss = [1.0, None] if diverged else [1.0, 0.5]
    run.train_loss_cumulative = [1.0, None] if diverged else [1.0, 0.75]
    run.val_acc = [0.5, None] if diverged else [0.5, val]
    run.test_acc = test
    return run


def test_learning_rate_is_chosen_on_validation_not_test():
    runs = [fake_run(0.1, False, 0.80, 0.90), fake_run(0.01, False, 0.85, 0.60), fake_run(0.001, False, None, None, True),
            fake_run(0.1, True, 0.70, 0.70), fake_run(0.01, True, 0.75, 0.65), fake_run(0.001, True, 0.90, 0.50)]
    summary = q2_cnn.summarise(runs, [0.1, 0.01, 0.001])
    pooled, plain = summary["variants"]["maxpool"], summary["variants"]["no_maxpool"]
    assert pooled["best_lr"] == 0.01 and pooled["best"]["test_acc"] == 0.60
    assert pooled["runs"][2]["diverged"] and pooled["runs"][2]["final_val_acc"] is None
    assert plain["best_lr"] == 0.001
    # Q2.2 trains the no-pooling network with the pooled network's choice, not its own
    assert summary["q2_2"]["lr"] == 0.01 and summary["q2_2"]["run"]["final_val_acc"] == 0.75


def test_all_diverged_gives_no_choice():
    runs = [fake_run(lr, flag, None, None, True) for flag in (False, True) for lr in (0.1, 0.01)]
    summary = q2_cnn.summarise(runs, [0.1, 0.01])
    assert summary["variants"]["maxpool"]["best_lr"] is None and summary["q2_2"]["run"] is None


TINY = ["--set", "standin_train=96", "--set", "standin_val=40", "--set", "epochs=1", "--set", "logreg_max_iter=5",
        "--set", "samples_per_class=4"]


def test_quick_run_on_the_standin(tmp_path, monkeypatch):
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path / "data"))
    status = main("q2_cnn", q2_cnn.__doc__, q2_cnn.run,
                  ["--profile", "quick", "--results-dir", str(tmp_path / "res"), "--no-progress", *TINY])
    assert status == 0
    out = tmp_path / "res" / "quick" / "q2_cnn"
    r = json.loads((out / "results.json").read_text())
    assert r["data"]["source"] == "stand-in" and r["data"]["split_sizes"]["train"] == 96
    assert r["model"]["parameters"] == {"maxpool": 224_892, "no_maxpool": 224_892}
    assert len(r["variants"]["maxpool"]["runs"]) == 3 and r["q2_2"]["lr"] == r["variants"]["maxpool"]["best_lr"]
    for name in ("samples.png", "best_maxpool.png", "q2_2_no_maxpool.png", "all_runs.png", "pixel_reach.png",
                 "shift_accuracy.png", "agreement.png"):
        assert (out / "figures" / name).stat().st_size > 1000
    # the measurements behind Q2.3: shifted test images, pixel reach, and the fast path against the loop
    pooled = r["variants"]["maxpool"]["best"]
    assert len(pooled["shift_acc"]) == 1 + 4 * len(r["training"]["shift_pixels"])
    assert pooled["shift_acc"][0]["acc"] == pooled["test_acc"]
    assert r["probes"]["maxpool"]["reached_by_geometry"] == 784 and r["probes"]["no_maxpool"]["reached_by_geometry"] == 676
    assert r["probes"]["no_maxpool"]["gradient_outside_geometry"] == 0
    assert r["probes"]["no_maxpool"]["unreached_rows"] == [26, 27] and "gradient_map" not in r["probes"]["maxpool"]
    assert r["agreement"]["steps"] == len(r["agreement"]["abs_loss_difference"]) > 0
    assert all(len(c) == 4 and sum(c) == 40 for c in pooled["val_pred_counts"])
    assert 0 <= r["baseline"]["val_acc"] <= 1
    assert r["fingerprint"]["data"] == q2_cnn.data_fingerprint(q2_cnn.Settings(**r["meta"]["config"]))


def test_real_data_path_reads_a_file_in_octmnist_layout(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 64), ("val", 24), ("test", 600)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 4, (n, 1), dtype=np.uint8)
    path = tmp_path / "octmnist.npz"
    np.savez_compressed(path, **arrays)
    status = main("q2_cnn", q2_cnn.__doc__, q2_cnn.run,
                  ["--profile", "quick", "--results-dir", str(tmp_path / "res"), "--no-progress", *TINY,
                   "--set", "data=real", "--set", f"data_path={json.dumps(str(path))}"])
    assert status == 0
    r = json.loads((tmp_path / "res" / "quick" / "q2_cnn" / "results.json").read_text())
    assert r["data"]["source"] == "real" and r["data"]["test_set"] == "course529"
    search = r["data"]["search"]  # where it was looked for, as the report's data sentence reads it
    assert search["requested"] == "real" and search["used"] == "real" and search["reason"] == "found"
    assert search["candidates"][0] == {"path": str(path), "origin": "data_path", "exists": True}
    assert search["used_path"] == search["found"] == str(path)
    assert r["data"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert r["data"]["split_sizes"] == {"train": 64, "val": 24, "test": int(np.minimum(
        np.bincount(arrays["test_labels"][:, 0], minlength=4), [182, 55, 42, 250]).sum())}


def test_missing_real_data_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(q2_cnn, "find_octmnist", lambda explicit=None: None)
    status = main("q2_cnn", q2_cnn.__doc__, q2_cnn.run,
                  ["--profile", "quick", "--results-dir", str(tmp_path / "res"), "--set", "data=real"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "OCTMNIST not found" in err
    assert not (tmp_path / "res" / "quick" / "q2_cnn").exists()
