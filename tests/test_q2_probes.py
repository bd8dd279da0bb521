"""What the Q2 networks see: pixel reach, receptive fields and shifted images, against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hw2.q2 import probes
from hw2.q2.cnn import CNN


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def images(n: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(1, 256, (n, 28, 28), dtype=np.uint8))


def brute_force_reach(model: CNN) -> np.ndarray:
    """Pixels on which some fc1 input depends, by perturbing each pixel alone (an independent reference)."""
    model.eval()
    x = torch.rand(1, 1, 28, 28, dtype=torch.float64)
    model = model.double()
    seen = []
    model.fc1.register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0]))
    with torch.no_grad():
        for layer in (model.conv1, model.conv2):
            layer.weight.fill_(1.0)
            layer.bias.fill_(1.0)  # every unit active: ReLU never hides a dependence
        model(x)
        base = seen[-1].clone()
        out = np.zeros((28, 28), dtype=bool)
        for i in range(28):
            for j in range(28):
                y = x.clone()
                y[0, 0, i, j] += 1e3  # large enough to win every max-pooling window it enters
                model(y)
                out[i, j] = not torch.equal(seen[-1], base)
    return out


@pytest.mark.parametrize("no_maxpool, reached", [(False, 784), (True, 676)])
def test_reach_by_geometry_matches_perturbing_each_pixel(no_maxpool, reached):
    model = CNN(0.7, no_maxpool=no_maxpool)
    geometry = probes.reach_by_geometry(model)
    assert geometry.sum() == reached
    np.testing.assert_array_equal(geometry, brute_force_reach(CNN(0.7, no_maxpool=no_maxpool)))


def test_without_pooling_the_last_two_rows_and_columns_never_reach_the_output():
    torch.manual_seed(0)
    model = CNN(0.7, no_maxpool=True)
    grad = probes.reach_by_gradient(model, images())
    assert (grad[26:, :] == 0).all() and (grad[:, 26:] == 0).all()
    assert (grad[:26, :26] > 0).all()
    pooled = probes.reach_by_gradient(CNN(0.7), images())
    assert (pooled > 0).all()


@pytest.mark.parametrize("no_maxpool, layer, size, jump", [
    (False, "conv2", 8, 2),  # conv1 3 + pool 1x2 + conv2 2x2: 3 + 1 + 4
    (False, "pool2", 10, 4),
    (True, "conv2", 7, 4),  # conv1 3, then conv2 adds 2 steps of conv1's stride 2
])
def test_receptive_fields_from_the_layers_and_from_gradients(no_maxpool, layer, size, jump):
    torch.manual_seed(0)
    model = CNN(0.7, no_maxpool=no_maxpool)
    sizes = probes.layer_sizes(model.windows())
    unit = (sizes[[w.name for w in model.windows()].index(layer) + 1] - 1) // 2
    lo, hi = probes.receptive_field(model, layer, unit)
    assert hi - lo + 1 == size and probes.jump(model, layer) == jump
    assert probes.receptive_field_by_gradient(model, layer, unit, images(128)) == (lo, hi)


def test_shift_images_moves_and_fills_with_zeros():
    x = torch.arange(1, 17, dtype=torch.uint8).view(1, 4, 4)
    down = probes.shift_images(x, 1, 0)
    assert down[0, 0].tolist() == [0, 0, 0, 0] and torch.equal(down[0, 1:], x[0, :3])
    left = probes.shift_images(x, 0, -2)
    assert torch.equal(left[0, :, :2], x[0, :, 2:]) and (left[0, :, 2:] == 0).all()
    assert torch.equal(probes.shift_images(x, 0, 0), x)


def test_shift_accuracies_list_every_direction_and_the_unshifted_score():
    torch.manual_seed(0)
    model = CNN(0.7)
    x, y = images(40), torch.zeros(40, dtype=torch.int64)
    out = probes.shift_accuracies(model, x, y, [1, 2])
    assert [(e["direction"], e["pixels"]) for e in out] == [("none", 0)] + [
        (d, p) for p in (1, 2) for d in ("up", "down", "left", "right")]
    from hw2.q2.plain import evaluate_plain

    assert out[0]["acc"] == evaluate_plain(model, x, y)
    assert out[1]["acc"] == evaluate_plain(model, probes.shift_images(x, -1, 0), y)
