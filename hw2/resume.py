"""What a training loop needs to save its state after each epoch and resume it later.

The library only states the interface; the pipeline supplies a store that writes
files (``pipeline.checkpoint.Checkpointer``).  Training functions take ``None``
when nothing is to be saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class CheckpointStore(Protocol):
    """Named training states: ``save`` after an epoch, ``load`` (or None) when starting."""

    @property
    def enabled(self) -> bool: ...

    def path(self, name: str) -> Path: ...

    def save(self, name: str, state: dict[str, Any]) -> None: ...

    def load(self, name: str) -> dict[str, Any] | None: ...
