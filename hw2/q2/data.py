"""The Q2 splits as tensors, scaled as the course loader scales them."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

PIXEL_SCALE = 256.0  # the course loader divides the uint8 pixels by 256
EVAL_CHUNK = 1024  # images per forward pass when evaluating (bounds memory)


@dataclass
class TensorSplits:
    """The three splits as tensors: uint8 images (N, 28, 28) and int64 labels (N,)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @classmethod
    def from_arrays(cls, train: tuple, val: tuple, test: tuple) -> "TensorSplits":
        """Build from (images, labels) numpy pairs; labels of shape (N,) or (N, 1)."""
        def pair(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            return (torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)),
                    torch.from_numpy(np.asarray(labels).reshape(-1).astype(np.int64)))
        return cls(*pair(*train), *pair(*val), *pair(*test))

    def to(self, device: torch.device | str) -> "TensorSplits":
        """Return the splits moved to ``device``."""
        return TensorSplits(*(getattr(self, f.name).to(device) for f in fields(self)))


def to_float(images: torch.Tensor) -> torch.Tensor:
    """Scale uint8 images (B, 28, 28) to float32 in [0, 1) as the course loader does."""
    return images.float() / PIXEL_SCALE
