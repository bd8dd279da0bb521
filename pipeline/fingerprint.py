"""Fingerprints: what an experiment's results depend on, and whether they still match.

A results file records a digest of every module of ``hw2/`` and ``experiments/``
that its experiment imported (found from ``sys.modules`` after the run, not listed
by hand; the digest is of the syntax tree without docstrings, so an edited comment
changes nothing), the resolved settings, the data it read (a file's sha256, or the
generator's settings), and the versions of the libraries that shape the numbers.
``check`` recomputes each part and says which one changed.

The pipeline (``pipeline/``) is left out on purpose: it runs experiments and
writes the report but computes no number, and the settings that
``pipeline/profiles.py`` holds are compared directly, so editing Q2's settings
does not make Q1 stale.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw2.files import REPO_ROOT, file_sha256

PACKAGES = ("hw2", "experiments")  # the homework and its experiments; the pipeline computes no number
LIBRARIES = ("torch", "torchvision", "numpy", "sympy", "textdistance", "espeakng-loader")


def source_digest(path: Path) -> str:
    """Return the sha256 of a Python module's syntax tree, without its docstrings.

    Comments, docstrings, blank lines and formatting cannot change a number, so
    they do not change the digest; any change to code does.  A file that does not
    parse is hashed by its bytes.
    """
    if path.suffix != ".py":
        return file_sha256(path)  # a companion source (the C kernel): every byte counts
    text = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return file_sha256(path)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def json_sha256(value: Any) -> str:
    """Return the sha256 of a value's canonical JSON."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def imported_sources() -> list[str]:
    """Return the repository-relative paths of project modules currently imported, and the files they
    name in ``FINGERPRINT_FILES``."""
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
        if rel.split("/")[0] in PACKAGES:
            paths.add(rel)
            # non-Python files a module builds or reads as code (hw2/q1/fused.py: its C kernel)
            for extra in getattr(module, "FINGERPRINT_FILES", ()):
                paths.add(Path(extra).resolve().relative_to(REPO_ROOT).as_posix())
    return sorted(paths)


def library_versions() -> dict[str, str | None]:
    """Return the versions of the libraries whose changes can change results."""
    from pipeline.provenance import versions_of

    return versions_of(LIBRARIES)


def compute(config: dict[str, Any], data: dict[str, Any], sources: list[str] | None = None) -> dict[str, Any]:
    """Return the fingerprint of a run: sources, settings, data and library versions."""
    sources = imported_sources() if sources is None else sources
    code = {rel: source_digest(REPO_ROOT / rel) for rel in sources if (REPO_ROOT / rel).is_file()}
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

    state: str  # "fresh", "stale", "missing"
    reasons: list[str] = field(default_factory=list)

    @property
    def needs_run(self) -> bool:
        return self.state in ("stale", "missing")


def settings_changes(recorded: dict[str, Any] | None, config: dict[str, Any], limit: int = 4) -> str:
    """Return the settings whose value differs, as ``key old -> new`` (all, up to ``limit``)."""
    if not isinstance(recorded, dict):
        return ""
    keys = [k for k in sorted(set(config) | set(recorded)) if config.get(k) != recorded.get(k)]
    shown = [f"{k} {json.dumps(recorded.get(k))} -> {json.dumps(config.get(k))}" for k in keys[:limit]]
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(shown) + more


def check(recorded: dict[str, Any] | None, config: dict[str, Any], data: dict[str, Any],
          recorded_config: dict[str, Any] | None = None) -> Freshness:
    """Compare a recorded fingerprint with the current state; list every difference.

    ``recorded_config`` (the settings the results file lists) lets a changed setting be named.
    """
    if not recorded or "code" not in recorded:
        return Freshness("stale", ["results have no fingerprint (made by an older version)"])
    reasons = []
    for rel, digest in sorted(recorded["code"].items()):
        path = REPO_ROOT / rel
        if not path.is_file():
            reasons.append(f"{rel} was removed")
        elif source_digest(path) != digest:
            reasons.append(f"{rel} changed")
    if json_sha256(config) != recorded.get("config"):
        named = settings_changes(recorded_config, config)
        reasons.append(f"settings changed: {named}" if named else "settings changed (pipeline/profiles.py or --set)")
    if data != recorded.get("data"):
        keys = sorted(set(data) | set(recorded.get("data") or {}))
        changed = [k for k in keys if data.get(k) != (recorded.get("data") or {}).get(k)]
        reasons.append(f"data changed ({', '.join(changed) or 'data'})")
    now = library_versions()
    for name, version in (recorded.get("libraries") or {}).items():
        if now.get(name) != version:
            reasons.append(f"{name} {version} -> {now.get(name)}")
    return Freshness("stale" if reasons else "fresh", reasons)
