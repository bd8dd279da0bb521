"""Which data each number came from: the search block the experiments record, its findings, and their wording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hw2.files
from hw2.files import Place, search_record
from pipeline.errors import ResultsError
from pipeline.findings.data import data_findings
from pipeline.report.values import ResultsView


def block(requested: str, exists: tuple[bool, ...], used: str, used_path: str | None = None) -> dict:
    """A search block as the experiments write it, over three places (explicit setting, env, default)."""
    places = [Place(Path(f"/p{i}/LJSpeech-1.1"), origin, there)
              for i, (origin, there) in enumerate(zip(("ljspeech_dir", "HW2_DATA_DIR", "default"), exists))]
    return search_record("LJ Speech 1.1", requested, places, used_path,
                         None if used == "real" else "/data/LJSpeech-standin-abc")


def test_found_and_used():
    f = data_findings(block("auto", (False, True, True), "real", "/p1/LJSpeech-1.1"))
    assert (f.used_real, f.found_not_used, f.not_found) == (True, False, False)
    assert f.where == "/p1/LJSpeech-1.1" and f.standin_where is None and f.dataset == "LJ Speech 1.1"


def test_found_but_the_profile_asks_for_the_standin():
    # the bug behind this module: a report saying "LJ Speech 1.1 was not on this machine" when it was
    f = data_findings(block("standin", (False, False, True), "standin"))
    assert (f.used_real, f.found_not_used, f.not_found) == (False, True, False)
    assert f.where == "/p2/LJSpeech-1.1" and f.requested_standin
    assert f.standin_where == "/data/LJSpeech-standin-abc"


def test_not_found_lists_every_place_in_order():
    f = data_findings(block("auto", (False, False, False), "standin"))
    assert (f.used_real, f.found_not_used, f.not_found) == (False, False, True)
    assert f.where is None and not f.requested_standin and f.requested_auto
    assert [p.path for p in f.looked_in] == ["/p0/LJSpeech-1.1", "/p1/LJSpeech-1.1", "/p2/LJSpeech-1.1"]
    assert [(p.given, p.from_env) for p in f.looked_in] == [(True, False), (False, True), (False, False)]
    f = data_findings(block("standin", (False, False, False), "standin"))
    assert f.not_found and f.requested_standin


def test_first_place_found_is_the_one_named():
    f = data_findings(block("standin", (True, False, True), "standin"))
    assert f.where == "/p0/LJSpeech-1.1"


@pytest.mark.parametrize("bad, problem", [
    (block("standin", (True, True, True), "real", "/p0/LJSpeech-1.1"), "stand-in was requested but the real"),
    (block("real", (False, False, False), "standin"), "real data was requested but the stand-in used"),
    (block("auto", (False, True, False), "standin"), "data=auto found /p1/LJSpeech-1.1 but used the stand-in"),
    ({**block("auto", (True,), "real", "/p0"), "requested": "maybe"}, "requested must be one of"),
    ({**block("auto", (True,), "real", "/p0"), "used": "both"}, "used must be real or standin"),
    ({"dataset": "x"}, "lacks requested, candidates, used, used_path"),
])
def test_a_block_that_contradicts_itself_is_a_one_line_error(tmp_path, bad, problem):
    view = ResultsView({"corpus": {"search": bad}}, tmp_path / "results.json", "make q3")
    with pytest.raises(ResultsError) as err:
        data_findings(view.corpus.search)
    message = str(err.value)
    assert "\n" not in message and problem in message
    assert message.startswith(f"{tmp_path / 'results.json'}: corpus.search: ")


def test_reads_through_a_results_view(tmp_path):
    view = ResultsView({"data": {"search": block("auto", (True, False, False), "real", "/p0/LJSpeech-1.1")}},
                       tmp_path / "results.json", "make q2")
    assert data_findings(view.data.search).used_real


# ----------------------------------------------------------------------------- the sentence

def sentence(f) -> str:
    from pipeline.report.build import make_environment

    template = make_environment().from_string('{% import "macros.qmd.j2" as m %}{{ m.data_source(f) }}')
    return template.render(f=f)


def test_the_sentence_for_each_case():
    used = sentence(data_findings(block("auto", (False, True, False), "real", "/p1/LJSpeech-1.1")))
    assert used == "The real LJ Speech 1.1 was found and used: the numbers below come from `/p1/LJSpeech-1.1`."
    found = sentence(data_findings(block("standin", (False, False, True), "standin")))
    assert found == ("The real LJ Speech 1.1 was found, at `/p2/LJSpeech-1.1`, but not used: this profile asks "
                     "for the offline stand-in (`data=standin`), so the numbers below come from the stand-in.")
    places = ("`/p0/LJSpeech-1.1` (given with `ljspeech_dir`), `/p1/LJSpeech-1.1` (from `$HW2_DATA_DIR`), "
              "`/p2/LJSpeech-1.1`")
    missing = sentence(data_findings(block("auto", (False, False, False), "standin")))
    assert missing == ("The real LJ Speech 1.1 was not found, so the numbers below come from the offline "
                       f"stand-in; the places looked at, in order: {places}.")
    asked = sentence(data_findings(block("standin", (False, False, False), "standin")))
    assert asked == ("This profile asks for the offline stand-in (`data=standin`), and the real LJ Speech 1.1 "
                     f"was not found either; the places looked at, in order: {places}.")
    for text in (used, found, missing, asked):
        assert "\n" not in text and "not on this machine" not in text


# ----------------------------------------------------------------------------- what the experiments record

def ljspeech_folder(root: Path, n: int = 6) -> Path:
    """A tiny corpus in LJ Speech 1.1's layout: metadata.csv (ID|raw|normalized) and wavs/ID.wav."""
    from hw2.q3.ljspeech import write_wav

    folder = root / "LJSpeech-1.1"
    (folder / "wavs").mkdir(parents=True)
    tone = (8000 * np.sin(np.arange(4000) / 10)).astype(np.int16)
    for i in range(n):
        write_wav(folder / "wavs" / f"LJ001-{i + 1:04d}.wav", tone)
    (folder / "metadata.csv").write_text("".join(f"LJ001-{i + 1:04d}|Clip {i}.|Clip number {i}.\n"
                                                 for i in range(n)), encoding="utf-8")
    return folder


