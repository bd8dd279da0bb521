"""Where results live, and writing/reading them safely.

Layout: ``<results root>/<profile>/<experiment>/results.json`` with ``figures/``
beside it.  The root is ``$HW2_RESULTS_DIR`` when set, else ``results/`` at the
repository root.  An experiment writes into a staging folder and swaps it in
only when it finished, so a failed or interrupted run leaves the previous
results untouched.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

from hw2.files import REPO_ROOT, write_atomic
from pipeline.errors import ResultsError

def results_root() -> Path:
    """Return the folder holding ``<profile>/<experiment>/`` result folders."""
    env = os.environ.get("HW2_RESULTS_DIR")
    return Path(env).resolve() if env else REPO_ROOT / "results"

def experiment_dir(profile: str, experiment: str, root: Path | None = None) -> Path:
    """Return ``<root>/<profile>/<experiment>``."""
    return (root or results_root()) / profile / experiment

def results_file(profile: str, experiment: str, root: Path | None = None) -> Path:
    """Return the path of an experiment's results.json."""
    return experiment_dir(profile, experiment, root) / "results.json"

def _clean(value: Any) -> Any:
    """Make ``value`` JSON-safe: numpy/torch scalars to Python, NaN/inf to strings."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Path):
        return str(value)
    return value

def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    def write(fh: IO) -> None:
        json.dump(_clean(data), fh, indent=2, sort_keys=False, allow_nan=False)
        fh.write("\n")

    write_atomic(path, write, binary=False)

def read_results(path: Path) -> dict[str, Any]:
    """Read a results.json; a missing or malformed file raises a one-line ResultsError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: no results file") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object at the top level")
    return data

def last_wall_time(profile: str, experiment: str, root: Path | None = None) -> tuple[float, str] | None:
    """Return (seconds, whose) for the wall time the experiment's last results recorded, or None.

    Looks under ``profile``, then the default profile, in ``root`` and then in the project's
    results/ (whose default results are committed); ``whose`` says which one was found.
    """
    seen = set()
    for prof, where in ((profile, root), ("default", root), ("default", None)):
        path = experiment_dir(prof, experiment, where) / "results.json"
        if path in seen:
            continue
        seen.add(path)
        try:
            seconds = float(json.loads(path.read_text(encoding="utf-8"))["meta"]["wall_time_s"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return seconds, ("its last run" if prof == profile else f"the last {prof}-profile run")
    return None


def staging_dir(final: Path) -> Path:
    """Create and return an empty staging folder beside ``final`` (same filesystem)."""
    for attempt in range(3):
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            return Path(tempfile.mkdtemp(prefix=f".staging-{final.name}-", dir=final.parent))
        except FileNotFoundError:  # a failed run beside this one removed the empty parent just now
            if attempt == 2:
                raise
    raise AssertionError("unreachable")

def missing_folders(path: Path) -> list[Path]:
    """Return ``path`` and the folders above it that do not exist yet, deepest first."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing

def remove_if_empty(folders: list[Path]) -> None:
    """Remove each of ``folders`` (deepest first) that is empty; stop at the first that holds something."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): leave it and everything above it
            return

def swap_in(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging`` with renames, keeping the old one until the new is in place."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
