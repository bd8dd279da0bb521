"""Reading LJ Speech 1.1 as it lies on disk, and the course's split.

Layout::

    LJSpeech-1.1/
        metadata.csv      # ID|raw transcript|normalized transcript, no header, UTF-8
        wavs/ID.wav       # 16-bit mono PCM, 22,050 Hz

The course splits by index: train 0-9,824, validation 9,825-10,479, test
10,480-13,099 (9,825 / 655 / 2,620).  A corpus of another size is split in the
same proportions.  Every problem with the files raises ``DataError`` naming the
file (and the metadata line), which the command line prints as one line.
"""

from __future__ import annotations

import os
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw2.errors import DataError
from hw2.files import data_dir

FOLDER_NAME = "LJSpeech-1.1"
SAMPLE_RATE = 22_050
COURSE_SPLIT = (9_825, 655, 2_620)  # train, validation, test
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Utterance:
    """One clip: its ID, normalized transcript, WAV path and metadata line number."""

    id: str
    text: str
    wav: Path
    line: int


# ----------------------------------------------------------------------------- finding it

def candidate_dirs(explicit: str | Path | None = None) -> list[Path]:
    """Return where LJ Speech is looked for, in order: explicit path, $HW2_DATA_DIR/LJSpeech-1.1, data/LJSpeech-1.1."""
    dirs = []
    if explicit:
        dirs.append(Path(explicit).expanduser())
    if os.environ.get("HW2_DATA_DIR"):
        dirs.append(Path(os.environ["HW2_DATA_DIR"]).expanduser() / FOLDER_NAME)
    dirs.append(data_dir(default=True) / FOLDER_NAME)
    return dirs


def find_ljspeech(explicit: str | Path | None = None) -> Path | None:
    """Return the first candidate folder holding a metadata.csv, or None.

    An explicit path that lacks metadata.csv is an error, not a reason to look elsewhere.
    """
    if explicit:
        root = Path(explicit).expanduser()
        if not (root / "metadata.csv").is_file():
            raise DataError(root / "metadata.csv", "not found (the LJ Speech folder given holds no metadata.csv)")
        return root
    for root in candidate_dirs():
        if (root / "metadata.csv").is_file():
            return root
    return None


# ----------------------------------------------------------------------------- reading

def read_metadata(root: str | Path) -> list[Utterance]:
    """Return the utterances listed in ``root/metadata.csv``, checking each line and that its WAV exists."""
    root = Path(root)
    path = root / "metadata.csv"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror})") from None
    utterances = []
    seen: dict[str, int] = {}
    for number, line_bytes in enumerate(raw.splitlines(), start=1):
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(path, f"not valid UTF-8 (line {number})") from None
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
        wav = root / "wavs" / f"{uid}.wav"
        if not wav.is_file():
            raise DataError(wav, f"missing (listed on line {number} of {path})")
        utterances.append(Utterance(uid, text, wav, number))
    if not utterances:
        raise DataError(path, "lists no clips")
    return utterances


def read_wav(path: str | Path, expected_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Return a 16-bit mono PCM WAV's samples as int16; any other format raises DataError."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as wf:
            channels, width, rate, frames = wf.getnchannels(), wf.getsampwidth(), wf.getframerate(), wf.getnframes()
            data = wf.readframes(frames)
    except FileNotFoundError:
        raise DataError(path, "missing") from None
    except (wave.Error, EOFError) as exc:
        raise DataError(path, f"not a readable PCM WAV file ({exc})") from None
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror or exc})") from None
    if width != 2:
        raise DataError(path, f"expected 16-bit samples, found {8 * width}-bit")
    if channels != 1:
        raise DataError(path, f"expected mono, found {channels} channels")
    if rate != expected_rate:
        raise DataError(path, f"expected {expected_rate} Hz, found {rate} Hz")
    if len(data) != 2 * frames:
        raise DataError(path, f"truncated: header says {frames} samples, file holds {len(data) // 2}")
    if frames == 0:
        raise DataError(path, "holds no samples")
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


def split_by_index(utterances: list[Utterance]) -> dict[str, list[Utterance]]:
    """Return the train/val/test lists, split by position in metadata.csv as the course does."""
    n_train, n_val, _ = split_sizes(len(utterances))
    return {
        "train": utterances[:n_train],
        "val": utterances[n_train:n_train + n_val],
        "test": utterances[n_train + n_val:],
    }
