"""Q3: speech recognition on LJ Speech (or a generated stand-in) with an LSTM and an attention decoder.

Reads LJ Speech 1.1 when it is there (or generates an espeak-ng corpus in the same
layout), computes log-mel features, trains the recogniser once per decoder
(the recurrent and the attention text decoder, the same encoder), scores both on the
validation set every epoch and on the test set at the end, next to the untrained
models, measures how much each trained decoder depends on the audio, and writes loss
and score curves, a few transcripts and the per-clip test scores.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from hw2.errors import DataError, Hw2Error
from hw2.files import search_record
from hw2.processes import MemorySampler, can_fork, in_forked_processes
from hw2.q3.audio_probe import audio_dependence
from hw2.q3.ljspeech import find_ljspeech, read_metadata, search_places, split_by_index
from hw2.q3.model import ASRConfig, build_model
from hw2.q3.standin import ensure_standin, standin_dir, standin_params
from hw2.q3.text_metrics import (mean_scores, prediction_string, reference_string, score_pair, similarity_breakdown,
                                 transcript_words)
from hw2.q3.tokenizer import DECODER_LEN, MAX_CHARS, VOCAB_SIZE, decode, strip_special
from hw2.q3.training import LABEL_SMOOTHING, SpeechSet, TrainConfig, evaluate, load_speech_set, train
from hw2.stats import combine_metrics, seed_list
from pipeline.runner import RunContext, main

NAME = "q3_asr"


@dataclass(frozen=True)
class Settings:
    """Q3's settings; the defaults are the course skeleton's (the homework profile; pipeline/profiles.py
    lists how the other profiles differ, and why)."""

    seed: int = 42
    n_seeds: int = 1  # train each decoder with seeds seed, seed+1, ... (profile <name>-seeds<N>)
    data: str = "auto"  # standin (generated espeak-ng corpus), ljspeech (real; error if absent), auto
    ljspeech_dir: str | None = None
    max_utterances: int | None = None
    corpus_size: int = 13100  # stand-in clips, split in the course's proportions
    corpus_seed: int = 0
    voices: list[str] = field(default_factory=lambda: ["en-us", "en-us+f2", "en-gb-x-rp+m3", "en+f4"])
    filterbank_rate: int = 16000  # the skeleton built its mel filterbank for 16 kHz (a bug kept here)
    decoders: list[str] = field(default_factory=lambda: ["lstm", "attention"])
    width: int = 200
    heads: int = 2
    encoder_blocks: int = 2  # the skeleton runs 2 (the handout says 4)
    mlp_width: int = 400
    epochs: int = 15
    batch_size: int = 64
    eval_batch_size: int = 16
    learning_rate: float = 1e-3
    lr_schedule: str = "epoch"  # warm-up/decay updated per "epoch" (skeleton) or per "step"
    pad_to_frames: int | None = 2754  # None: pad batches to their longest clip, with masks
    length_buckets: bool = False
    trim_targets: bool = False  # training runs the decoder only up to each batch's longest transcript
    val_clips: int | None = None  # validate every epoch on the first N validation clips (None: all)
    tracked_clips: int = 2  # validation clips whose transcripts are recorded after every epoch
    parallel_decoders: bool = False  # on a CPU with 2+ cores, the decoders train side by side, one core each
    probe_clips: int | None = None  # test clips heard with other audio and silence (None: all; not in the handout)
    max_decode_steps: int = DECODER_LEN
    examples: int = 5


DECODER_TITLES = {"lstm": "LSTM decoder", "attention": "attention decoder"}

# Reference constants, not results of this project: the test scores of the course skeleton's
# published runs (students' runs of the course's hw2-q3 notebook, IST Deep Learning 2023/24) on real
# LJ Speech 1.1 (width 200, 15 epochs on 9,825 clips).  The LSTM numbers were bit-identical across
# several runs; the attention numbers ranged over 0.764-0.766 / 0.865-0.866 / 0.632-0.634 / 1.160
# (the middle is given).  The report shows them for scale only.
PUBLISHED = {
    "lstm": {"jaccard": 0.7149, "cosine": 0.8324, "damerau_levenshtein": 0.5087, "loss": 1.1828},
    "attention": {"jaccard": 0.765, "cosine": 0.8655, "damerau_levenshtein": 0.633, "loss": 1.160},
}
PUBLISHED_SOURCE = ("test results of the course skeleton's published runs on real LJ Speech 1.1 (width 200, "
                    "15 epochs, 9,825 training clips)")
PER_CLIP_DIGITS = 6  # per-clip scores are stored rounded (they feed paired bootstraps, not tables)

# oneDNN (the CPU convolutions) keeps one compiled primitive per input shape, up to 1,024 by
# default; batches of every length fill it and each training process grows by about 300 MB.
# Read when oneDNN is first used, so set before training (a value set outside wins).
ONEDNN_CACHE_CAPACITY = "8"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data

def data_fingerprint(cfg: Settings) -> dict:
    """Return what identifies the data this config would read: the real corpus's metadata hash and the sizes of
    the WAVs it would use, or the stand-in's settings."""
    if cfg.data in ("ljspeech", "auto"):
        try:
            root = find_ljspeech(cfg.ljspeech_dir)
        except DataError:
            root = None
        if root is not None:
            try:
                wavs = [u.wav for u in read_metadata(root, cfg.max_utterances, check_files=False)]
            except Hw2Error:  # the run itself reports what is wrong
                wavs = []
            sizes = [w.stat().st_size for w in wavs if w.is_file()]
            return {"ljspeech_metadata_sha256": hashlib.sha256((root / "metadata.csv").read_bytes()).hexdigest(),
                    "ljspeech_wavs": len(sizes), "ljspeech_wav_bytes": sum(sizes),
                    "max_utterances": cfg.max_utterances}
        if cfg.data == "ljspeech":
            return {"ljspeech_metadata_sha256": None}
    params = standin_params(cfg.corpus_size, cfg.corpus_seed, cfg.voices)
    return {"standin": params, "standin_dir": standin_dir(params).name}


