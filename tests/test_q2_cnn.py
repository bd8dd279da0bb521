"""Q2 model and training: the handout's shapes and counts, and the fast path against the skeleton's loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hw2.q2.cnn import CNN, get_number_trainable_params, parameter_breakdown
from hw2.q2.data import TensorSplits, to_float
from hw2.q2.grouped import GroupedCNN, SkeletonRandomStream, agreement_with_plain, train_grouped
from hw2.q2.plain import train_plain
from hw2.q2.sweep import train_sweep

LRS = (0.1, 0.01, 0.001)


@pytest.fixture(autouse=True)
def one_thread():
    """Run the skeleton's loop on one intra-op thread: batch-8 steps crawl when torch's threads share busy cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def random_splits(n_train: int = 50, n_val: int = 30, n_test: int = 20, seed: int = 0) -> TensorSplits:
    """Tiny random data in the loader's format (uint8 images, labels (N, 1))."""
    rng = np.random.default_rng(seed)

    def split(n: int):
        return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 4, (n, 1), dtype=np.uint8)

    return TensorSplits.from_arrays(split(n_train), split(n_val), split(n_test))


# --------------------------------------------------------------------------- the model


@pytest.mark.parametrize("no_maxpool", [False, True])
def test_parameter_count_is_the_handouts(no_maxpool):
    model = CNN(0.7, no_maxpool=no_maxpool)
    assert get_number_trainable_params(model) == 224_892
    # by layer: conv1 8*9+8, conv2 16*8*9+16, fc1 576*320+320, fc2 320*120+120, fc3 120*4+4
    assert parameter_breakdown(model) == {"conv1": 80, "conv2": 1_168, "fc1": 184_640, "fc2": 38_520, "fc3": 484}


def test_frozen_parameters_are_not_counted():
    model = CNN(0.7)
    model.fc1.weight.requires_grad_(False)
    assert get_number_trainable_params(model) == 224_892 - 576 * 320


@pytest.mark.parametrize("no_maxpool", [False, True])
def test_layers_and_output_shapes(no_maxpool):
    model = CNN(0.7, no_maxpool=no_maxpool).eval()
    assert (model.conv1.stride, model.conv1.padding) == (((2, 2), (1, 1)) if no_maxpool else ((1, 1), (1, 1)))
    assert (model.conv2.stride, model.conv2.padding) == (((2, 2), (0, 0)) if no_maxpool else ((1, 1), (0, 0)))
    assert model.drop.p == 0.7
    x = torch.rand(5, 784)
    out = model(x)
    assert out.shape == (5, 4)
    assert torch.equal(out, model(x.view(5, 1, 28, 28)))  # flat or image-shaped input alike
    # both variants reach 16 x 6 x 6 = 576 features before fc1
    seen = []
    model.fc1.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape) and None)
    model(x)
    assert seen == [(5, 576)]


@pytest.mark.parametrize("no_maxpool", [False, True])
def test_outputs_are_log_probabilities(no_maxpool):
    torch.manual_seed(0)
    model = CNN(0.7, no_maxpool=no_maxpool)
    for mode in (model.train, model.eval):
        mode()
        logp = model(torch.rand(7, 1, 28, 28))
        assert (logp <= 0).all()
        torch.testing.assert_close(logp.exp().sum(dim=1), torch.ones(7))


# --------------------------------------------------------------------------- the fast path


# The grouped path sums in another order than the skeleton's loop, so each step's loss differs from the
# loop's by float32 rounding (here at most 2.4e-7, two units in the last place near a loss of 1.4), and SGD
# amplifies the differences over many steps: at lr 0.1 on the default data they pass 1e-3 after a few hundred
# steps and 0.1 after about a thousand (the experiment measures this, `agreement`).  So the paths are compared over a short horizon,
# 21 steps, where the differences stay at rounding level; the tolerance 1e-5 is 40 times the largest seen, and
# far below what a wrong batch, dropout mask or learning rate would change (the losses then differ at 1e-2).
SHORT_HORIZON_TOLERANCE = 1e-5


