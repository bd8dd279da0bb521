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


class ThreadShare:
    """Follows the share of the CPU cores that ``JOBS=N`` gives this process, as it changes.

    The parallel runner writes the current share (cores divided by the experiments
    still running) into the file named by ``$HW2_THREADS_FILE``; a training loop calls
    ``update()`` between steps, which rereads the file at most every ``interval_s``
    seconds and sets torch's intra-op thread count to it.  So the experiment left
    running when the others finish takes over their cores instead of idling on its
    first share.  Without the variable (a plain run) ``update()`` does nothing.
    ``torch.set_num_threads`` only affects the calling thread's parallel regions, so
    it must be called from the thread that trains.
    """

    def __init__(self, interval_s: float = 2.0):
        import os

        self.path = os.environ.get("HW2_THREADS_FILE") or None
        self.interval_s = interval_s
        self.next_check = 0.0

    def update(self) -> None:
        if self.path is None:
            return
        import time

        now = time.monotonic()
        if now < self.next_check:
            return
        self.next_check = now + self.interval_s
        try:
            with open(self.path, encoding="utf-8") as fh:
                share = int(fh.read().strip() or 0)
        except (OSError, ValueError):
            return
        if share >= 1 and share != torch.get_num_threads():
            torch.set_num_threads(share)
