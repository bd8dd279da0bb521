"""`make status` and what `make report` / `make qN` run: fresh, stale or missing results,
deliberate runs with --set overrides kept, DATA=real, and the commands that fix each state.

Most tests here write results files by hand (a fingerprint of the current tree, no
numbers), so they run no experiment; the ones that run experiments are marked slow.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hw2.errors import Hw2Error
from pipeline import fingerprint
from pipeline.profiles import as_dict, get_config
from pipeline.report import build as build_module
from pipeline.report.build import plan_runs
from pipeline.stages import STAGES, stage
from pipeline.status import data_fingerprint, experiment_status, print_status, statuses

ROOT = Path(__file__).resolve().parent.parent
MAKE = ["make", "-s", "-o", ".venv/.installed-stamp"]


def fake_results(root: Path, name: str, profile: str = "quick", overrides: dict | None = None,
                 wall: float = 12.0) -> Path:
    """Write a results.json whose fingerprint matches the current tree (it holds no numbers)."""
    s = stage(name)
    settings = get_config(name, profile, overrides or {}, cls=s.module.Settings)
    config = as_dict(settings)
    results = {
        "fingerprint": fingerprint.compute(config, data_fingerprint(s, settings), sources=[f"experiments/{name}.py"]),
        "meta": {"config": config, "overrides": overrides or {}, "wall_time_s": wall,
                 "command": f"python -m experiments.{name} --profile {profile}"},
    }
    path = root / profile / name / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results))
    return path


def tamper(path: Path, part: str = "code") -> None:
    """Make a results file stale: its recorded code digest (or settings hash) no longer matches."""
    data = json.loads(path.read_text())
    if part == "code":
        rel = next(iter(data["fingerprint"]["code"]))
        data["fingerprint"]["code"][rel] = "0" * 64
    else:
        data["fingerprint"]["config"] = "0" * 64
    path.write_text(json.dumps(data))


@pytest.fixture
def fresh_root(tmp_path):
    root = tmp_path / "results"
    for s in STAGES:
        fake_results(root, s.name, wall={"q1_attention": 5.0, "q2_cnn": 40.0, "q3_asr": 840.0}[s.name])
    return root


def test_all_fresh_exits_0(fresh_root, capsys):
    assert print_status("quick", fresh_root) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out[:3]] == [["q1_attention", "fresh"], ["q2_cnn", "fresh"],
                                                     ["q3_asr", "fresh"]]
    assert out[-1] == "all results fresh"


def test_stale_and_missing_say_why_what_to_run_and_how_long(fresh_root, capsys):
    tamper(fresh_root / "quick" / "q3_asr" / "results.json")
    (fresh_root / "quick" / "q1_attention" / "results.json").unlink()
    assert print_status("quick", fresh_root) == 1
    out = capsys.readouterr().out
    assert "q3_asr        stale: experiments/q3_asr.py changed" in out
    assert "fix: `make q3 PROFILE=quick` (about 14.0 min, its last run's time)" in out
    assert "q1_attention  missing: no results yet" in out
    assert "fix: `make q1 PROFILE=quick` (about" in out  # timed by the committed default results
    assert out.splitlines()[-1].startswith("2 of 3 stale or missing (q1_attention, q3_asr): "
                                           "`make report PROFILE=quick` reruns them")


def test_a_changed_setting_is_named(fresh_root):
    path = fresh_root / "quick" / "q2_cnn" / "results.json"
    data = json.loads(path.read_text())
    data["meta"]["config"]["epochs"] = 5
    data["fingerprint"]["config"] = fingerprint.json_sha256(data["meta"]["config"])
    path.write_text(json.dumps(data))
    status = experiment_status(stage("q2_cnn"), "quick", fresh_root)
    assert status.state == "stale" and status.reasons == ["settings changed: epochs 5 -> 2"]


def test_status_command_and_make_target_fail_when_something_is_stale(fresh_root, monkeypatch):
    monkeypatch.setenv("HW2_RESULTS_DIR", str(fresh_root))
    cli = [sys.executable, "-m", "pipeline", "status", "--profile", "quick"]
    assert subprocess.run(cli, capture_output=True, text=True).returncode == 0
    tamper(fresh_root / "quick" / "q2_cnn" / "results.json", part="config")
    proc = subprocess.run(cli, capture_output=True, text=True)
    assert proc.returncode == 1 and "q2_cnn        stale: settings changed" in proc.stdout
    made = subprocess.run([*MAKE, "status", "PROFILE=quick"], cwd=ROOT, capture_output=True, text=True)
    assert made.returncode != 0 and "q2_cnn        stale" in made.stdout  # make passes the failure on


def test_help_documents_the_exit_status():
    proc = subprocess.run([sys.executable, "-m", "pipeline", "status", "--help"], capture_output=True, text=True)
    assert "exit status: 0 when every experiment's results are fresh, 1 when any is stale or missing" \
        in " ".join(proc.stdout.split())


# ---------------------------------------------------------------- deliberate runs (--set overrides)


def test_results_made_with_overrides_stay_fresh_and_say_how_to_go_back(fresh_root, capsys):
    fake_results(fresh_root, "q1_attention", overrides={"timing_D": [8, 16]})
    status = experiment_status(stage("q1_attention"), "quick", fresh_root)
    assert status.state == "fresh" and status.departures == [("timing_D", [8, 16], [4, 8])]
    assert plan_runs(statuses("quick", fresh_root), "stale", set()) == {}  # make report keeps them
    print_status("quick", fresh_root)
    out = capsys.readouterr().out
    assert "made with --set overrides, kept when it reruns: timing_D = [8, 16] (the quick profile has [4, 8])" in out
    assert "back to the profile's settings: `make q1 PROFILE=quick`" in out


def test_stale_results_with_overrides_rerun_with_the_same_overrides(fresh_root, capsys):
    tamper(fake_results(fresh_root, "q1_attention", overrides={"timing_D": [8, 16]}))
    found = statuses("quick", fresh_root)
    assert plan_runs(found, "stale", set()) == {"q1_attention": {"timing_D": [8, 16]}}
    assert plan_runs(found, "stale", {"q1_attention"}) == {"q1_attention": {}}  # make q1: the profile's settings
    assert plan_runs(found, "none", set()) == {}
    print_status("quick", fresh_root)
    out = capsys.readouterr().out
    assert "fix: `make report PROFILE=quick` reruns it with the same overrides" in out
    assert "or: `make q1 PROFILE=quick` reruns it with the profile's settings" in out


def test_overrides_that_no_longer_apply_make_results_stale(fresh_root):
    path = fake_results(fresh_root, "q1_attention")
    data = json.loads(path.read_text())
    data["meta"]["overrides"] = {"a_setting_since_removed": 3}
    path.write_text(json.dumps(data))
    status = experiment_status(stage("q1_attention"), "quick", fresh_root)
    assert status.state == "stale" and "no longer apply" in status.reasons[0] and status.overrides == {}


def test_make_q_targets_rerun_one_experiment_and_run_nothing_else():
    proc = subprocess.run([*MAKE, "-n", "q1", "PROFILE=quick"], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.split()[-5:] == ["quick", "--rerun", "q1", "--run", "none"]
    proc = subprocess.run([*MAKE, "-n", "report", "PROFILE=quick"], cwd=ROOT, capture_output=True, text=True)
    assert "--run" not in proc.stdout  # make report keeps rerunning what is stale (the default)


def test_missing_results_stop_make_q_with_the_command_for_them(fresh_root):
    (fresh_root / "quick" / "q3_asr" / "results.json").unlink()
    with pytest.raises(Hw2Error, match=r"no results; produce them with `make q3 PROFILE=quick`"):
        plan_runs(statuses("quick", fresh_root), "none", {"q1_attention"})


# ---------------------------------------------------------------- DATA=real


@pytest.fixture
def fake_ljspeech(tmp_path, monkeypatch):
    """A two-clip corpus in LJ Speech's layout under $HW2_DATA_DIR (no OCTMNIST there)."""
    import numpy as np

    from hw2.q3.ljspeech import write_wav

    root = tmp_path / "data" / "LJSpeech-1.1"
    (root / "wavs").mkdir(parents=True)
    lines = []
    for i in range(2):
        write_wav(root / "wavs" / f"LJ001-000{i}.wav", (1000 * np.sin(np.arange(22050) / 7.0)).astype(np.int16))
        lines.append(f"LJ001-000{i}|Text {i}.|text {i}.")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.medmnist/octmnist.npz
    return root


