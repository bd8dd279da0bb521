"""Fingerprints decide which experiments rerun."""

from __future__ import annotations

import ast
import json
import shutil
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
    state = fingerprint.check(recorded, {"a": 2}, {"source": "gen", "seed": 1}, recorded_config=config)
    assert state.reasons == ["settings changed: a 1 -> 2"]

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


def status(profile="quick", expect=0):
    proc = subprocess.run([sys.executable, "-m", "pipeline", "status", "--profile", profile],
                          capture_output=True, text=True)
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_status_on_quick_profile(results_root):
    assert "q1_attention  missing" in status(expect=1)
    run = subprocess.run([sys.executable, "-m", "experiments.q1_attention", "--profile", "quick", "--no-progress"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = status(expect=1)  # Q2 and Q3 are still missing
    assert "q1_attention  fresh" in out

    path = results_root / "quick" / "q1_attention" / "results.json"
    data = json.loads(path.read_text())
    recorded = data["fingerprint"]
    assert "hw2/q1/attention.py" in recorded["code"] and "experiments/q1_attention.py" in recorded["code"]
    assert recorded["config"] == fingerprint.json_sha256(as_dict(get_config("q1_attention", "quick")))

    data["fingerprint"]["code"]["hw2/q1/attention.py"] = "f" * 64
    path.write_text(json.dumps(data))
    out = status(expect=1)
    assert "q1_attention  stale: hw2/q1/attention.py changed" in out


# ---------------------------------------------------------------- what counts as a code change


@pytest.fixture
def module_copy(tmp_path, monkeypatch):
    """A copy of hw2/q1/attention.py in a private tree that the fingerprints read instead of this checkout."""
    rel = "hw2/q1/attention.py"
    (tmp_path / rel).parent.mkdir(parents=True)
    shutil.copy2(fingerprint.REPO_ROOT / rel, tmp_path / rel)
    monkeypatch.setattr(fingerprint, "REPO_ROOT", tmp_path)
    recorded = fingerprint.compute({"a": 1}, {}, sources=[rel])
    return tmp_path / rel, recorded


def state_after(recorded):
    return fingerprint.check(recorded, {"a": 1}, {})


def test_comment_and_docstring_edits_keep_results_fresh(module_copy):
    path, recorded = module_copy
    text = path.read_text()
    tree = ast.parse(text)
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and ast.get_docstring(n))
    docstring = ast.get_docstring(function, clean=False)
    edited = text.replace(docstring, docstring + " Reworded, and longer.", 1)
    edited = "# a new comment at the top\n" + edited.replace("\n\n", "\n\n# and one between blocks\n\n", 1)
    assert edited != text
    path.write_text(edited)
    assert state_after(recorded).state == "fresh"


def test_one_character_in_an_expression_makes_results_stale(module_copy):
    path, recorded = module_copy
    text = path.read_text()
    # the first binary operation in a function body: change its operator, one character
    op = next(n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Mult, ast.Add)))
    lines = text.splitlines(keepends=True)
    line = lines[op.lineno - 1]
    segment = line[op.left.end_col_offset:op.right.col_offset]
    symbol = "*" if isinstance(op.op, ast.Mult) else "+"
    at = op.left.end_col_offset + segment.index(symbol)
    lines[op.lineno - 1] = line[:at] + ("+" if symbol == "*" else "-") + line[at + 1:]
    edited = "".join(lines)
    assert sum(a != b for a, b in zip(edited, text)) == 1 and len(edited) == len(text)
    path.write_text(edited)
    state = state_after(recorded)
    assert state.state == "stale" and state.reasons == ["hw2/q1/attention.py changed"]


@pytest.mark.slow
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
