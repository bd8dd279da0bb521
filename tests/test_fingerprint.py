"""Fingerprints decide which experiments rerun."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline import fingerprint
from pipeline.profiles import as_dict, get_config


def test_check_names_what_changed(tmp_path):
    config = {"a": 1}
    recorded = fingerprint.compute(config, {"source": "gen", "seed": 1}, sources=["hw2/q1/attention.py"])
    assert fingerprint.check(recorded, config, {"source": "gen", "seed": 1}).state == "fresh"

    tampered = json.loads(json.dumps(recorded))
    tampered["code"]["hw2/q1/attention.py"] = "0" * 64
    state = fingerprint.check(tampered, config, {"source": "gen", "seed": 1})
    assert state.state == "stale" and state.reasons == ["hw2/q1/attention.py changed"]

    state = fingerprint.check(recorded, {"a": 2}, {"source": "gen", "seed": 1})
    assert state.needs_run and "settings changed" in state.reasons[0]

    state = fingerprint.check(recorded, config, {"source": "gen", "seed": 2})
    assert state.needs_run and "data changed (seed)" in state.reasons[0]

    tampered = json.loads(json.dumps(recorded))
    tampered["libraries"]["torch"] = "0.0.1"
    state = fingerprint.check(tampered, config, {"source": "gen", "seed": 1})
    assert state.needs_run and state.reasons[0].startswith("torch 0.0.1 ->")

    assert fingerprint.check(None, config, {}).needs_run


def test_profiles_file_is_not_a_source():
    # settings are compared directly, so editing another experiment's settings stays harmless
    import pipeline.profiles  # noqa: F401

    assert "pipeline/profiles.py" not in fingerprint.imported_sources()


def status(profile="quick"):
    proc = subprocess.run([sys.executable, "-m", "pipeline", "status", "--profile", profile],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_status_on_quick_profile(results_root):
    assert "q1_attention   missing" in status()
    run = subprocess.run([sys.executable, "-m", "experiments.q1_attention", "--profile", "quick", "--no-progress"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = status()
    assert "q1_attention   fresh" in out

    path = results_root / "quick" / "q1_attention" / "results.json"
    data = json.loads(path.read_text())
    recorded = data["fingerprint"]
    assert "hw2/q1/attention.py" in recorded["code"] and "experiments/q1_attention.py" in recorded["code"]
    assert recorded["config"] == fingerprint.json_sha256(as_dict(get_config("q1_attention", "quick")))

    data["fingerprint"]["code"]["hw2/q1/attention.py"] = "f" * 64
    path.write_text(json.dumps(data))
    out = status()
    assert "q1_attention   stale" in out and "hw2/q1/attention.py changed" in out


@pytest.mark.parametrize("run_mode,expect_run", [("stale", True), ("missing", False)])
def test_build_reruns_stale_only_when_asked(results_root, tmp_path, run_mode, expect_run):
    subprocess.run([sys.executable, "-m", "experiments.q1_attention", "--profile", "quick", "--no-progress"],
                   check=True, capture_output=True)
    path = results_root / "quick" / "q1_attention" / "results.json"
    data = json.loads(path.read_text())
    data["fingerprint"]["config"] = "0" * 64
    path.write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--profile", "quick", "--run", run_mode,
                           "--formats", "html", "--out-dir", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert ("running q1_attention" in proc.stdout) == expect_run
