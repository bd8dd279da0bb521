"""The Question 2 convolutional network, exactly as the handout defines it.

Two variants switched by one flag (the handout's Q2.1 and Q2.2):

* with max-pooling (``no_maxpool=False``)::

    (B, 1, 28, 28) -conv1 3x3 p1-> (B, 8, 28, 28) -pool-> (B, 8, 14, 14)
                   -conv2 3x3 p0-> (B, 16, 12, 12) -pool-> (B, 16, 6, 6)

* without pooling (``no_maxpool=True``), the convolutions stride 2 instead::

    (B, 1, 28, 28) -conv1 3x3 p1 s2-> (B, 8, 14, 14) -conv2 3x3 p0 s2-> (B, 16, 6, 6)

Both then flatten to 576 features: Linear 576->320, ReLU, Dropout, Linear 320->120,
ReLU, Linear 120->4, LogSoftmax.  Every layer has the same shape in both variants,
so both have 224,892 trainable parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

N_CLASSES = 4
IMAGE_SIZE = 28
POOL = 2  # max-pooling window and stride


@dataclass(frozen=True)
class Window:
    """A layer that slides over the image: its name, square kernel, stride and zero padding."""

    name: str
    kernel: int
    stride: int
    padding: int

    def output_size(self, size: int) -> int:
        """Return the side of this layer's output for an input of side ``size``."""
        return (size + 2 * self.padding - self.kernel) // self.stride + 1


class CNN(nn.Module):
    """The handout's CNN; ``no_maxpool`` swaps pooling for stride-2 convolutions."""

    def __init__(self, dropout_prob: float, no_maxpool: bool = False):
        super().__init__()
        self.no_maxpool = no_maxpool
        stride = 2 if no_maxpool else 1
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, stride=stride, padding=0)
        self.fc1 = nn.Linear(16 * 6 * 6, 320)
        self.drop = nn.Dropout(p=dropout_prob)
        self.fc2 = nn.Linear(320, 120)
        self.fc3 = nn.Linear(120, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return log-probabilities (B, 4) for images given as (B, 784) or (B, 1, 28, 28)."""
        x = x.reshape(x.shape[0], 1, IMAGE_SIZE, IMAGE_SIZE)  # (B, 1, 28, 28)
        x = F.relu(self.conv1(x))  # (B, 8, 28, 28), or (B, 8, 14, 14) without pooling
        if not self.no_maxpool:
            x = F.max_pool2d(x, kernel_size=POOL, stride=POOL)  # (B, 8, 14, 14)
        x = F.relu(self.conv2(x))  # (B, 16, 12, 12), or (B, 16, 6, 6) without pooling
        if not self.no_maxpool:
            x = F.max_pool2d(x, kernel_size=POOL, stride=POOL)  # (B, 16, 6, 6)
        x = x.flatten(1)  # (B, 576)
        x = F.relu(self.fc1(x))  # (B, 320)
        x = self.drop(x)
        x = F.relu(self.fc2(x))  # (B, 120)
        x = self.fc3(x)  # (B, 4)
        return F.log_softmax(x, dim=1)

    def windows(self) -> list[Window]:
        """Return the layers that slide over the image, input to fc1, as ``Window``s."""
        out = []
        for name in ("conv1", "conv2"):
            conv = getattr(self, name)
            out.append(Window(name, conv.kernel_size[0], conv.stride[0], conv.padding[0]))
            if not self.no_maxpool:
                out.append(Window(f"pool{name[-1]}", POOL, POOL, 0))
        return out

    def feature_map_size(self) -> int:
        """Return the side of the last feature map, the one fc1 reads (6 in both variants)."""
        size = IMAGE_SIZE
        for window in self.windows():
            size = window.output_size(size)
        return size


def get_number_trainable_params(model: nn.Module) -> int:
    """Return the number of trainable (requires_grad) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    """Return the trainable parameter count of each layer (weights + bias), by layer name."""
    counts: dict[str, int] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            layer = name.rsplit(".", 1)[0]
            counts[layer] = counts.get(layer, 0) + p.numel()
    return counts


def count_macs(model: nn.Module) -> int:
    """Return the multiply-adds of one forward pass of one 28x28 image through the conv and linear layers."""
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):  # every output value is a dot product over in_channels x kernel
            k = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * k
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE))
    finally:
        for h in handles:
            h.remove()
    return total
