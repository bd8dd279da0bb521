"""What a trained Q2 network looks at: which pixels reach its output, how far one unit sees, and shifted inputs.

* Pixel reach: a pixel reaches the classifier when some output unit's value depends
  on it.  ``reach_by_geometry`` follows the layers' windows back from fc1's input;
  ``reach_by_gradient`` checks it on a trained network: the gradient of the logits
  with respect to the input, accumulated over images, is nonzero exactly there.
* Receptive field: the input rows (and, the layers being square, columns) that one
  unit of a layer reads, from the kernels, strides and padding (``receptive_field``),
  and as the pixels where that unit's gradient is nonzero over many images
  (``receptive_field_by_gradient``).
* Shifts: accuracy on test images moved by a few pixels, with zero fill.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from hw2.q2.cnn import CNN, IMAGE_SIZE, Window
from hw2.q2.data import to_float
from hw2.q2.plain import predict

DIRECTIONS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}  # (rows, columns) per pixel

# --------------------------------------------------------------------------- geometry


def layer_sizes(windows: Sequence[Window], size: int = IMAGE_SIZE) -> list[int]:
    """Return the side of the input and of each layer's output: [28, ...]."""
    sizes = [size]
    for window in windows:
        sizes.append(window.output_size(sizes[-1]))
    return sizes


def rows_read(window: Window, rows_used: np.ndarray, n_in: int) -> np.ndarray:
    """Return which of the ``n_in`` input rows a layer reads to compute its output rows ``rows_used`` (bool)."""
    read = np.zeros(n_in, dtype=bool)
    for row in np.flatnonzero(rows_used):
        start = row * window.stride - window.padding
        read[max(start, 0):max(min(start + window.kernel, n_in), 0)] = True
    return read


def reach_by_geometry(model: CNN) -> np.ndarray:
    """Return the pixels (28, 28) on which some feature fc1 reads depends, by following the windows back."""
    windows = model.windows()
    sizes = layer_sizes(windows)
    rows = np.ones(sizes[-1], dtype=bool)  # fc1 reads every position of the last map
    for window, n_in in zip(reversed(windows), reversed(sizes[:-1])):
        rows = rows_read(window, rows, n_in)
    return np.outer(rows, rows)  # the layers are square: columns as rows


def receptive_field(model: CNN, layer: str, unit: int) -> tuple[int, int]:
    """Return the first and last input row read by row ``unit`` of ``layer``'s output (unclipped: padding counts)."""
    windows = model.windows()
    names = [w.name for w in windows]
    lo, hi = unit, unit
    for window in reversed(windows[:names.index(layer) + 1]):
        lo, hi = lo * window.stride - window.padding, hi * window.stride - window.padding + window.kernel - 1
    return lo, hi


def jump(model: CNN, layer: str) -> int:
    """Return the distance in input pixels between neighbouring units of ``layer``'s output."""
    out = 1
    for window in model.windows():
        out *= window.stride
        if window.name == layer:
            return out
    raise ValueError(f"no layer {layer!r}")


# --------------------------------------------------------------------------- gradients


def _gradient_support(model: CNN, images: torch.Tensor, outputs) -> np.ndarray:
    """Return the summed |d output / d pixel| (28, 28) over ``images``, for the scalar outputs ``outputs(x)`` yields."""
    model.eval()
    x = to_float(images).unsqueeze(1).requires_grad_()  # (N, 1, 28, 28)
    total = torch.zeros(IMAGE_SIZE, IMAGE_SIZE, dtype=torch.float64)
    values = outputs(x)
    for i, value in enumerate(values):
        (grad,) = torch.autograd.grad(value, x, retain_graph=i + 1 < len(values))
        total += grad.abs().sum(dim=(0, 1)).double()
    model.train()
    return total.numpy()


def logits_of(model: CNN, x: torch.Tensor) -> torch.Tensor:
    """Return the logits (N, 4) of ``model`` for x, read at fc3 (before the log-softmax)."""
    seen = []
    handle = model.fc3.register_forward_hook(lambda module, inputs, output: seen.append(output))
    try:
        model(x)
    finally:
        handle.remove()
    return seen[0]


def reach_by_gradient(model: CNN, images: torch.Tensor) -> np.ndarray:
    """Return the summed |d logit / d pixel| (28, 28) over ``images`` and the four logits (zero: never reached)."""
    def outputs(x: torch.Tensor) -> list[torch.Tensor]:
        logits = logits_of(model, x)  # (N, 4)
        return [logits[:, c].sum() for c in range(logits.shape[1])]

    return _gradient_support(model, images, outputs)


def _layer_output(model: CNN, layer: str, x: torch.Tensor) -> torch.Tensor:
    """Return ``layer``'s output (N, C, S, S) for x: a convolution before its ReLU, a pooling after it."""
    module = getattr(model, layer, None)
    if module is not None:  # conv1 / conv2
        seen = []
        handle = module.register_forward_hook(lambda m, inputs, output: seen.append(output))
    else:  # pool1 / pool2: the max-pooling follows the ReLU; the next layer's input is its output
        target = model.conv2 if layer == "pool1" else model.fc1
        seen = []
        handle = target.register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0]))
    try:
        model(x)
    finally:
        handle.remove()
    out = seen[0]
    if out.dim() == 2:  # fc1's input is flattened: (N, C*S*S)
        side = model.feature_map_size()
        out = out.view(len(out), -1, side, side)
    return out


def receptive_field_by_gradient(model: CNN, layer: str, unit: int, images: torch.Tensor) -> tuple[int, int] | None:
    """Return the first and last input row where row/column ``unit`` of ``layer`` has a nonzero gradient.

    The unit's channels are summed and the gradients accumulated over ``images``; the rows and
    columns agree for a square window, and the rows are returned.  None: no gradient at all.
    """
    support = _gradient_support(model, images, lambda x: [_layer_output(model, layer, x)[:, :, unit, unit].sum()])
    rows = np.flatnonzero(support.sum(axis=1) > 0)
    return (int(rows[0]), int(rows[-1])) if len(rows) else None


# --------------------------------------------------------------------------- shifts


def shift_images(images: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Return images (N, H, W) moved down by ``rows`` and right by ``cols`` pixels (negative: up/left), zero-filled."""
    out = torch.zeros_like(images)
    h, w = images.shape[-2:]
    src_r, dst_r = slice(max(-rows, 0), h - max(rows, 0)), slice(max(rows, 0), h - max(-rows, 0))
    src_c, dst_c = slice(max(-cols, 0), w - max(cols, 0)), slice(max(cols, 0), w - max(-cols, 0))
    out[..., dst_r, dst_c] = images[..., src_r, src_c]
    return out


def shift_accuracies(model: CNN, images: torch.Tensor, labels: torch.Tensor,
                     pixels: Sequence[int]) -> list[dict[str, Any]]:
    """Return the accuracy on the images unshifted and moved by each of ``pixels`` in each direction.

    Entries: {"direction": "none" | "up" | "down" | "left" | "right", "pixels": p, "acc": accuracy}.
    """
    def accuracy(moved: torch.Tensor) -> float:
        return (predict(model, moved) == labels).sum().item() / len(labels)

    out = [{"direction": "none", "pixels": 0, "acc": accuracy(images)}]
    for p in pixels:
        for direction, (dr, dc) in DIRECTIONS.items():
            out.append({"direction": direction, "pixels": int(p), "acc": accuracy(shift_images(images, dr * p, dc * p))})
    return out
