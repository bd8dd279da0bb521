"""Shared fixtures: a private results root so tests never touch results/."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# OpenMP threads that spin while waiting slow everything down when the cores are shared
# (CI next to other work); passive waiting costs little on an idle machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    """A fresh results root, exported as $HW2_RESULTS_DIR for child processes."""
    root = tmp_path / "results"
    root.mkdir()
    monkeypatch.setenv("HW2_RESULTS_DIR", str(root))
    return root


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory):
    """Run the quick profile and render its report once: (Q1 results, HTML text, PDF text, folder)."""
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
