"""Shared fixtures: a private results root so tests never touch results/."""

from __future__ import annotations

import pytest


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    """A fresh results root, exported as $HW2_RESULTS_DIR for child processes."""
    root = tmp_path / "results"
    root.mkdir()
    monkeypatch.setenv("HW2_RESULTS_DIR", str(root))
    return root
