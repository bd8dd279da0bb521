"""Every command the README shows, run quick-sized in a copy of the tree, then the report build.

Issue #11: `--set` overrides crashed the report build, and nothing ran the README's own
examples.  Here each line of the README's ```sh blocks is one test, in README order, in one
copy of the working tree whose results start as the quick report's: a profile named in it
becomes ``quick`` (``--profile quick``, ``PROFILE=quick``; make targets without one get
``PROFILE=quick`` from the environment), ``make`` never reinstalls .venv, and commands that
need a network, a cluster, the real data sets or the test suite itself are skipped, each with
its reason (``pytest -rs`` lists them).  The last test builds the report from whatever the
commands left, overrides included.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs experiments and renders the report

ROOT = Path(__file__).resolve().parent.parent

# (pattern, reason): a command matching the pattern is not run
SKIPPED = [
    (r"^make test", "runs the test suite, which this test is part of"),
    (r"^make data\b", "downloads a data set: needs a network"),
    (r"EXECUTOR=slurm", "submits Slurm jobs: needs a cluster"),
    (r"^make status DATA=real", "without the real data sets it reports Q2 and Q3 stale and fails, as it should "
                                "(tests/test_status.py checks that)"),
    (r"DATA=real|--set data=(?:ljspeech|real)", "needs the real data sets (and hours on a CPU)"),
    (r"^make preview", "serves the report until Ctrl-C (tests/test_preview.py drives it in a browser)"),
    (r"^QUARTO=", "needs the Quarto build named there (tests/test_quarto.py renders with Quarto when it is present)"),
    (r"SEEDS=[2-9]", "repeats training over several seeds: minutes even on the quick profile "
                     "(tests/test_seeds.py builds quick-seeds2)"),
]


def readme_commands() -> list[str]:
    """Return each command line of the README's ```sh blocks, without its trailing comment."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line:
                commands.append(line)
    return commands


def quick_sized(command: str) -> str:
    """The command with any profile replaced by quick, and make told not to reinstall .venv."""
    command = re.sub(r"--profile\s+\S+", "--profile quick", command)
    command = re.sub(r"\bPROFILE=\S+", "PROFILE=quick", command)
    return re.sub(r"(^|\s)make(\s)", r"\1make -s -o .venv/.installed-stamp\2", command)


def skip_reason(command: str) -> str | None:
    for pattern, reason in SKIPPED:
        if re.search(pattern, command):
            return reason
    quarto = re.search(r"QUARTO=(\S+)", command)
    if quarto and not Path(quarto.group(1)).is_file():
        return f"needs Quarto at {quarto.group(1)} (tests/test_quarto.py renders with one when it is installed)"
    return None


def params():
    out = []
    for command in readme_commands():
        reason = skip_reason(command)
        marks = [pytest.mark.skip(reason=f"{command!r}: {reason}")] if reason else []
        out.append(pytest.param(command, marks=marks, id=command[:60]))
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory, quick_report, working_tree_copier):
    """A copy of the working tree and of the quick results; the environment its commands run in."""
    base = tmp_path_factory.mktemp("readme")
    root = working_tree_copier(base / "tree")
    _, _, _, out = quick_report
    results = Path(shutil.copytree(out.parent / "results", base / "results"))
    # the results are committed, as results/default is in the project, so that `make diff REV=HEAD` has a revision
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    for args in (["init", "-q"], ["add", "results"], ["commit", "-q", "-m", "quick results"]):
        subprocess.run(git + args, cwd=base, check=True, capture_output=True)
    env = {**os.environ, "PROFILE": "quick", "HW2_RESULTS_DIR": str(results),
           "PATH": f"{root / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("JOBS", None), env.pop("EXECUTOR", None), env.pop("DATA", None)
    return root, results, env


def test_the_readme_shows_commands():
    commands = readme_commands()
    assert "make report" in commands and any("--set" in c for c in commands) and "make status" in commands


@pytest.mark.parametrize("command", params())
def test_readme_command(command, tree):
    root, _, env = tree
    proc = subprocess.run(["bash", "-c", quick_sized(command)], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{quick_sized(command)} exited {proc.returncode}:\n{proc.stderr[-2000:]}"


def test_then_the_report_builds(tree):
    """After all of them (the README's --set example included) `make report` renders, keeping the overrides."""
    root, results, env = tree
    proc = subprocess.run(["make", "-s", "-o", ".venv/.installed-stamp", "report", "PROFILE=quick"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (root / "report" / "report-quick.html").read_text(encoding="utf-8")
    assert (root / "report" / "report-quick.pdf").stat().st_size > 10_000
    overrides = json.loads((results / "quick" / "q1_attention" / "results.json").read_text())["meta"]["overrides"]
    last_q1 = [c for c in readme_commands() if re.search(r"q1_attention|make q1\b", c) and not skip_reason(c)][-1]
    if "--set" in last_q1:  # the README's --set example ran last for Q1: kept by make report, and said so
        assert overrides and "Made with overrides." in html
    assert proc.stdout.strip().splitlines()[-1].startswith(("all results fresh", "reran"))
