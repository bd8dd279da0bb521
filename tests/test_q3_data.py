"""Q3 data: the LJ Speech reader on tiny corpora in its exact layout, bad inputs, the split,
the sentence grammar, and the generated corpus (layout, determinism across processes)."""

from __future__ import annotations

import hashlib
import re
import struct
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from hw2.errors import DataError, Hw2Error
from hw2.q3.ljspeech import (find_ljspeech, inspect_wav, minimum_clips, read_metadata, read_wav, split_by_index,
                             split_sizes, write_wav)
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


def test_byte_order_mark_is_not_part_of_the_first_id(tmp_path):
    # bug caught: decoding as plain UTF-8 glues U+FEFF to the first ID, so "wavs/\ufeffLJ001-0001.wav: missing"
    folder = make_corpus(tmp_path, n=3)
    text = (folder / "metadata.csv").read_text(encoding="utf-8")
    (folder / "metadata.csv").write_text(text, encoding="utf-8-sig")
    assert (folder / "metadata.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    utts = read_metadata(folder)
    assert [u.id for u in utts] == ["LJ001-0001", "LJ001-0002", "LJ001-0003"]
    assert utts[0].wav == folder / "wavs" / "LJ001-0001.wav"


def test_blank_lines_are_skipped(tmp_path):
    # bug caught: a trailing blank line (or one in between) read as a line with 1 field rejects the whole corpus
    folder = make_corpus(tmp_path, n=3)
    lines = (folder / "metadata.csv").read_text(encoding="utf-8").splitlines()
    (folder / "metadata.csv").write_text(lines[0] + "\r\n\r\n" + "\n".join(lines[1:]) + "\n\n  \n",
                                         encoding="utf-8")
    utts = read_metadata(folder)
    assert [u.id for u in utts] == ["LJ001-0001", "LJ001-0002", "LJ001-0003"]
    assert [u.line for u in utts] == [1, 3, 4]  # line numbers still those of the file


def test_only_blank_lines_is_an_error(tmp_path):
    folder = make_corpus(tmp_path, n=1)
    (folder / "metadata.csv").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="lists no clips"):
        read_metadata(folder)


def partial_corpus(root: Path, listed: int, present: int) -> Path:
    """LJ Speech's full metadata.csv shape (``listed`` lines) with only the first ``present`` WAVs on disk."""
    folder = make_corpus(root, n=1)
    tone = read_wav(folder / "wavs" / "LJ001-0001.wav")[:200]
    lines = []
    for i in range(listed):
        uid = f"LJ{1 + i // 400:03d}-{1 + i % 400:04d}"
        lines.append(f"{uid}|Clip {i}|Clip {number_words(i % 1000)}")
        if i < present:
            write_wav(folder / "wavs" / f"{uid}.wav", tone)
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_missing_wavs_are_counted_in_one_line(tmp_path):
    # the real case: the full 13,100-line metadata.csv with 385 WAVs. Bug caught: naming only the first
    # missing WAV, which hides that 12,715 are missing.
    folder = partial_corpus(tmp_path, 13_100, 385)
    with pytest.raises(DataError) as err:
        read_metadata(folder)
    assert _one_line(err.value) == (
        f"{folder / 'wavs'}: 12,715 of the 13,100 WAV files listed in metadata.csv are missing: "
        "LJ001-0386.wav (line 386); LJ001-0387.wav (line 387); LJ001-0388.wav (line 388); and 12,712 more; "
        "the first 385 listed are all present (max_utterances=385 would use only those)")


def test_one_missing_wav_in_the_middle(tmp_path):
    folder = make_corpus(tmp_path, n=3)
    (folder / "wavs" / "LJ001-0002.wav").unlink()
    with pytest.raises(DataError) as err:
        read_metadata(folder)
    assert _one_line(err.value) == (f"{folder / 'wavs'}: 1 of the 3 WAV files listed in metadata.csv is missing: "
                                    "LJ001-0002.wav (line 2); the first one listed is present "
                                    "(max_utterances=1 would use only it)")
    (folder / "wavs" / "LJ001-0001.wav").unlink()
    with pytest.raises(DataError, match=r"2 of the 3 .* are missing: LJ001-0001.wav \(line 1\); "
                                        r"LJ001-0002.wav \(line 2\)$"):
        read_metadata(folder)  # no "first N present" hint when the first clip is missing