def test_data_real_reruns_what_was_made_on_the_standin(fresh_root, fake_ljspeech):
    found = {s.name: s for s in statuses("quick", fresh_root, data="real")}
    q3 = found["q3_asr"]
    assert q3.state == "stale" and q3.reasons[0] == "DATA=real asks for --set data=ljspeech"
    assert q3.fix == "make q3 PROFILE=quick DATA=real"
    assert found["q1_attention"].state == "fresh"  # no data set
    assert plan_runs(list(found.values()), "stale", set())["q3_asr"] == {"data": "ljspeech"}


def test_data_real_without_the_data_stops_before_running_anything(fresh_root, fake_ljspeech, monkeypatch, tmp_path):
    ran = []
    monkeypatch.setattr(build_module, "run_many", lambda *a, **k: ran.append(a))
    with pytest.raises(Hw2Error, match=r"DATA=real: the real data set of q2_cnn \(--set data=real\) is not on"):
        build_module.build("quick", results=fresh_root, out_dir=tmp_path / "out", data="real")
    assert ran == []


def test_results_made_on_real_data_are_fresh_under_data_real(fresh_root, fake_ljspeech):
    fake_results(fresh_root, "q3_asr", overrides={"data": "ljspeech"})
    q3 = experiment_status(stage("q3_asr"), "quick", fresh_root, data="real")
    assert q3.state == "fresh"
    assert experiment_status(stage("q3_asr"), "quick", fresh_root).state == "fresh"  # and without DATA=real


# ---------------------------------------------------------------- rendering stale results (slow)


