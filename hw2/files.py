"""Files the library reads and writes: where data lives, hashing, and atomic writes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

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


def shown_path(path: str | Path) -> str:
    """Return ``path`` relative to the repository when it lies inside it, else as an absolute path."""
    path = Path(os.path.abspath(Path(path).expanduser()))  # absolute, links kept (data/ may be one)
    for candidate in (path, path.resolve()):
        try:
            return candidate.relative_to(REPO_ROOT).as_posix()
        except ValueError:
            pass
    return str(path)


@dataclass(frozen=True)
class Place:
    """One place a real data set is looked for: the path, how it was chosen, and whether the data is there."""

    path: Path
    origin: str  # the setting that named it (e.g. "data_path"), "HW2_DATA_DIR", or "default" (a built-in place)
    exists: bool


REQUESTS = ("auto", "real", "standin")


def search_record(dataset: str, requested: str, places: list[Place], used_path: str | Path | None,
                  standin_path: str | Path | None = None) -> dict[str, Any]:
    """Return the ``search`` block of results.json: where ``dataset`` was looked for and what the run used.

    ``requested`` is auto, real or standin; ``places`` are in the order they were looked at;
    ``used_path`` is the real data the run read (None when it read the stand-in at
    ``standin_path``).  ``reason`` says why: "found", "stand-in requested" or "not found".
    """
    if requested not in REQUESTS:
        raise ValueError(f"requested must be one of {REQUESTS}, not {requested!r}")
    found = next((p for p in places if p.exists), None)
    if used_path is not None:
        reason = "found"
    elif requested == "standin":
        reason = "stand-in requested"
    else:
        reason = "not found"
    return {
        "dataset": dataset,
        "requested": requested,
        "candidates": [{"path": shown_path(p.path), "origin": p.origin, "exists": p.exists} for p in places],
        "found": shown_path(found.path) if found else None,
        "used": "real" if used_path is not None else "standin",
        "used_path": shown_path(used_path) if used_path is not None else None,
        "standin_path": shown_path(standin_path) if standin_path is not None else None,
        "reason": reason,
    }