@pytest.mark.parametrize("no_maxpool", [False, True])
def test_fast_path_matches_the_skeleton_loop_over_a_short_horizon(no_maxpool):
    """Losses within rounding, step by step, over 3 epochs of 7 batches (loader reseeding, dropout, a short
    last batch), and the same validation predictions and test accuracy."""
    data = random_splits()
    plain = [train_plain(data, lr=lr, no_maxpool=no_maxpool, epochs=3, record_steps=True) for lr in LRS]
    fast = train_grouped(data, lrs=LRS, no_maxpool=no_maxpool, epochs=3, record_steps=True)
    for p, f in zip(plain, fast):
        assert len(p.step_losses) == len(f.step_losses) == 3 * math.ceil(50 / 8)
        np.testing.assert_allclose(f.step_losses, p.step_losses, rtol=0, atol=SHORT_HORIZON_TOLERANCE)
        np.testing.assert_allclose(f.train_loss, p.train_loss, rtol=0, atol=SHORT_HORIZON_TOLERANCE)
        np.testing.assert_allclose(f.train_loss_cumulative, p.train_loss_cumulative, rtol=0,
                                   atol=SHORT_HORIZON_TOLERANCE)
        np.testing.assert_allclose(f.train_loss_batch_sd, p.train_loss_batch_sd, rtol=0, atol=1e-4)
        assert f.val_acc == p.val_acc and f.test_acc == p.test_acc
        assert f.val_pred_counts == p.val_pred_counts and all(sum(c) == 30 for c in f.val_pred_counts)
        for key, value in p.model_state.items():  # the trained weights come back too
            torch.testing.assert_close(f.model_state[key], value, atol=1e-4, rtol=0)


def test_agreement_with_plain_reports_each_steps_difference():
    data = random_splits()
    diffs = agreement_with_plain(data, lrs=LRS, lr=0.1, no_maxpool=False, steps=10)
    assert len(diffs) == 10 and max(diffs) < SHORT_HORIZON_TOLERANCE
    plain = train_plain(data, lr=0.1, no_maxpool=False, epochs=2, max_steps=10, record_steps=True, evaluate=False)
    other = train_plain(data, lr=0.05, no_maxpool=False, epochs=2, max_steps=10, record_steps=True, evaluate=False)
    assert max(abs(a - b) for a, b in zip(plain.step_losses, other.step_losses)) > 100 * SHORT_HORIZON_TOLERANCE


def test_grouped_model_takes_its_shapes_from_the_cnn():
    """A CNN with other channel counts and widths still trains grouped: no layer size is restated."""
    import torch.nn as nn

    torch.manual_seed(0)
    model = CNN(0.7, no_maxpool=True)
    model.conv1 = nn.Conv2d(1, 4, kernel_size=3, stride=2, padding=1)
    model.conv2 = nn.Conv2d(4, 6, kernel_size=3, stride=2, padding=0)
    model.fc1, model.fc2 = nn.Linear(6 * 6 * 6, 32), nn.Linear(32, 120)
    group = GroupedCNN(model, n_runs=2)
    x = to_float(random_splits().val_x)
    with torch.no_grad():
        logp = group.forward(x)  # (R, B, 4)
        torch.testing.assert_close(logp[1], model.eval()(x), atol=1e-5, rtol=1e-5)
    assert group.hidden == 32 and group.features == 216


def test_random_stream_replays_the_dataloader_shuffle():
    """The replayed permutation is the one DataLoader(shuffle=True) draws after the model is built."""
    from torch.utils.data import DataLoader

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(42)
        loader = DataLoader(list(range(20)), batch_size=20, shuffle=True)
        CNN(0.7)
        first = next(iter(loader)).tolist()
    stream = SkeletonRandomStream(42, 0.7)
    assert stream.epoch_order(20).tolist() == first


def test_cumulative_loss_is_the_running_mean():
    run = train_plain(random_splits(), lr=0.01, no_maxpool=False, epochs=3, record_steps=True, evaluate=False)
    per_epoch = np.array(run.step_losses).reshape(3, -1)
    np.testing.assert_allclose(run.train_loss, per_epoch.mean(axis=1))
    np.testing.assert_allclose(run.train_loss_cumulative, [per_epoch[: e + 1].mean() for e in range(3)])


def test_grouped_model_exports_the_same_networks():
    torch.manual_seed(0)
    group = GroupedCNN(CNN(0.7), n_runs=3)
    with torch.no_grad():  # make the runs differ
        for p in group.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    x = to_float(random_splits().val_x)
    with torch.no_grad():
        logp = group.forward(x)  # (R, B, 4)
        for r, model in enumerate(group.to_models(0.7)):
            torch.testing.assert_close(logp[r], model.eval()(x), atol=1e-5, rtol=1e-5)


