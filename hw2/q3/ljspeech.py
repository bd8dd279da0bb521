"""Reading LJ Speech 1.1 as it lies on disk, and the course's split.

Layout::

    LJSpeech-1.1/
        metadata.csv      # ID|raw transcript|normalized transcript, no header, UTF-8
        wavs/ID.wav       # 16-bit mono PCM, 22,050 Hz

The course splits by index: train 0-9,824, validation 9,825-10,479, test
10,480-13,099 (9,825 / 655 / 2,620).  A corpus of another size is split in the
same proportions.  Every problem with the files raises ``DataError`` naming the
file (and the metadata line), which the command line prints as one line; a
problem shared by many files (missing or unusable WAVs) is one error that counts
them and names the first few.  Every WAV's header is checked before any audio is read.
"""

from __future__ import annotations

import codecs
import os
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from hw2.errors import DataError, Hw2Error
from hw2.files import Place, data_dir

FOLDER_NAME = "LJSpeech-1.1"
SAMPLE_RATE = 22_050
COURSE_SPLIT = (9_825, 655, 2_620)  # train, validation, test
CLIPS = sum(COURSE_SPLIT)  # 13,100 clips in LJ Speech 1.1
SPLITS = ("train", "val", "test")
MIN_CLIPS_PER_SPLIT = 1  # training, validation and testing each need at least this many clips
NAMED_IN_ERRORS = 3  # problems a one-line error names before saying how many more there are
WAVE_FORMAT_PCM = 0x0001


@dataclass(frozen=True)
class Utterance:
    """One clip: its ID, normalized transcript, WAV path and metadata line number."""

    id: str
    text: str
    wav: Path
    line: int


# ----------------------------------------------------------------------------- finding it

def search_places(explicit: str | Path | None = None) -> list[Place]:
    """Return where LJ Speech is looked for, in order, and whether each holds a metadata.csv.

    The order: the explicit folder (``ljspeech_dir``), $HW2_DATA_DIR/LJSpeech-1.1, data/LJSpeech-1.1.
    """
    places = []
    if explicit:
        places.append((Path(explicit).expanduser(), "ljspeech_dir"))
    if os.environ.get("HW2_DATA_DIR"):
        places.append((Path(os.environ["HW2_DATA_DIR"]).expanduser() / FOLDER_NAME, "HW2_DATA_DIR"))
    places.append((data_dir(default=True) / FOLDER_NAME, "default"))
    return [Place(path, origin, (path / "metadata.csv").is_file()) for path, origin in places]


def candidate_dirs(explicit: str | Path | None = None) -> list[Path]:
    """Return where LJ Speech is looked for, in order: explicit path, $HW2_DATA_DIR/LJSpeech-1.1, data/LJSpeech-1.1."""
    return [place.path for place in search_places(explicit)]


def find_ljspeech(explicit: str | Path | None = None) -> Path | None:
    """Return the first candidate folder holding a metadata.csv, or None.

    An explicit path that lacks metadata.csv is an error, not a reason to look elsewhere.
    """
    places = search_places(explicit)
    if explicit and not places[0].exists:
        raise DataError(places[0].path / "metadata.csv",
                        "not found (the LJ Speech folder given holds no metadata.csv)")
    return next((place.path for place in places if place.exists), None)


# ----------------------------------------------------------------------------- reading

def read_metadata(root: str | Path, max_utterances: int | None = None, check_files: bool = True,
                  expected_rate: int = SAMPLE_RATE) -> list[Utterance]:
    """Return the first ``max_utterances`` clips of ``root/metadata.csv`` (all when None).

    With ``check_files``, every WAV those clips name must exist and have a usable header
    (checked before any audio is read); all the problems are reported in one line.
    """
    root = Path(root)
    utterances = parse_metadata(root / "metadata.csv")
    if max_utterances is not None:
        utterances = utterances[:max(0, max_utterances)]
    if check_files:
        check_wavs_exist(root, utterances)
        check_wav_headers(root, utterances, expected_rate)
    return utterances