DATA_REQUESTS = {"auto": "auto", "ljspeech": "real", "standin": "standin"}  # setting -> what search_record records


def open_corpus(cfg: Settings, progress: bool) -> tuple[dict, dict]:
    """Return (corpus description, utterances per split): real LJ Speech, or the generated stand-in.

    The description's ``search`` block records where LJ Speech was looked for, whether it
    was found, and which corpus was used and why.
    """
    source = cfg.data
    if source not in DATA_REQUESTS:
        raise Hw2Error(f"q3_asr: data must be standin, ljspeech or auto, not {source!r}")
    places = search_places(cfg.ljspeech_dir)
    root = None
    if source in ("ljspeech", "auto"):
        root = find_ljspeech(cfg.ljspeech_dir)
        if root is None and source == "ljspeech":
            where = ", ".join(str(p.path) for p in places)
            raise DataError(places[-1].path, f"LJ Speech 1.1 not found (looked in {where}); fetch it with "
                            "`make data DATASET=ljspeech`, or unpack it there or set HW2_DATA_DIR, "
                            "or use --set data=standin")
    if root is not None:
        utterances = read_metadata(root, cfg.max_utterances)
        corpus = {"name": "LJ Speech 1.1", "source": "ljspeech", "path": str(root), "voices": ["one reader (LJ)"],
                  "generated": False}
    else:
        t0 = time.perf_counter()
        root, summary = ensure_standin(cfg.corpus_size, cfg.corpus_seed, cfg.voices, progress=progress)
        utterances = read_metadata(root)
        corpus = {"name": "generated LJ Speech stand-in (espeak-ng)", "source": "standin", "path": root.name,
                  "voices": summary["params"]["voices"], "voice_counts": summary["voice_counts"],
                  "rate_range_wpm": summary["params"]["rate_range"],
                  "pitch_range": summary["params"]["pitch_range"],
                  "hours": summary["hours"], "mean_clip_s": summary["mean_clip_s"],
                  "generated": True, "ensure_s": time.perf_counter() - t0}
    try:
        splits = split_by_index(utterances)
    except Hw2Error as exc:
        if corpus["generated"]:
            asked = f" (corpus_size={cfg.corpus_size})"
        else:
            asked = f" (max_utterances={cfg.max_utterances})" if cfg.max_utterances is not None else ""
        raise Hw2Error(f"q3_asr: {corpus['name']} at {root}{asked}: {exc}") from None
    corpus["clips"] = len(utterances)
    corpus["split"] = {k: len(v) for k, v in splits.items()}
    corpus["example_texts"] = [u.text for u in utterances[:3]]
    corpus["search"] = search_record("LJ Speech 1.1", DATA_REQUESTS[source], places,
                                     None if corpus["generated"] else root, root if corpus["generated"] else None)
    return corpus, splits


# ----------------------------------------------------------------------------- figures

