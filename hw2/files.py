"""Files the library reads and writes: where data lives, hashing, and atomic writes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO, Callable

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir(default: bool = False) -> Path:
    """Return ``$HW2_DATA_DIR`` when set (and ``default`` is False), else ``data/`` at the repository root."""
    env = os.environ.get("HW2_DATA_DIR")
    return Path(env).expanduser() if env and not default else REPO_ROOT / "data"


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, write: Callable[[IO], None], binary: bool = True) -> None:
    """Create ``path`` by calling ``write(file)`` on a temporary file beside it, then renaming it.

    Readers see the old file or the complete new one, never a partial one; on any
    error (or an interrupt) the temporary file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