def check_layout(folder: str | Path, expect_clips: int = CLIPS) -> list[Utterance]:
    """Return the clips of an unpacked LJ Speech folder once its layout is checked: a metadata.csv listing
    ``expect_clips`` clips and, in wavs/, a usable WAV for each."""
    folder = Path(folder)
    if not (folder / "wavs").is_dir():
        raise DataError(folder / "wavs", "not found (the folder of WAV files)")
    utterances = parse_metadata(folder / "metadata.csv")
    if len(utterances) != expect_clips:
        raise DataError(folder / "metadata.csv", f"lists {len(utterances):,} clips, expected {expect_clips:,}")
    check_wavs_exist(folder, utterances)
    check_wav_headers(folder, utterances)
    return utterances


def parse_metadata(path: Path) -> list[Utterance]:
    """Return every clip listed in a metadata.csv (UTF-8, with or without a byte-order mark; blank lines skipped)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror})") from None
    raw = raw.removeprefix(codecs.BOM_UTF8)
    utterances = []
    seen: dict[str, int] = {}
    for number, line_bytes in enumerate(raw.splitlines(), start=1):
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(path, f"not valid UTF-8 (line {number})") from None
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 3:
            raise DataError(path, f"expected 3 fields ID|raw|normalized, found {len(fields)} (line {number})")
        uid, _, text = (f.strip() for f in fields)
        if not uid or "/" in uid or "\\" in uid or uid.startswith("."):
            raise DataError(path, f"bad clip ID {uid!r} (line {number})")
        if not text:
            raise DataError(path, f"empty normalized transcript for {uid} (line {number})")
        if uid in seen:
            raise DataError(path, f"clip ID {uid} repeated (lines {seen[uid]} and {number})")
        seen[uid] = number
        utterances.append(Utterance(uid, text, path.parent / "wavs" / f"{uid}.wav", number))
    if not utterances:
        raise DataError(path, "lists no clips")
    return utterances


def _named(problems: list[str]) -> str:
    """Return the first few problems joined, with how many more there are."""
    shown = "; ".join(problems[:NAMED_IN_ERRORS])
    rest = len(problems) - NAMED_IN_ERRORS
    return shown + (f"; and {rest:,} more" if rest > 0 else "")


def check_wavs_exist(root: Path, utterances: list[Utterance]) -> None:
    """Raise one DataError counting the WAVs listed but absent (naming the first few), if any are."""
    missing = [i for i, u in enumerate(utterances) if not u.wav.is_file()]
    if not missing:
        return
    n, total = len(missing), len(utterances)
    names = _named([f"{utterances[i].wav.name} (line {utterances[i].line})" for i in missing])
    hint = ""
    if missing[0] > 0:
        present = "the first one listed is present" if missing[0] == 1 else \
            f"the first {missing[0]:,} listed are all present"
        hint = f"; {present} (max_utterances={missing[0]} would use only {'it' if missing[0] == 1 else 'those'})"
    raise DataError(root / "wavs", f"{n:,} of the {total:,} WAV files listed in metadata.csv "
                                   f"{'is' if n == 1 else 'are'} missing: {names}{hint}")


def check_wav_headers(root: Path, utterances: list[Utterance], expected_rate: int = SAMPLE_RATE) -> None:
    """Raise one DataError listing every WAV whose header is unusable (count and first few), if any is."""
    bad = []
    for u in utterances:
        try:
            inspect_wav(u.wav, expected_rate)
        except DataError as exc:
            bad.append(f"{u.wav.name} (line {u.line}): {exc.problem}")
    if bad:
        n = len(bad)
        raise DataError(root / "wavs", f"{n:,} of the {len(utterances):,} WAV files "
                                       f"{'is' if n == 1 else 'are'} unusable: {_named(bad)}")


@dataclass(frozen=True)
class WavHeader:
    """What a WAV file's header says: format, and where its samples lie."""

    channels: int
    bits: int
    rate: int
    frames: int
    data_offset: int  # byte offset of the first sample


