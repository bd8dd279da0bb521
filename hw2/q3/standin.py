"""A generated speech corpus in exactly LJ Speech's layout, for running Q3 offline.

Sentences come from ``hw2.q3.sentences``; speech from espeak-ng (``hw2.q3.speech_synth``)
with several voices, each utterance at its own seeded rate and pitch.  The corpus is
written once under ``<data root>/LJSpeech-standin-<hash>/`` (``metadata.csv`` and
``wavs/ID.wav``, 16-bit mono 22,050 Hz), where the hash covers every parameter,
so ``hw2.q3.ljspeech`` reads it exactly as it reads the real corpus.  It is built in a
temporary folder and renamed into place, so an interrupted build leaves nothing
half-written.  Generation runs in one process in a fixed order, which makes the
files byte-for-byte reproducible.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from hw2.q3.ljspeech import SAMPLE_RATE, split_sizes, write_wav
from hw2.files import data_dir
from hw2.q3.sentences import digits_version, generate_sentences
from hw2.q3.speech_synth import Synthesizer, Voice

FORMAT_VERSION = 2
DEFAULT_VOICES = ("en-us", "en-us+f2", "en-gb-x-rp+m3", "en+f4")
RATE_RANGE = (165, 210)  # words per minute
PITCH_RANGE = (35, 65)
TAIL_S = 0.05  # silence kept after the last sound (espeak-ng's end pause is ~0.3 s)
MARKER = "standin.json"


def data_root() -> Path:
    """Return where generated corpora are cached: $HW2_DATA_DIR if set, else data/ in the repository."""
    return data_dir()


def generator_sha256() -> str:
    """Return a hash of the code that writes the corpus (grammar, synthesis, layout), so an edit regenerates it."""
    digest = hashlib.sha256()
    for module in ("sentences.py", "speech_synth.py", "standin.py"):
        digest.update((Path(__file__).parent / module).read_bytes())
    return digest.hexdigest()[:16]


def standin_params(size: int, seed: int, voices: tuple[str, ...] | list[str] = DEFAULT_VOICES) -> dict:
    """Return every parameter that determines the generated corpus (its cache key), the generator's code included."""
    try:
        engine = metadata.version("espeakng-loader")
    except metadata.PackageNotFoundError:
        engine = None
    return {
        "format_version": FORMAT_VERSION,
        "size": int(size),
        "seed": int(seed),
        "voices": list(voices),
        "rate_range": list(RATE_RANGE),
        "pitch_range": list(PITCH_RANGE),
        "sample_rate": SAMPLE_RATE,
        "tail_s": TAIL_S,
        "espeakng_loader": engine,
        "generator_sha256": generator_sha256(),
    }


def standin_dir(params: dict, root: Path | None = None) -> Path:
    """Return the cache folder for ``params``: ``<root>/LJSpeech-standin-<12 hex of their hash>``."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return (root or data_root()) / f"LJSpeech-standin-{digest}"


def utterance_voices(params: dict) -> list[Voice]:
    """Return the seeded voice (name, rate, pitch, range) of each utterance."""
    rng = random.Random(params["seed"] + 1)
    return [
        Voice(rng.choice(params["voices"]), rng.randint(*params["rate_range"]),
              rng.randint(*params["pitch_range"]), rng.randint(30, 70))
        for _ in range(params["size"])
    ]


def trim_tail(samples: np.ndarray, threshold: int = 300, keep: int = int(TAIL_S * SAMPLE_RATE)) -> np.ndarray:
    """Return ``samples`` without the silence after the last sample louder than ``threshold`` (``keep`` samples stay)."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    return samples[: int(loud[-1]) + 1 + keep] if len(loud) else samples


def clip_id(index: int, per_chapter: int = 400) -> str:
    """Return an LJ Speech-shaped ID, e.g. ``GS001-0001`` (chapter, clip)."""
    chapter, clip = divmod(index, per_chapter)
    return f"GS{chapter + 1:03d}-{clip + 1:04d}"


def write_standin(params: dict, target: Path, progress: bool = False) -> None:
    """Synthesise the corpus described by ``params`` into the (new, empty) folder ``target``."""
    sentences = generate_sentences(params["size"], params["seed"])
    voices = utterance_voices(params)
    (target / "wavs").mkdir(parents=True)
    synth = Synthesizer()
    lines = []
    durations = []
    items = enumerate(zip(sentences, voices))
    if progress:
        from tqdm import tqdm

        items = tqdm(items, total=len(sentences), desc="synthesising speech", unit="clip")
    for i, (text, voice) in items:
        uid = clip_id(i)
        samples = trim_tail(synth.synthesize(text, voice, seed=params["seed"] * 100_003 + i))
        write_wav(target / "wavs" / f"{uid}.wav", samples, SAMPLE_RATE)
        durations.append(len(samples) / SAMPLE_RATE)
        lines.append(f"{uid}|{digits_version(text)}|{text}")
    (target / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    n_train, n_val, n_test = split_sizes(len(lines))
    summary = {
        "params": params,
        "clips": len(lines),
        "split": {"train": n_train, "val": n_val, "test": n_test},
        "hours": sum(durations) / 3600,
        "mean_clip_s": sum(durations) / len(durations),
        "voice_counts": {v: sum(1 for x in voices if x.name == v) for v in params["voices"]},
    }
    (target / "README.txt").write_text(
        "A generated stand-in for LJ Speech 1.1 (same layout): sentences from hw2/q3/sentences.py,\n"
        "speech by espeak-ng (espeakng-loader) with voices " + ", ".join(params["voices"]) + ".\n"
        "metadata.csv: ID|transcript with digits|normalized transcript.  Made by hw2/q3/standin.py.\n",
        encoding="utf-8")
    (target / MARKER).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def ensure_standin(size: int, seed: int, voices=DEFAULT_VOICES, root: Path | None = None,
                   progress: bool = False) -> tuple[Path, dict]:
    """Return the folder of the generated corpus and its summary, generating it first if it is not cached."""
    params = standin_params(size, seed, voices)
    final = standin_dir(params, root)
    if not (final / MARKER).is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
        try:
            write_standin(params, tmp / "corpus", progress=progress)
            if final.exists():  # a stale folder without its marker: an earlier build was interrupted
                shutil.rmtree(final)
            try:
                os.rename(tmp / "corpus", final)
            except OSError:
                if not (final / MARKER).is_file():  # not another process winning the race
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    summary = json.loads((final / MARKER).read_text(encoding="utf-8"))
    return final, summary


def voice_description(summary: dict) -> list[dict]:
    """Return one dict per voice: espeak-ng name and how many clips it speaks."""
    return [{"voice": v, "clips": n} for v, n in summary["voice_counts"].items()]