def plot_losses(histories: dict[str, list[dict]]):
    """Return a figure of training and validation loss over the transcript positions, per epoch and decoder."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, (name, hist) in enumerate(histories.items()):
        epochs = [h["epoch"] for h in hist]
        ax.plot(epochs, [h["train_text_loss"] for h in hist], color=f"C{i}",
                label=f"{DECODER_TITLES[name]}, training")
        ax.plot(epochs, [h["val_text_loss"] for h in hist], color=f"C{i}", ls="--",
                label=f"{DECODER_TITLES[name]}, validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy over the transcript\n(label smoothing 0.1)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_scores(histories: dict[str, list[dict]]):
    """Return a figure of the validation scores per epoch (three similarities and CER) for each decoder."""
    import matplotlib.pyplot as plt

    metrics = [("jaccard", "Jaccard"), ("cosine", "cosine"), ("damerau_levenshtein", "Damerau-Levenshtein"),
               ("cer", "character error rate")]
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.0))
    for ax, (key, title) in zip(axes, metrics):
        for i, (name, hist) in enumerate(histories.items()):
            ax.plot([h["epoch"] for h in hist], [h["val_scores"][key] for h in hist], color=f"C{i}",
                    marker=".", label=DECODER_TITLES[name])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[-1].set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- one decoder

def rounded(values: list, digits: int = PER_CLIP_DIGITS) -> list:
    """Return per-clip values with floats rounded (bools and ints unchanged)."""
    return [round(v, digits) if isinstance(v, float) else v for v in values]


def per_clip_record(result: dict) -> dict[str, list]:
    """Return ``evaluate``'s per-clip lists rounded for results.json."""
    return {key: rounded(values) for key, values in result["per_clip"].items()}


def train_and_test(sets: dict[str, SpeechSet], name: str, seed: int, cfg: Settings, train_cfg: TrainConfig,
                   model_cfg: ASRConfig, device: torch.device, ctx: RunContext, between_steps: Any) -> tuple:
    """Train decoder ``name`` with ``seed`` and return (model, history, test evaluation)."""
    model = build_model(model_cfg, name, seed)
    history = train(model, sets["train"], sets["val"], train_cfg, device, seed, ctx.progress, log,
                    ctx.checkpoints, f"q3-{name}-seed{seed}", between_steps, transcript_words(sets["train"].texts))
    test = evaluate(model, sets["test"], cfg.eval_batch_size, device, cfg.pad_to_frames, cfg.max_decode_steps)
    log(f"{name} seed {seed} test: loss {test['loss']:.3f} "
        + " ".join(f"{k} {v:.3f}" for k, v in test["scores"].items()))
    return model, history, test


def decoder_job(sets: dict[str, SpeechSet], name: str, cfg: Settings, train_cfg: TrainConfig,
                model_cfg: ASRConfig, device: torch.device, ctx: RunContext, between_steps: Any) -> dict:
    """Evaluate the untrained model, train decoder ``name`` (every seed), test it and probe its use of the
    audio; return its results record, its test transcripts, and what this process spent."""
    seeds = seed_list(cfg.seed, cfg.n_seeds)
    t0 = time.perf_counter()
    untrained = evaluate(build_model(model_cfg, name, seeds[0]).to(device), sets["test"], cfg.eval_batch_size,
                         device, cfg.pad_to_frames, cfg.max_decode_steps)
    timings = {"untrained_test_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    model, history, test = train_and_test(sets, name, seeds[0], cfg, train_cfg, model_cfg, device, ctx,
                                          between_steps)
    timings["train_and_test_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    audio = audio_dependence(model, sets["test"], test, sets["train"].texts, cfg.eval_batch_size, device,
                             cfg.filterbank_rate, cfg.seed, cfg.max_decode_steps, cfg.pad_to_frames,
                             cfg.probe_clips)
    timings["audio_probe_s"] = time.perf_counter() - t0
    per_seed = [{"loss": test["loss"], "text_loss": test["text_loss"], **test["scores"]}]
    for extra in seeds[1:]:  # repeated runs (profile <name>-seedsN): only their test scores are kept
        log(f"{name}: seed {extra} ({len(per_seed) + 1} of {len(seeds)})")
        _, _, out = train_and_test(sets, name, extra, cfg, train_cfg, model_cfg, device, ctx, between_steps)
        per_seed.append({"loss": out["loss"], "text_loss": out["text_loss"], **out["scores"]})
    mean, sd = combine_metrics(per_seed)
    record = {
        "title": DECODER_TITLES[name],
        "parameters": model.num_parameters(),
        "history": history,  # of the first seed
        "test": mean,  # the mean over the seeds (the one run's scores when there is one seed)
        "test_sd": sd if len(seeds) > 1 else {},
        "test_per_seed": per_seed,
        "untrained": {"loss": untrained["loss"], "text_loss": untrained["text_loss"], **untrained["scores"]},
        "per_clip": {"trained": per_clip_record(test), "untrained": per_clip_record(untrained)},
        "audio": {**audio, "own": {**audio["own"], "per_clip_text_loss": rounded(audio["own"]["per_clip_text_loss"])},
                  "other": {**audio["other"], "per_clip_text_loss": rounded(audio["other"]["per_clip_text_loss"]),
                            "per_clip_cer": rounded(audio["other"]["per_clip_cer"])},
                  "silence": {**audio["silence"],
                              "per_clip_text_loss": rounded(audio["silence"]["per_clip_text_loss"])}},
        "epoch_time_s": sum(h["train_time_s"] + h["val_time_s"] for h in history) / len(history),
        "timings": timings,
        "threads": torch.get_num_threads(),
    }
    return {"record": record, "test_decoded": test["decoded"], "untrained_decoded": untrained["decoded"]}


