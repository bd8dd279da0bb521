"""Fingerprints: what an experiment's results depend on, and whether they still match.

A results file records the sha256 of every project source file its experiment
imported (found from ``sys.modules`` after the run, not listed by hand), the
resolved settings, the data it read (a file's sha256, or the generator's
settings), and the versions of the libraries that shape the numbers.
``check`` recomputes each part and says which one changed.

``hw2/profiles.py`` is left out of the source hashes on purpose: it holds every
experiment's settings, and those are compared directly, so editing Q2's
settings does not make Q1 stale.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw2.results import REPO_ROOT

PACKAGES = ("hw2", "experiments")
EXCLUDED = {"hw2/profiles.py"}
LIBRARIES = ("torch", "torchvision", "numpy", "sympy", "textdistance", "espeakng-loader")


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def json_sha256(value: Any) -> str:
    """Return the sha256 of a value's canonical JSON."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def imported_sources() -> list[str]:
    """Return the repository-relative paths of project modules currently imported."""
    paths = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        try:
            rel = Path(file).resolve().relative_to(REPO_ROOT).as_posix()
        except ValueError:
            continue  # installed elsewhere, not this checkout
        # by path, not by name: the experiment itself runs as __main__
        if rel.split("/")[0] in PACKAGES and not rel.startswith("hw2/report/") and rel not in EXCLUDED:
            paths.add(rel)
    return sorted(paths)


def library_versions() -> dict[str, str | None]:
    """Return the versions of the libraries whose changes can change results."""
    from hw2.provenance import versions_of

    return versions_of(LIBRARIES)


def compute(config: dict[str, Any], data: dict[str, Any], sources: list[str] | None = None) -> dict[str, Any]:
    """Return the fingerprint of a run: sources, settings, data and library versions."""
    sources = imported_sources() if sources is None else sources
    code = {rel: file_sha256(REPO_ROOT / rel) for rel in sources if (REPO_ROOT / rel).is_file()}
    parts = {
        "code": code,
        "config": json_sha256(config),
        "data": data,
        "libraries": library_versions(),
    }
    parts["digest"] = json_sha256(parts)
    return parts


@dataclass
class Freshness:
    """Whether an experiment's results match the current code, settings, data and libraries."""

    state: str  # "fresh", "stale", "missing", "not implemented"
    reasons: list[str] = field(default_factory=list)

    @property
    def needs_run(self) -> bool:
        return self.state in ("stale", "missing")


def check(recorded: dict[str, Any] | None, config: dict[str, Any], data: dict[str, Any]) -> Freshness:
    """Compare a recorded fingerprint with the current state; list every difference."""
    if not recorded or "code" not in recorded:
        return Freshness("stale", ["results have no fingerprint (made by an older version)"])
    reasons = []
    for rel, digest in sorted(recorded["code"].items()):
        path = REPO_ROOT / rel
        if not path.is_file():
            reasons.append(f"{rel} was removed")
        elif file_sha256(path) != digest:
            reasons.append(f"{rel} changed")
    if json_sha256(config) != recorded.get("config"):
        reasons.append("settings changed (hw2/profiles.py or --set)")
    if data != recorded.get("data"):
        keys = sorted(set(data) | set(recorded.get("data") or {}))
        changed = [k for k in keys if data.get(k) != (recorded.get("data") or {}).get(k)]
        reasons.append(f"data changed ({', '.join(changed) or 'data'})")
    now = library_versions()
    for name, version in (recorded.get("libraries") or {}).items():
        if now.get(name) != version:
            reasons.append(f"{name} {version} -> {now.get(name)}")
    return Freshness("stale" if reasons else "fresh", reasons)