def test_parallel_sweep_equals_sequential():
    data = random_splits(n_train=24)
    a = train_sweep(data, lrs=LRS, variants=(False, True), epochs=2, parallel=True)
    b = train_sweep(data, lrs=LRS, variants=(False, True), epochs=2, parallel=False)
    assert [(r.no_maxpool, r.lr) for r in a] == [(v, lr) for v in (False, True) for lr in LRS]
    for x, y in zip(a, b):
        assert x.train_loss == y.train_loss and x.val_acc == y.val_acc and x.test_acc == y.test_acc


def test_divergence_is_recorded_not_raised():
    """A huge learning rate overflows; the run is marked diverged and the others are untouched."""
    data = random_splits()
    with_bad = train_grouped(data, lrs=(1e30, 0.01), no_maxpool=False, epochs=3)
    alone = train_grouped(data, lrs=(0.01,), no_maxpool=False, epochs=3)
    bad, good = with_bad
    assert bad.diverged and bad.diverged_epoch is not None
    assert bad.test_acc is None
    assert bad.train_loss[bad.diverged_epoch - 1:] == [None] * (4 - bad.diverged_epoch)
    assert bad.val_acc[bad.diverged_epoch - 1:] == [None] * (4 - bad.diverged_epoch)
    assert not good.diverged
    np.testing.assert_allclose(good.train_loss, alone[0].train_loss, rtol=0, atol=1e-6)
    assert good.val_acc == alone[0].val_acc


def test_plain_loop_records_divergence_too():
    run = train_plain(random_splits(), lr=1e30, no_maxpool=True, epochs=2)
    assert run.diverged and run.test_acc is None and run.train_loss[-1] is None


class _Interrupt(Exception):
    pass


def test_sweep_killed_after_an_epoch_resumes_to_the_same_result(tmp_path, monkeypatch):
    """A sweep interrupted after epoch 2 of 3 resumes from its checkpoint and ends exactly as an uninterrupted one."""
    from pipeline.checkpoint import Checkpointer

    data = random_splits(n_train=40)
    whole = train_sweep(data, lrs=LRS, variants=(False, True), epochs=3, parallel=False)

    ck = Checkpointer(tmp_path / "key")
    real_save = Checkpointer.save

    def save_then_die(self, name, state):
        real_save(self, name, state)
        if state["epoch"] == 2:
            raise _Interrupt(name)

    monkeypatch.setattr(Checkpointer, "save", save_then_die)
    with pytest.raises(_Interrupt):
        train_sweep(data, lrs=LRS, variants=(False, True), epochs=3, parallel=False, checkpoints=ck)
    monkeypatch.setattr(Checkpointer, "save", real_save)
    assert sorted(p.name for p in (tmp_path / "key").iterdir()) == ["q2-maxpool-seed42.pt"]
    resumed = train_sweep(data, lrs=LRS, variants=(False, True), epochs=3, parallel=False, checkpoints=ck)
    assert ck.resumed == ["q2-maxpool-seed42"]
    for a, b in zip(whole, resumed):
        assert (a.lr, a.no_maxpool) == (b.lr, b.no_maxpool)
        assert a.train_loss == b.train_loss and a.val_acc == b.val_acc and a.test_acc == b.test_acc
        assert a.train_loss_cumulative == b.train_loss_cumulative
    assert [r.resumed_after_epoch for r in resumed] == [2, 2, 2, 0, 0, 0]


def test_damaged_checkpoint_is_ignored_with_a_message(tmp_path, capsys):
    from pipeline.checkpoint import Checkpointer

    ck = Checkpointer(tmp_path / "key")
    (tmp_path / "key").mkdir()
    ck.path("q2-maxpool-seed42").write_bytes(b"not a checkpoint")
    data = random_splits(n_train=16)
    runs = train_sweep(data, lrs=(0.01,), variants=(False,), epochs=1, parallel=False, checkpoints=ck)
    assert runs[0].resumed_after_epoch == 0 and ck.resumed == []
    err = capsys.readouterr().err
    assert "q2-maxpool-seed42.pt: unreadable checkpoint" in err and len(err.strip().splitlines()) == 1
