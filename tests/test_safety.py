"""Static and behavioural safety checks: no pickles from data, no network, clear renderer errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for d in ("hw2", "experiments", "pipeline", "benchmarks") for p in (ROOT / d).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_pickle_loading(path):
    text = path.read_text(encoding="utf-8")
    assert "allow_pickle=True" not in text
    assert not re.search(r"\bpickle\.loads?\(", text)
    for call in re.findall(r"torch\.load\(([^)]*)\)", text):
        assert "weights_only=True" in call, f"{path}: torch.load without weights_only=True"


NETWORK = re.compile(r"^\s*(import|from)\s+(urllib\.request|requests|http\.client|httpx|socket)\b", re.M)


DOWNLOADER = ROOT / "hw2" / "download.py"  # `make data`: the one module allowed to open connections


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_network_outside_make_data(path):
    text = path.read_text(encoding="utf-8")
    if path == DOWNLOADER:
        assert NETWORK.search(text), "the downloader no longer imports a network module: update this rule"
        return
    if path.name == "preview.py":  # `make preview` serves and polls 127.0.0.1 only
        assert set(re.findall(r"http://[^/:\"]+", text)) == {"http://127.0.0.1"}, path
        return
    assert not NETWORK.search(text), f"{path} imports a network module"


def test_missing_renderer_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("QUARTO", str(tmp_path / "no-such-quarto"))
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--profile", "quick", "--run", "none",
                           "--out-dir", str(tmp_path)], capture_output=True, text=True,
                          env={**__import__("os").environ, "HW2_RESULTS_DIR": str(tmp_path / "r")})
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: QUARTO=") and "no-such-quarto" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_asking_for_quarto_without_it(monkeypatch):
    from pipeline.errors import RenderError
    from pipeline.report import render

    monkeypatch.delenv("QUARTO", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RenderError, match="quarto: not found"):
        render.choose_renderer("quarto")
