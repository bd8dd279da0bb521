"""Q3 data: the LJ Speech reader on tiny corpora in its exact layout, bad inputs, the split,
the sentence grammar, and the generated corpus (layout, determinism across processes)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from hw2.errors import DataError
from hw2.q3.ljspeech import find_ljspeech, read_metadata, read_wav, split_by_index, split_sizes, write_wav
from pipeline.results import REPO_ROOT
from hw2.q3.sentences import article, digits_version, generate_sentences, number_words, vocabulary, year_words
from hw2.q3.tokenizer import ALPHABET


# ----------------------------------------------------------------------------- a tiny LJ Speech

def make_corpus(root: Path, n: int = 8, rate: int = 22050) -> Path:
    """Write n clips exactly as LJ Speech 1.1 lies on disk: metadata.csv (ID|raw|normalized), wavs/ID.wav."""
    folder = root / "LJSpeech-1.1"
    (folder / "wavs").mkdir(parents=True)
    lines = []
    for i in range(n):
        uid = f"LJ001-{i + 1:04d}"
        t = np.arange(rate // 4) / rate
        write_wav(folder / "wavs" / f"{uid}.wav", (8000 * np.sin(2 * np.pi * (200 + 50 * i) * t)).astype(np.int16), rate)
        lines.append(f"{uid}|Printing, in the only sense with {i} letters|Printing, in the only sense with {number_words(i)} letters")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_reader_reads_the_real_layout(tmp_path, monkeypatch):
    folder = make_corpus(tmp_path)
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path))
    assert find_ljspeech() == folder
    utts = read_metadata(folder)
    assert [u.id for u in utts][:2] == ["LJ001-0001", "LJ001-0002"]
    assert utts[2].text == "Printing, in the only sense with two letters"  # the normalized column
    samples = read_wav(utts[0].wav)
    assert samples.dtype == np.int16 and len(samples) == 22050 // 4


def test_real_data_path_of_the_experiment_reads_it(tmp_path):
    from experiments.q3_asr import Settings, open_corpus

    folder = make_corpus(tmp_path, n=20)
    corpus, splits = open_corpus(Settings(data="ljspeech", ljspeech_dir=str(folder)), False)
    assert corpus["source"] == "ljspeech" and corpus["clips"] == 20
    assert [len(splits[k]) for k in ("train", "val", "test")] == list(split_sizes(20))


def test_explicit_path_without_metadata_is_an_error(tmp_path):
    with pytest.raises(DataError, match="metadata.csv"):
        find_ljspeech(tmp_path)


def test_course_split_and_proportions():
    assert split_sizes(13100) == (9825, 655, 2620)
    assert split_sizes(2667) == (2000, 133, 534)
    for n in (3, 10, 48, 1000):
        tr, va, te = split_sizes(n)
        assert tr + va + te == n and min(tr, va, te) >= 1


def test_split_is_by_index():
    utts = list(range(13100))
    s = split_by_index(utts)
    assert s["train"][-1] == 9824 and s["val"][0] == 9825 and s["val"][-1] == 10479 and s["test"][0] == 10480


def _one_line(exc: DataError) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("content, expect", [
    ("LJ001-0001|raw only\n", "expected 3 fields ID|raw|normalized, found 2 (line 1)"),
    ("LJ001-0001|a|a\nLJ001-0002|b|\n", "empty normalized transcript for LJ001-0002 (line 2)"),
    ("LJ001-0001|a|a\n|b|b\n", "bad clip ID '' (line 2)"),
    ("LJ001-0001|a|a|extra\n", "found 4 (line 1)"),
    ("LJ001-0001|a|a\nLJ001-0001|a|a\n", "repeated (lines 1 and 2)"),
])
def test_malformed_metadata_names_file_and_line(tmp_path, content, expect):
    folder = make_corpus(tmp_path, n=2)
    (folder / "metadata.csv").write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_metadata(folder)
    assert _one_line(err.value).startswith(str(folder / "metadata.csv"))
    assert expect in str(err.value)


def test_non_utf8_metadata(tmp_path):
    folder = make_corpus(tmp_path, n=2)
    (folder / "metadata.csv").write_bytes(b"LJ001-0001|a|a\nLJ001-0002|\xff|\xff\n")
    with pytest.raises(DataError, match=r"UTF-8 \(line 2\)"):
        read_metadata(folder)


def test_missing_wav_names_it_and_the_line(tmp_path):
    folder = make_corpus(tmp_path, n=3)
    (folder / "wavs" / "LJ001-0003.wav").unlink()
    with pytest.raises(DataError) as err:
        read_metadata(folder)
    assert _one_line(err.value).startswith(str(folder / "wavs" / "LJ001-0003.wav"))
    assert "line 3" in str(err.value)


def test_bad_wavs(tmp_path):
    folder = make_corpus(tmp_path, n=1)
    path = folder / "wavs" / "LJ001-0001.wav"
    path.write_bytes(b"not a wav at all")
    with pytest.raises(DataError, match="not a readable PCM WAV") as err:
        read_wav(path)
    assert _one_line(err.value).startswith(str(path))

    with wave.open(str(path), "wb") as wf:  # 8-bit samples
        wf.setnchannels(1), wf.setsampwidth(1), wf.setframerate(22050), wf.writeframes(b"\x80" * 100)
    with pytest.raises(DataError, match="expected 16-bit samples, found 8-bit"):
        read_wav(path)

    with wave.open(str(path), "wb") as wf:  # stereo
        wf.setnchannels(2), wf.setsampwidth(2), wf.setframerate(22050), wf.writeframes(b"\0" * 400)
    with pytest.raises(DataError, match="mono"):
        read_wav(path)

    write_wav(path, np.zeros(100, np.int16), 16000)
    with pytest.raises(DataError, match="22050 Hz"):
        read_wav(path)

    good = path.read_bytes()
    path.write_bytes(good[:-50])  # truncated data chunk
    with pytest.raises(DataError):
        read_wav(path, expected_rate=16000)

    with pytest.raises(DataError, match="missing"):
        read_wav(folder / "wavs" / "nope.wav")


def test_the_command_line_prints_a_data_error_as_one_line(tmp_path):
    folder = make_corpus(tmp_path, n=3)
    (folder / "metadata.csv").write_text("LJ001-0001|a\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "experiments.q3_asr", "--profile", "quick", "--no-progress",
                           "--set", "data=ljspeech", "--set", f"ljspeech_dir={folder}",
                           "--results-dir", str(tmp_path / "res")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    err = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert err == [f"error: {folder / 'metadata.csv'}: expected 3 fields ID|raw|normalized, found 2 (line 1)"]
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- the grammar

def test_sentences_are_seeded_distinct_and_tokenizable():
    a, b = generate_sentences(300, seed=3), generate_sentences(300, seed=3)
    assert a == b and len(set(a)) == 300
    assert generate_sentences(300, seed=4) != a
    allowed = set(ALPHABET[4:])
    for s in a:
        assert set(s.lower()) <= allowed, s
        assert s[0].isupper() and s[-1] in ".?" and len(s) <= 90
        assert not re.search(r"\b(a [aeio]|an [bcdfgjklmnpqrstvwxyz])", s.lower()), s
    assert len(vocabulary()) >= 300


def test_numbers_and_articles():
    assert number_words(21) == "twenty-one"
    assert number_words(305) == "three hundred and five"
    assert number_words(1863) == "one thousand eight hundred and sixty-three"
    assert year_words(1863) == "eighteen sixty-three" and year_words(1905) == "nineteen oh five"
    assert [article(w) for w in ("owl", "cat", "hour", "university", "unusual", "eleven", "old-fashioned")] == \
        ["an", "a", "an", "a", "an", "an", "an"]
    assert digits_version("In eighteen sixty-three, twenty-one dogs ran.") == "In 1863, 21 dogs ran."


# ----------------------------------------------------------------------------- the generated corpus

GENERATE = (
    "import hashlib, sys; from pathlib import Path; from hw2.q3.standin import ensure_standin;"
    "p, s = ensure_standin(12, 5, root=Path(sys.argv[1]));"
    "h = hashlib.sha256(); [h.update(f.read_bytes()) for f in sorted(p.rglob('*')) if f.is_file()];"
    "print(p.name, h.hexdigest())"
)


def test_generated_corpus_is_byte_identical_across_processes_and_read_by_the_reader(tmp_path):
    outs = [subprocess.run([sys.executable, "-c", GENERATE, str(tmp_path / f"run{i}")], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=120, check=True).stdout for i in (1, 2)]
    assert outs[0] == outs[1]
    folder = next((tmp_path / "run1").glob("LJSpeech-standin-*"))
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "metadata.csv", "standin.json", "wavs"]
    assert not list((tmp_path / "run1").glob(".tmp-*"))  # built aside, renamed into place
    utts = read_metadata(folder)
    assert len(utts) == 12 and re.fullmatch(r"GS\d{3}-\d{4}", utts[0].id)
    x = read_wav(utts[0].wav)
    assert len(x) > 22050 // 2 and np.abs(x).max() > 1000  # at least half a second of real sound


def test_cached_corpus_is_reused(tmp_path):
    from hw2.q3.standin import ensure_standin

    p1, _ = ensure_standin(4, 1, root=tmp_path)
    stamp = (p1 / "metadata.csv").stat().st_mtime_ns
    p2, _ = ensure_standin(4, 1, root=tmp_path)
    assert p1 == p2 and (p2 / "metadata.csv").stat().st_mtime_ns == stamp
    p3, _ = ensure_standin(4, 2, root=tmp_path)
    assert p3 != p1
    digest = hashlib.sha256((p1 / "metadata.csv").read_bytes()).hexdigest()
    assert digest != hashlib.sha256((p3 / "metadata.csv").read_bytes()).hexdigest()