def tamper_q3_in(results: Path) -> bytes:
    path = results / "quick" / "q3_asr" / "results.json"
    tamper(path)
    return path.read_bytes()


def section(html: str, heading_id: str) -> str:
    """The HTML of one top-level section, from its heading to the next one."""
    start = html.index(f'id="{heading_id}"')
    end = html.find('<section id="sec-', start + 1)
    return html[start:end if end != -1 else None]


@pytest.mark.slow
def test_stale_results_rendered_with_a_warning_and_a_note(quick_results_copy, tmp_path, monkeypatch, capsys):
    from pypdf import PdfReader

    tamper_q3_in(quick_results_copy)
    monkeypatch.setattr(build_module, "run_many", lambda names, *a, **k: pytest.fail(f"ran {names}") if names else None)
    build_module.build("quick", run="none", results=quick_results_copy, out_dir=tmp_path / "out")
    out, err = capsys.readouterr()
    assert "warning: q3_asr: rendering stale results (" in err and "`make q3 PROFILE=quick` reruns it" in err
    assert out.splitlines()[-1].startswith("nothing rerun; stale, rendered with a note: q3_asr (`make q3 PROFILE=quick`")
    html = (tmp_path / "out" / "report-quick.html").read_text()
    assert "Stale results." in section(html, "sec-q3") and "Stale results." not in section(html, "sec-q2")
    pages = [page.extract_text() for page in PdfReader(tmp_path / "out" / "report-quick.pdf").pages]
    q3_page = next(i for i, text in enumerate(pages) if "Speech recognition with an encoder" in text
                   and "Stale results." in text)
    assert "Stale results." not in "".join(pages[:q3_page])  # only Q3's section carries it


@pytest.mark.slow
def test_fresh_build_says_nothing_was_rerun(quick_results_copy, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(build_module, "run_many", lambda names, *a, **k: pytest.fail(f"ran {names}") if names else None)
    build_module.build("quick", formats=("html",), results=quick_results_copy, out_dir=tmp_path / "out")
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "all results fresh, nothing rerun" and "warning" not in err
    assert "Stale results." not in (tmp_path / "out" / "report-quick.html").read_text()


@pytest.mark.slow
def test_make_q1_leaves_a_stale_q3_alone_and_lists_it(quick_results_copy, tree_copy):
    before = tamper_q3_in(quick_results_copy)
    env = {**__import__("os").environ, "HW2_RESULTS_DIR": str(quick_results_copy)}
    proc = subprocess.run([*MAKE, "q1", "PROFILE=quick"], cwd=tree_copy, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "q1_attention: rerunning it as asked" in proc.stdout
    assert "running q3_asr" not in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith(
        "reran q1_attention; stale, rendered with a note: q3_asr (`make q3 PROFILE=quick`")
    assert "warning: q3_asr: rendering stale results" in proc.stderr
    assert (quick_results_copy / "quick" / "q3_asr" / "results.json").read_bytes() == before


@pytest.mark.slow
def test_a_run_on_real_data_made_with_set_is_kept_and_rerun_with_it(quick_results_copy, tmp_path, monkeypatch, capsys):
    """Issue #11: Q3 run with --set data=ljspeech must survive `make report`, and rerun with it when stale."""
    from hw2.q3.standin import standin_dir, standin_params

    cfg = get_config("q3_asr", "quick")
    corpus = standin_dir(standin_params(cfg.corpus_size, cfg.corpus_seed, cfg.voices))
    assert corpus.is_dir(), "the quick report generated the stand-in"
    shutil.copytree(corpus, tmp_path / "data" / "LJSpeech-1.1")  # the stand-in is in LJ Speech's layout
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path / "data"))
    results = quick_results_copy
    path = results / "quick" / "q3_asr" / "results.json"
    cmd = [sys.executable, "-m", "experiments.q3_asr", "--profile", "quick", "--set", "data=ljspeech",
           "--no-progress", "--results-dir", str(results)]
    assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0
    made = path.read_bytes()

    real_run_many = build_module.run_many
    monkeypatch.setattr(build_module, "run_many", lambda names, *a, **k: pytest.fail(f"ran {names}") if names else None)
    build_module.build("quick", results=results, out_dir=tmp_path / "out", formats=("html",))
    assert path.read_bytes() == made  # kept, not replaced by a stand-in run
    html = (tmp_path / "out" / "report-quick.html").read_text()
    assert "Made with overrides." in section(html, "sec-q3") and "&quot;ljspeech&quot;" in section(html, "sec-q3")
    assert "made with overrides" in html.split('id="sec-provenance"')[1]
    assert capsys.readouterr().out.splitlines()[-1] == "all results fresh, nothing rerun"

    tamper(path)  # a code change: rerun, with the same overrides
    monkeypatch.setattr(build_module, "run_many", real_run_many)
    build_module.build("quick", results=results, out_dir=tmp_path / "out", formats=("html",))
    rerun = json.loads(path.read_text())
    assert rerun["meta"]["overrides"] == {"data": "ljspeech"} and rerun["corpus"]["source"] == "ljspeech"
    assert "q3_asr: stale (" in capsys.readouterr().out