def octmnist_file(path: Path) -> Path:
    """A small file in OCTMNIST's npz layout (uint8 (N, 28, 28) images, (N, 1) labels 0-3)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 40), ("val", 12), ("test", 40)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 4).astype(np.uint8).reshape(n, 1)
    np.savez_compressed(path, **arrays)
    return path


@pytest.fixture
def no_repo_data(tmp_path, monkeypatch):
    """Point the built-in data/ place at an empty folder, so the repository's own data/ plays no part."""
    monkeypatch.setattr(hw2.files, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path / "env"))
    (tmp_path / "env").mkdir()
    return tmp_path / "env"


def test_q3_records_real_corpus_found_used_and_not_used(no_repo_data):
    from experiments.q3_asr import Settings, open_corpus

    folder = ljspeech_folder(no_repo_data)
    corpus, _ = open_corpus(Settings(data="auto"), False)
    f = data_findings(corpus["search"])
    assert f.used_real and f.where == str(folder) and corpus["source"] == "ljspeech"
    assert [(p.origin, p.exists) for p in f.looked_in] == [("HW2_DATA_DIR", True), ("default", False)]

    corpus, _ = open_corpus(Settings(data="standin", corpus_size=6, voices=["en-us"]), False)
    f = data_findings(corpus["search"])
    assert f.found_not_used and f.where == str(folder) and corpus["source"] == "standin"
    assert f.standin_where == str(no_repo_data / corpus["path"])


def test_q3_records_where_it_looked_when_not_found(no_repo_data, tmp_path):
    from experiments.q3_asr import Settings, open_corpus

    explicit = tmp_path / "mine"
    corpus, _ = open_corpus(Settings(data="standin", ljspeech_dir=str(explicit), corpus_size=6,
                                     voices=["en-us"]), False)
    f = data_findings(corpus["search"])
    assert f.not_found and f.requested_standin
    assert [p.path for p in f.looked_in] == [str(explicit), str(no_repo_data / "LJSpeech-1.1"),
                                             "data/LJSpeech-1.1"]  # inside the repository: shown relative


def test_q2_records_the_real_file_found_and_not_used(no_repo_data):
    from experiments.q2_cnn import Settings, describe_data, load_data

    real = octmnist_file(no_repo_data / "octmnist.npz")
    small = dict(standin_train=40, standin_val=8, standin_test=8)
    data, notes = load_data(Settings(data="standin", **small))
    f = data_findings(describe_data(data, notes)["search"])
    assert f.found_not_used and f.where == str(real) and f.dataset == "OCTMNIST"
    assert f.standin_where == str(data.path)

    data, notes = load_data(Settings(data="auto", **small))
    f = data_findings(describe_data(data, notes)["search"])
    assert f.used_real and f.where == str(real) and data.source == "real"

    real.unlink()
    data, notes = load_data(Settings(data="auto", **small))
    f = data_findings(describe_data(data, notes)["search"])
    assert f.not_found and [p.origin for p in f.looked_in] == ["HW2_DATA_DIR", "default", "default"]
    assert f.looked_in[-1].path == str(Path.home() / ".medmnist" / "octmnist.npz")
    assert np.all(data.train_labels < 4)


def test_paths_inside_the_repository_are_shown_relative_even_through_a_link(tmp_path, monkeypatch):
    # bug caught: data/ is a symlink in shared checkouts; resolving it showed another checkout's absolute path
    from hw2.files import shown_path

    repo, elsewhere = tmp_path / "repo", tmp_path / "shared-data"
    repo.mkdir()
    elsewhere.mkdir()
    (repo / "data").symlink_to(elsewhere)
    monkeypatch.setattr(hw2.files, "REPO_ROOT", repo)
    assert shown_path(repo / "data" / "LJSpeech-1.1") == "data/LJSpeech-1.1"
    assert shown_path(tmp_path / "other" / "x.npz") == str(tmp_path / "other" / "x.npz")
