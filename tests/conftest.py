"""Shared fixtures: a private results root so tests never touch results/, the quick report,
a copy of the working tree for commands that write into it, and the `slow` marker's check."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# OpenMP threads that spin while waiting slow everything down when the cores are shared
# (CI next to other work); passive waiting costs little on an idle machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# a command that runs an experiment (or builds the report, which may run them and renders)
_RUNS_EXPERIMENT = re.compile(r"(?:^| )-m (?:experiments\.\w+|pipeline (?:build|run))(?: |$)")
_ONLY_ASKS = re.compile(r" --(?:help|show-config)(?: |$)")


@pytest.fixture(autouse=True)
def _slow_marker_is_honest(request, monkeypatch):
    """`make test-fast` skips tests marked slow; a test that runs an experiment in a subprocess must be one.

    Outside slow tests, a subprocess that runs an experiment (or ``python -m pipeline build``)
    to a successful end fails the test with a request to mark it.
    """
    if request.node.get_closest_marker("slow"):
        yield
        return
    real_run = subprocess.run

    def guarded_run(args, *pargs, **kwargs):
        proc = real_run(args, *pargs, **kwargs)
        line = " ".join(map(str, args)) if isinstance(args, (list, tuple)) else str(args)
        if proc.returncode == 0 and _RUNS_EXPERIMENT.search(line) and not _ONLY_ASKS.search(line):
            pytest.fail(f"{request.node.nodeid} runs an experiment in a subprocess ({line[:120]}): "
                        "mark it @pytest.mark.slow so that `make test-fast` skips it", pytrace=False)
        return proc

    monkeypatch.setattr(subprocess, "run", guarded_run)
    yield


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    """A fresh results root, exported as $HW2_RESULTS_DIR for child processes."""
    root = tmp_path / "results"
    root.mkdir()
    monkeypatch.setenv("HW2_RESULTS_DIR", str(root))
    return root


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory):
    """Run the quick profile and render its report once: (Q1 results, HTML text, PDF text, folder).

    The results are in ``<folder>/../results``; tests that change them work on a copy
    (``copy_quick_results``).
    """
    from pypdf import PdfReader

    base = tmp_path_factory.mktemp("e2e")
    results, out = base / "results", base / "report"
    cmd = [sys.executable, "-m", "pipeline", "build", "--profile", "quick",
           "--results-dir", str(results), "--out-dir", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((results / "quick" / "q1_attention" / "results.json").read_text())
    html = (out / "report-quick.html").read_text(encoding="utf-8")
    pdf_text = "\n".join(page.extract_text() for page in PdfReader(out / "report-quick.pdf").pages)
    return data, html, pdf_text, out


@pytest.fixture
def quick_results_copy(quick_report, tmp_path):
    """A private copy of the quick report's results tree (a root holding quick/<experiment>/)."""
    _, _, _, out = quick_report
    return Path(shutil.copytree(out.parent / "results", tmp_path / "quick-results"))


def copy_working_tree(dst: Path) -> Path:
    """Copy the working tree (tracked and untracked, not ignored files) to ``dst``, with this .venv and data/.

    Commands run there (``make report``, ``make clean``) cannot touch this checkout.  Run make
    as ``make -o .venv/.installed-stamp ...`` so that it never reinstalls into the shared .venv.
    """
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for rel in files:
        src = ROOT / rel
        if src.is_file() and not src.is_symlink():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    (dst / ".venv").symlink_to(ROOT / ".venv")
    if (ROOT / "data").exists():
        (dst / "data").symlink_to((ROOT / "data").resolve())
    return dst


@pytest.fixture
def tree_copy(tmp_path):
    """A copy of the working tree to run commands in (see ``copy_working_tree``)."""
    return copy_working_tree(tmp_path / "tree")


@pytest.fixture(scope="session")
def working_tree_copier():
    """``copy_working_tree`` for fixtures with a wider scope than one test."""
    return copy_working_tree