def test_max_utterances_is_applied_before_the_files_are_checked(tmp_path):
    # bug caught: every listed WAV checked before the cut, so max_utterances=385 did not help
    folder = partial_corpus(tmp_path, 13_100, 385)
    utts = read_metadata(folder, max_utterances=385)
    assert len(utts) == 385 and utts[-1].id == "LJ001-0385"
    with pytest.raises(DataError, match="1 of the 386 WAV files"):
        read_metadata(folder, max_utterances=386)


def write_riff(path: Path, fmt: bytes | None, data: bytes | None, extra: bytes = b"", riff: bytes = b"RIFF") -> None:
    """Write a RIFF/WAVE file from raw chunks, as other tools write them (optional extra chunks before data)."""
    body = b"WAVE" + extra
    if fmt is not None:
        body += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if data is not None:
        body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(riff + struct.pack("<I", len(body)) + body)


def pcm_fmt(channels: int = 1, rate: int = 22050, bits: int = 16, tag: int = 1) -> bytes:
    return struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)


BAD_WAVS = [  # (what to write, the message) -- each a file a real tool could leave behind
    ("text", "not a RIFF/WAVE file"),
    ("rifx", "not a RIFF/WAVE file"),
    ("8bit", "expected 16-bit samples, found 8-bit"),
    ("stereo", "expected mono, found 2 channels"),
    ("16khz", "expected 22050 Hz, found 16000 Hz"),
    ("float", "not integer PCM (format tag 0x0003; LJ Speech's WAVs are tag 0x0001)"),
    ("empty", "holds no samples"),
    ("truncated", "truncated: header says 1000 samples, file holds 900"),
    ("nofmt", "data chunk before any fmt chunk"),
    ("header_only", "no fmt chunk"),
]


def write_bad_wav(path: Path, kind: str) -> None:
    samples = np.arange(1000, dtype="<i2").tobytes()
    if kind == "text":
        path.write_bytes(b"<html>404 Not Found</html>")  # what a failed download saves
    elif kind == "rifx":
        write_riff(path, pcm_fmt(), samples, riff=b"RIFX")  # big-endian RIFF
    elif kind == "8bit":
        with wave.open(str(path), "wb") as wf:
            wf.setnchannels(1), wf.setsampwidth(1), wf.setframerate(22050), wf.writeframes(b"\x80" * 100)
    elif kind == "stereo":
        with wave.open(str(path), "wb") as wf:
            wf.setnchannels(2), wf.setsampwidth(2), wf.setframerate(22050), wf.writeframes(b"\0" * 400)
    elif kind == "16khz":
        write_wav(path, np.zeros(100, np.int16), 16000)
    elif kind == "float":
        write_riff(path, struct.pack("<HHIIHH", 3, 1, 22050, 22050 * 4, 4, 32), np.zeros(100, "<f4").tobytes())
    elif kind == "empty":
        write_wav(path, np.zeros(0, np.int16))
    elif kind == "truncated":
        write_riff(path, pcm_fmt(), samples)
        path.write_bytes(path.read_bytes()[:-200])  # a copy cut short
    elif kind == "nofmt":
        write_riff(path, None, samples)
    elif kind == "header_only":
        path.write_bytes(b"RIFF\x04\x00\x00\x00WAVE")


@pytest.mark.parametrize("kind, message", BAD_WAVS, ids=[k for k, _ in BAD_WAVS])
def test_bad_wav_is_one_line_naming_it(tmp_path, kind, message):
    path = tmp_path / "LJ001-0001.wav"
    write_bad_wav(path, kind)
    for check in (inspect_wav, read_wav):
        with pytest.raises(DataError) as err:
            check(path)
        assert _one_line(err.value) == f"{path}: {message}"


def test_wav_with_extra_chunks_is_read(tmp_path):
    # bug caught: assuming the 44-byte header of a plain WAV; real tools add LIST/INFO chunks (odd sizes padded)
    path = tmp_path / "x.wav"
    samples = (np.arange(300) * 7 - 1000).astype("<i2")
    fmt18 = pcm_fmt() + b"\0\0"  # cbSize field: an 18-byte fmt chunk
    body = b"WAVE" + b"LIST" + struct.pack("<I", 5) + b"INFOx\0" + b"fmt " + struct.pack("<I", 18) + fmt18
    body += b"data" + struct.pack("<I", samples.nbytes) + samples.tobytes()
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    np.testing.assert_array_equal(read_wav(path), samples)
    assert inspect_wav(path).frames == 300


def test_read_wav_matches_the_wave_module(tmp_path):
    path = tmp_path / "x.wav"
    samples = np.random.default_rng(0).integers(-32768, 32767, 5000).astype(np.int16)
    write_wav(path, samples)
    np.testing.assert_array_equal(read_wav(path), samples)
    with wave.open(str(path)) as wf:
        assert wf.getnframes() == inspect_wav(path).frames == 5000