def forked_decoder_job(**job: Any) -> dict:
    """Run ``decoder_job`` in a forked process; add what this process spent and the checkpoints it resumed."""
    out = decoder_job(**job)
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process only (counters restart at fork)
    out["record"]["process"] = {"cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}
    out["resumed"] = list(job["ctx"].checkpoints.resumed)
    return out


def run_decoders(ctx: RunContext, sets: dict[str, SpeechSet], train_cfg: TrainConfig,
                 model_cfg: ASRConfig) -> tuple[dict[str, dict], bool]:
    """Run ``decoder_job`` for every decoder; return the outcomes by name and whether they ran side by side.

    Side by side (``parallel_decoders`` on a CPU with a core per decoder, where the platform can
    fork): one forked process per decoder with one torch thread each; they ignore the ``JOBS=N``
    thread share, which would hand each of them the cores its sibling uses.
    """
    cfg = ctx.config
    jobs = [dict(sets=sets, name=name, cfg=cfg, train_cfg=train_cfg, model_cfg=model_cfg, device=ctx.device,
                 ctx=ctx) for name in cfg.decoders]
    side_by_side = (cfg.parallel_decoders and ctx.device.type == "cpu" and len(jobs) > 1 and can_fork()
                    and torch.get_num_threads() >= len(jobs))
    if not side_by_side:
        return {job["name"]: decoder_job(**job, between_steps=ctx.between_steps) for job in jobs}, False
    outcomes = in_forked_processes(forked_decoder_job, [dict(job, between_steps=None) for job in jobs])
    for out in outcomes:  # the children's checkpointers were copies: record what they resumed here
        ctx.checkpoints.resumed.extend(n for n in out["resumed"] if n not in ctx.checkpoints.resumed)
    return dict(zip(cfg.decoders, outcomes)), True


# ----------------------------------------------------------------------------- the run

def run(ctx: RunContext) -> dict:
    """Read or generate the corpus, train and test both decoders, and return the results, with the memory
    this process and its decoder processes held."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", ONEDNN_CACHE_CAPACITY)
    with MemorySampler() as sampler:
        results = train_and_test_both(ctx)
    results["memory"] = memory_record(results["decoders"], results["training"]["side_by_side"], sampler.peaks())
    return results


def train_and_test_both(ctx: RunContext) -> dict:
    """Read or generate the corpus, train and test every decoder, and return the results."""
    cfg = ctx.config
    t_start, load_start = time.perf_counter(), os.getloadavg()
    timings: dict[str, Any] = {}

    t0 = time.perf_counter()
    corpus, splits = open_corpus(cfg, ctx.progress)
    timings["corpus_s"] = time.perf_counter() - t0
    log(f"q3: {corpus['name']}, {corpus['clips']} clips, split {corpus['split']}")
    t0 = time.perf_counter()
    sets = {name: load_speech_set(utts, cfg.filterbank_rate, ctx.progress, desc=f"{name} features")
            for name, utts in splits.items()}
    timings["features_s"] = time.perf_counter() - t0
    corpus["hours_per_split"] = {name: data.seconds() / 3600 for name, data in sets.items()}
    corpus["train_words"] = len(transcript_words(sets["train"].texts))  # distinct words of the training transcripts

    train_cfg, model_cfg = training_configs(cfg, sets)
    t0 = time.perf_counter()
    outcomes, side_by_side = run_decoders(ctx, sets, train_cfg, model_cfg)
    timings["decoders_s"] = time.perf_counter() - t0
    decoders = {name: out["record"] for name, out in outcomes.items()}
    histories = {name: d["history"] for name, d in decoders.items()}
    figures = {
        "loss": ctx.save_figure(plot_losses(histories), "q3_loss.png"),
        "val_scores": ctx.save_figure(plot_scores(histories), "q3_val_scores.png"),
    }
    examples = pick_examples(sets["test"], outcomes, cfg.examples, cfg.seed)
    references = [decode(t) for t in sets["test"].targets]
    timings["total_s"] = time.perf_counter() - t_start
    timings["load_average_start"], timings["load_average_end"] = list(load_start), list(os.getloadavg())
    return {
        "corpus": corpus,
        "model": model_record(model_cfg),
        "training": training_record(cfg, ctx.device, sets, train_cfg, side_by_side),
        "decoders": decoders,
        "examples": examples,
        "worked_example": worked_example(examples),
        "perfect_transcript": mean_scores([(ref, ref) for ref in references]),  # what an exact transcript scores
        "label_smoothing": LABEL_SMOOTHING,
        "loss_floor": label_smoothing_floor(),
        "published": PUBLISHED,
        "published_source": PUBLISHED_SOURCE,
        "figures": figures,
        "timings": {**timings, "cpu_s": cpu_seconds()},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "reproducibility": reproducibility(cfg, corpus, ctx.device, side_by_side),
    }


def training_configs(cfg: Settings, sets: dict[str, SpeechSet]) -> tuple[TrainConfig, ASRConfig]:
    """Return the training and model configurations of ``cfg`` (the model sized for the longest clip)."""
    longest = int(max(int(d.lengths.max()) for d in sets.values()))
    train_cfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, eval_batch_size=cfg.eval_batch_size,
                            learning_rate=cfg.learning_rate, lr_schedule=cfg.lr_schedule,
                            pad_to_frames=cfg.pad_to_frames, length_buckets=cfg.length_buckets,
                            trim_targets=cfg.trim_targets, val_clips=cfg.val_clips,
                            tracked_clips=tracked_clips(len(sets["val"].first(cfg.val_clips)), cfg.tracked_clips,
                                                        cfg.seed),
                            max_decode_steps=cfg.max_decode_steps)
    model_cfg = ASRConfig(width=cfg.width, heads=cfg.heads, encoder_blocks=cfg.encoder_blocks,
                          mlp_width=cfg.mlp_width, max_frames=max(cfg.pad_to_frames or 0, longest))
    return train_cfg, model_cfg


def tracked_clips(n_val: int, count: int, seed: int) -> tuple[int, ...]:
    """Return the validation clips (indices, drawn with ``seed``) whose transcripts are kept after every epoch."""
    return tuple(sorted(random.Random(seed).sample(range(n_val), min(count, n_val))))


def model_record(model_cfg: ASRConfig) -> dict:
    """Return the model's sizes for results.json, with the facts the report quotes about them."""
    return {**model_cfg.to_dict(), "norm": "pre-norm (skeleton)", "handout_encoder_blocks": 4,
            "max_chars": MAX_CHARS, "target_positions": DECODER_LEN,
            "lstm_state_size": 2 * model_cfg.width}  # the LSTM carries h and c, each of the width


def training_record(cfg: Settings, device: torch.device, sets: dict[str, SpeechSet], train_cfg: TrainConfig,
                    side_by_side: bool) -> dict:
    """Return how training ran: padding, validation clips, tracked clips, processes and threads."""
    val = sets["val"].first(cfg.val_clips)
    return {
        "padding": "fixed" if cfg.pad_to_frames else "batch",
        "pad_to_frames": cfg.pad_to_frames,
        "masks": cfg.pad_to_frames is None,
        "filterbank_rate": cfg.filterbank_rate,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "seeds": seed_list(cfg.seed, cfg.n_seeds),
        "trim_targets": cfg.trim_targets,
        "val_clips": len(val),
        "val_total": len(sets["val"]),
        "tracked": [{"id": val.ids[i], "reference": strip_special(val.targets[i])}  # as scored
                    for i in train_cfg.tracked_clips],
        "side_by_side": side_by_side,
        "processes": len(cfg.decoders) if side_by_side else 1,
        "threads_per_decoder": 1 if side_by_side else torch.get_num_threads(),
    }


def pick_examples(test_set: SpeechSet, outcomes: dict[str, dict], count: int, seed: int) -> list[dict]:
    """Return ``count`` test clips drawn with ``seed``: the reference, and each trained and untrained transcript."""
    index = sorted(random.Random(seed).sample(range(len(test_set)), min(count, len(test_set))))
    examples = []
    for i in index:
        ref = decode(test_set.targets[i])
        row = {"id": test_set.ids[i], "reference": reference_string(ref).rstrip(">"), "transcripts": {},
               "scores": {}, "untrained": {}}
        for name, out in outcomes.items():
            row["transcripts"][name] = prediction_string(out["test_decoded"][i])
            row["scores"][name] = score_pair(ref, out["test_decoded"][i])
            raw = out["untrained_decoded"][i]
            row["untrained"][name] = {"text": prediction_string(raw), "ended": ">" in raw[1:]}
        examples.append(row)
    return examples


def worked_example(examples: list[dict]) -> dict:
    """Return the three similarities of one transcript spelled out: the drawn (clip, decoder) pair with the
    median Damerau-Levenshtein score."""
    pairs = sorted(((e["scores"][n]["damerau_levenshtein"], e["id"], n) for e in examples for n in e["scores"]))
    _, clip, decoder = pairs[len(pairs) // 2]
    chosen = next(e for e in examples if e["id"] == clip)
    out = similarity_breakdown(chosen["reference"] + ">", chosen["transcripts"][decoder])
    out.update({"id": clip, "decoder": decoder})
    return out


def label_smoothing_floor(smoothing: float = LABEL_SMOOTHING, classes: int = VOCAB_SIZE) -> float:
    """Return the lowest possible label-smoothed cross-entropy: the entropy of the smoothed target."""
    on, off = 1 - smoothing + smoothing / classes, smoothing / classes
    return -(on * math.log(on) + (classes - 1) * off * math.log(off))


def cpu_seconds() -> float:
    """Return the CPU time (user + system) of this process and of its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def memory_record(decoders: dict[str, dict], side_by_side: bool, sampled: dict) -> dict:
    """Return the memory the run held: the sampled peak of all its processes together, and each one's peak.

    ``sampled`` is ``MemorySampler.peaks()``: the peak over samples of the summed PSS of this
    process and its decoder processes (shared pages counted once), and of their summed RSS
    (shared pages counted in each).  Each process's own peak RSS comes from the kernel.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = {n: d["process"]["peak_rss_mb"] for n, d in decoders.items()} if side_by_side else {}
    return {"all_processes_peak_pss_mb": sampled["pss_mb"], "all_processes_peak_rss_mb": sampled["rss_mb"],
            "sample_interval_s": sampled["interval_s"], "main_peak_rss_mb": own, "decoder_peak_rss_mb": children}


def reproducibility(cfg: Settings, corpus: dict[str, Any], device: torch.device, side_by_side: bool) -> dict[str, str]:
    """The checklist entries for the report's appendix, written from the settings and corpus used."""
    split = corpus.get("split", {})
    seeds = ", ".join(str(s) for s in seed_list(cfg.seed, cfg.n_seeds))
    return {
        "data": (f"{corpus.get('name', 'corpus')}, {corpus.get('clips', '?')} clips split by index into "
                 f"{split.get('train', '?')} / {split.get('val', '?')} / {split.get('test', '?')} "
                 "(train / validation / test) in the course's proportions"),
        "hyperparameters": (f"width {cfg.width}, {cfg.encoder_blocks} encoder blocks, {cfg.heads} heads, "
                            f"AdamW at {cfg.learning_rate}, batch {cfg.batch_size}, {cfg.epochs} epochs: "
                            "set in pipeline/profiles.py to fit the time budget, not tuned on the test set"),
        "seeds": (f"seed {cfg.seed} for weights and batch order, corpus seed {cfg.corpus_seed}; "
                  "one run per decoder, so no spread over seeds is reported (make report SEEDS=3 measures it)"
                  if cfg.n_seeds == 1 else
                  f"each decoder trained with seeds {seeds} (weights and batch order), corpus seed "
                  f"{cfg.corpus_seed}; test scores are mean and standard deviation over the seeds, curves and "
                  "example transcripts come from the first seed"),
        "compute": (f"{device}, the two decoders in two processes of one thread each" if side_by_side
                    else f"{device}, {torch.get_num_threads()} threads"),
    }


if __name__ == "__main__":
    raise SystemExit(main(NAME, __doc__, run))
