"""The same quick-profile experiment run twice on the CPU writes identical metrics."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # runs each quick experiment twice

# wall-clock measurements and bookkeeping that legitimately differ between two runs
VOLATILE = {"meta", "fingerprint", "timing", "timings", "peak_rss_mb", "images_per_s", "epoch_time_s",
            "train_time_s", "val_time_s", "fit_time_s", "generate_s", "generated_now",
            "compute", "memory"}  # the checklist line on compute quotes wall times; memory peaks vary


def metrics(value):
    """Drop wall times (keys ending in _s) and bookkeeping; keep every computed number."""
    if isinstance(value, dict):
        return {k: metrics(v) for k, v in value.items() if k not in VOLATILE and not k.endswith("_s")}
    if isinstance(value, list):
        return [metrics(v) for v in value]
    return value


@pytest.mark.parametrize("experiment", ["q2_cnn", "q3_asr"])
def test_quick_run_twice_gives_identical_metrics(experiment, tmp_path):
    outputs = []
    for attempt in ("a", "b"):
        root = tmp_path / attempt
        proc = subprocess.run([sys.executable, "-m", f"experiments.{experiment}", "--profile", "quick",
                               "--device", "cpu", "--no-progress", "--results-dir", str(root)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-1500:]
        outputs.append(metrics(json.loads((root / "quick" / experiment / "results.json").read_text())))
    assert outputs[0] == outputs[1]
    assert outputs[0]  # something was compared


def test_q1_checks_are_deterministic(tmp_path):
    outputs = []
    for attempt in ("a", "b"):
        root = tmp_path / attempt
        subprocess.run([sys.executable, "-m", "experiments.q1_attention", "--profile", "quick", "--no-progress",
                        "--results-dir", str(root)], check=True, capture_output=True)
        data = json.loads((root / "quick" / "q1_attention" / "results.json").read_text())
        outputs.append({k: data[k] for k in ("dimensions", "checks", "error", "symbolic")})
    assert outputs[0] == outputs[1]