def inspect_wav(path: str | Path, expected_rate: int = SAMPLE_RATE) -> WavHeader:
    """Return the header of a 16-bit mono PCM WAV at ``expected_rate`` Hz with samples; anything else raises DataError.

    Reads only the RIFF chunk headers, never the samples.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            header = _riff_header(path, fh, size)
    except FileNotFoundError:
        raise DataError(path, "missing") from None
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror or exc})") from None
    if header.bits != 16:
        raise DataError(path, f"expected 16-bit samples, found {header.bits}-bit")
    if header.channels != 1:
        raise DataError(path, f"expected mono, found {header.channels} channels")
    if header.rate != expected_rate:
        raise DataError(path, f"expected {expected_rate} Hz, found {header.rate} Hz")
    if header.frames == 0:
        raise DataError(path, "holds no samples")
    held = (size - header.data_offset) // 2
    if held < header.frames:
        raise DataError(path, f"truncated: header says {header.frames} samples, file holds {held}")
    return header


def _riff_header(path: Path, fh: BinaryIO, size: int) -> WavHeader:
    """Walk a RIFF/WAVE file's chunks up to ``data``; return the PCM format and the data's place."""
    head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise DataError(path, "not a RIFF/WAVE file")
    fmt = None
    pos = 12
    while pos + 8 <= size:
        fh.seek(pos)
        chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
        if chunk_id == b"fmt ":
            body = fh.read(16)
            if len(body) < 16:
                raise DataError(path, "fmt chunk too short")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body)
            if tag != WAVE_FORMAT_PCM:
                raise DataError(path, f"not integer PCM (format tag {tag:#06x}; LJ Speech's WAVs are tag 0x0001)")
            fmt = (channels, bits, rate)
        elif chunk_id == b"data":
            if fmt is None:
                raise DataError(path, "data chunk before any fmt chunk")
            channels, bits, rate = fmt
            frame_bytes = max(1, channels * bits // 8)
            return WavHeader(channels, bits, rate, chunk_size // frame_bytes, pos + 8)
        pos += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    raise DataError(path, "no data chunk" if fmt else "no fmt chunk")


def read_wav(path: str | Path, expected_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Return a 16-bit mono PCM WAV's samples as int16; any other format raises DataError."""
    path = Path(path)
    header = inspect_wav(path, expected_rate)
    try:
        with open(path, "rb") as fh:
            fh.seek(header.data_offset)
            data = fh.read(2 * header.frames)
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror or exc})") from None
    if len(data) != 2 * header.frames:
        raise DataError(path, f"truncated: header says {header.frames} samples, file holds {len(data) // 2}")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def write_wav(path: str | Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write int16 ``samples`` as a 16-bit mono PCM WAV."""
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(np.asarray(samples, dtype="<i2").tobytes())


# ----------------------------------------------------------------------------- the split

def split_sizes(n: int) -> tuple[int, int, int]:
    """Return (train, val, test) sizes: the course's 9,825/655/2,620 for 13,100 clips, same proportions otherwise."""
    total = sum(COURSE_SPLIT)
    n_train = round(n * COURSE_SPLIT[0] / total)
    n_val = max(1, round(n * COURSE_SPLIT[1] / total)) if n >= 3 else 0
    n_train = min(n_train, n - n_val - (1 if n >= 3 else 0))
    return n_train, n_val, n - n_train - n_val


def minimum_clips(per_split: int = MIN_CLIPS_PER_SPLIT) -> int:
    """Return the fewest clips whose split gives every split at least ``per_split`` clips."""
    n = 1
    while min(split_sizes(n)) < per_split:
        n += 1
    return n


def split_by_index(utterances: list[Utterance]) -> dict[str, list[Utterance]]:
    """Return the train/val/test lists, split by position in metadata.csv as the course does.

    Raises Hw2Error when a split would hold fewer than MIN_CLIPS_PER_SPLIT clips.
    """
    n_train, n_val, n_test = split_sizes(len(utterances))
    if min(n_train, n_val, n_test) < MIN_CLIPS_PER_SPLIT:
        raise Hw2Error(f"{len(utterances):,} clip{'' if len(utterances) == 1 else 's'} cannot be split to train, "
                       f"validate and test: the split by index gives {n_train} / {n_val} / {n_test} "
                       f"(train / validation / test), and each split needs at least {MIN_CLIPS_PER_SPLIT}, "
                       f"so at least {minimum_clips()} clips are needed")
    return {
        "train": utterances[:n_train],
        "val": utterances[n_train:n_train + n_val],
        "test": utterances[n_train + n_val:],
    }
