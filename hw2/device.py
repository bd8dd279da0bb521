"""Choosing the torch device: CUDA when present, else the CPU."""

from __future__ import annotations

import torch

from hw2.errors import Hw2Error


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for ``auto`` (CUDA if available), ``cpu`` or ``cuda``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise Hw2Error("--device cuda was asked for, but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise Hw2Error(f"unknown device {name!r}: use auto, cpu or cuda")
    return torch.device(name)