def test_every_bad_wav_is_listed_before_any_audio_is_read(tmp_path, monkeypatch):
    # bug caught: a bad WAV found only during feature extraction, and only the first one
    folder = make_corpus(tmp_path, n=12)
    kinds = ["8bit", "text", "stereo", "empty", "16khz"]
    for i, kind in zip((2, 4, 5, 9, 11), kinds):
        write_bad_wav(folder / "wavs" / f"LJ001-{i:04d}.wav", kind)
    with pytest.raises(DataError) as err:
        read_metadata(folder)
    assert _one_line(err.value) == (
        f"{folder / 'wavs'}: 5 of the 12 WAV files are unusable: "
        "LJ001-0002.wav (line 2): expected 16-bit samples, found 8-bit; "
        "LJ001-0004.wav (line 4): not a RIFF/WAVE file; "
        "LJ001-0005.wav (line 5): expected mono, found 2 channels; and 2 more")
    assert read_metadata(folder, max_utterances=1)[0].id == "LJ001-0001"  # the cut comes first here too


def test_too_few_clips_for_the_split_is_one_line(tmp_path):
    # bug caught: max_utterances=2 left an empty test split and crashed in max() with a traceback
    from experiments.q3_asr import Settings, open_corpus

    folder = make_corpus(tmp_path, n=5)
    for n in (1, 2):
        with pytest.raises(Hw2Error) as err:
            open_corpus(Settings(data="ljspeech", ljspeech_dir=str(folder), max_utterances=n), False)
        sizes = " / ".join(str(k) for k in split_sizes(n))
        assert _one_line(err.value) == (
            f"q3_asr: LJ Speech 1.1 at {folder} (max_utterances={n}): {n} clip{'s' if n > 1 else ''} cannot be "
            f"split to train, validate and test: the split by index gives {sizes} (train / validation / test), "
            "and each split needs at least 1, so at least 3 clips are needed")
    corpus, splits = open_corpus(Settings(data="ljspeech", ljspeech_dir=str(folder), max_utterances=3), False)
    assert corpus["split"] == {"train": 1, "val": 1, "test": 1}
    assert minimum_clips() == 3 and min(split_sizes(3)) == 1


def _metadata_with_two_fields(folder: Path) -> tuple[list[str], str]:
    (folder / "metadata.csv").write_text("LJ001-0001|a\n", encoding="utf-8")
    return [], f"{folder / 'metadata.csv'}: expected 3 fields ID|raw|normalized, found 2 (line 1)"


def _two_clips(folder: Path) -> tuple[list[str], str]:
    return ["--set", "max_utterances=2"], (
        f"q3_asr: LJ Speech 1.1 at {folder} (max_utterances=2): 2 clips cannot be split to train, validate and "
        "test: the split by index gives 2 / 0 / 0 (train / validation / test), and each split needs at least 1, "
        "so at least 3 clips are needed")


def _two_bad_wavs(folder: Path) -> tuple[list[str], str]:
    write_bad_wav(folder / "wavs" / "LJ001-0002.wav", "truncated")
    write_bad_wav(folder / "wavs" / "LJ001-0003.wav", "float")
    return [], (f"{folder / 'wavs'}: 2 of the 3 WAV files are unusable: LJ001-0002.wav (line 2): truncated: header "
                "says 1000 samples, file holds 900; LJ001-0003.wav (line 3): not integer PCM (format tag 0x0003; "
                "LJ Speech's WAVs are tag 0x0001)")


@pytest.mark.parametrize("spoil", [_metadata_with_two_fields, _two_clips, _two_bad_wavs],
                         ids=["metadata", "max_utterances=2", "bad-wavs"])
def test_the_command_line_prints_a_data_error_as_one_line(tmp_path, spoil):
    # bugs caught: a traceback instead of one line, and a failed run leaving an empty results/quick/ behind
    folder = make_corpus(tmp_path, n=3)
    extra, message = spoil(folder)
    proc = subprocess.run([sys.executable, "-m", "experiments.q3_asr", "--profile", "quick", "--no-progress",
                           "--set", "data=ljspeech", "--set", f"ljspeech_dir={folder}", *extra,
                           "--results-dir", str(tmp_path / "res")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    err = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert err == [f"error: {message}"]
    assert "Traceback" not in proc.stderr and "features" not in proc.stderr
    assert not (tmp_path / "res").exists()


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
