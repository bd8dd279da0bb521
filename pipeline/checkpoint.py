"""Per-epoch checkpoints, so that a long run killed part-way resumes where it stopped.

An experiment gets a ``Checkpointer`` for a folder named after everything its
results depend on (code, settings, data): a checkpoint is only ever resumed by a
run that would compute the same thing.  Files are written atomically (temporary
file, then rename) and read with ``torch.load(weights_only=True)``, which unpickles
nothing but tensors and plain containers.  After a successful run the experiment's
checkpoints are removed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from hw2.files import write_atomic


class Checkpointer:
    """Saves and loads named training states in ``directory`` (None: checkpointing off)."""

    def __init__(self, directory: Path | None, resume: bool = True):
        self.directory = directory
        self.resume = resume
        self.resumed: list[str] = []  # names whose state was loaded, for the record

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def path(self, name: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{name}.pt"

    def save(self, name: str, state: dict[str, Any]) -> None:
        """Write ``state`` (tensors, numbers, strings, lists, dicts) as ``name``, atomically."""
        if self.directory is not None:
            write_atomic(self.path(name), lambda fh: torch.save(state, fh))

    def load(self, name: str) -> dict[str, Any] | None:
        """Return the saved state ``name``, or None when there is none (or resuming is off).

        A file that cannot be read is reported in one line and ignored: training starts over.
        """
        if self.directory is None or not self.resume:
            return None
        path = self.path(name)
        if not path.is_file():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a damaged checkpoint must not stop the run
            print(f"{path}: unreadable checkpoint ({type(exc).__name__}), starting this run over",
                  file=sys.stderr)
            return None
        self.resumed.append(name)
        return state

    def clear(self) -> None:
        """Remove this experiment's checkpoints (all keys: they are useless once results exist)."""
        if self.directory is not None:
            shutil.rmtree(self.directory.parent, ignore_errors=True)
            try:
                self.directory.parent.parent.rmdir()  # .checkpoints/, when no other experiment has any
            except OSError:
                pass


NO_CHECKPOINTS = Checkpointer(None)
