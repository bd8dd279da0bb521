"""The Makefile's targets and variables, as `make -n` prints them, against the README's table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAKE = ["make", "-s", "-o", ".venv/.installed-stamp"]


def dry_run(*args: str) -> str:
    proc = subprocess.run([*MAKE, "-n", *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def help_targets() -> set[str]:
    out = subprocess.run([*MAKE, "help"], cwd=ROOT, capture_output=True, text=True).stdout
    return set(re.findall(r"^  ([a-z0-9-]+)\s", out, flags=re.M))


def readme_targets() -> set[str]:
    """The targets the README's table names in its first column (`make q1` (`q2`, `q3`) counts three)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| target | what it does |"):]
    table = table[: table.index("\n\n")]
    targets = set()
    for cell in re.findall(r"^\| ([^|]+) \|", table, flags=re.M):
        targets |= set(re.findall(r"`make ([a-z0-9-]+)`", cell)) | set(re.findall(r"`(q\d)`", cell))
    return targets


def test_every_target_is_in_the_readme_table_and_in_make_help():
    assert help_targets() == readme_targets()
    assert {"status", "venv", "test-fast", "help", "q1", "q2", "q3"} <= help_targets()


def test_make_test_passes_args_and_test_fast_skips_slow_tests():
    assert dry_run("test", "ARGS=-k status -x").split() == [".venv/bin/python", "-m", "pytest", "-q", "-k",
                                                            "status", "-x"]
    assert '-m "not slow" -k q2' in dry_run("test-fast", "ARGS=-k q2")


def test_slow_modules_are_left_out_of_the_fast_subset():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow", "-p",
                           "no:cacheprovider", "tests/test_e2e_report.py", "tests/test_browser.py",
                           "tests/test_determinism.py", "tests/test_readme_commands.py", "tests/test_quarto.py"],
                          cwd=ROOT, capture_output=True, text=True)
    assert "no tests collected" in proc.stdout and "deselected" in proc.stdout, proc.stdout[-500:]


def test_the_slow_marker_check_recognises_experiment_runs():
    from conftest import _ONLY_ASKS, _RUNS_EXPERIMENT

    runs = ["python -m experiments.q1_attention --profile quick", "python -m pipeline build --profile quick",
            "/x/python -m pipeline run q1_attention"]
    asks = ["python -m experiments.q1_attention --help", "python -m experiments.q3_asr --show-config",
            "python -m pipeline status --profile quick", "python -m pytest -q"]
    assert all(_RUNS_EXPERIMENT.search(c) and not _ONLY_ASKS.search(c) for c in runs)
    assert not any(_RUNS_EXPERIMENT.search(c) and not _ONLY_ASKS.search(c) for c in asks)


def test_data_from_the_environment_is_ignored_unless_it_is_a_data_mode():
    import os

    env = {**os.environ, "DATA": "/some/where"}
    out = subprocess.run([*MAKE, "-n", "report"], cwd=ROOT, capture_output=True, text=True, env=env).stdout
    assert "--data" not in out
    assert "--data real" in dry_run("report", "DATA=real")
