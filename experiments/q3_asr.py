"""Q3: speech recognition on LJ Speech (or a generated stand-in) with an LSTM and an attention decoder.

Reads LJ Speech 1.1 when it is there (or generates an espeak-ng corpus in the same
layout), computes log-mel features, trains the recogniser once per decoder
(the recurrent and the attention text decoder, the same encoder), scores both on the
validation set every epoch and on the test set at the end, next to the untrained
models, and writes loss and score curves plus a few transcripts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from typing import Any

import hashlib
import math
import random
import resource
import sys
import time

import torch

from pipeline.runner import RunContext, main
from hw2.q3.model import ASRConfig, build_model
from hw2.q3.training import LABEL_SMOOTHING, SpeechSet, TrainConfig, evaluate, load_speech_set, train
from hw2.errors import DataError, Hw2Error
from hw2.stats import combine_metrics, seed_list
from hw2.files import search_record
from hw2.q3.ljspeech import find_ljspeech, read_metadata, search_places, split_by_index
from hw2.q3.standin import ensure_standin, standin_dir, standin_params
from hw2.q3.text_metrics import mean_scores, prediction_string, reference_string, score_pair, similarity_breakdown
from hw2.q3.tokenizer import VOCAB_SIZE, decode

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
    max_decode_steps: int = 98
    examples: int = 5
DECODER_TITLES = {"lstm": "LSTM decoder", "attention": "attention decoder"}

# The course skeleton's published test results on real LJ Speech (SPEC, section Q3).
PUBLISHED = {
    "lstm": {"jaccard": 0.7149, "cosine": 0.8324, "damerau_levenshtein": 0.5087, "loss": 1.1828},
    "attention": {"jaccard": 0.765, "cosine": 0.8655, "damerau_levenshtein": 0.633, "loss": 1.160},
}


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
    """Return a figure of training and validation loss per epoch for each decoder."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, (name, hist) in enumerate(histories.items()):
        epochs = [h["epoch"] for h in hist]
        ax.plot(epochs, [h["train_loss"] for h in hist], color=f"C{i}", label=f"{DECODER_TITLES[name]}, training")
        ax.plot(epochs, [h["val_loss"] for h in hist], color=f"C{i}", ls="--", label=f"{DECODER_TITLES[name]}, validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (label smoothing 0.1)")
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


# ----------------------------------------------------------------------------- the run

def pick_examples(test_set: SpeechSet, outputs: dict[str, dict], count: int, seed: int) -> list[dict]:
    """Return ``count`` test utterances drawn with ``seed``: reference and every model's transcript and scores."""
    index = sorted(random.Random(seed).sample(range(len(test_set)), min(count, len(test_set))))
    examples = []
    for i in index:
        ref = outputs[next(iter(outputs))]["references"][i]
        row = {"id": test_set.ids[i], "reference": reference_string(ref).rstrip(">"), "transcripts": {}, "scores": {}}
        for name, out in outputs.items():
            row["transcripts"][name] = prediction_string(out["decoded"][i])
            row["scores"][name] = score_pair(ref, out["decoded"][i])
        examples.append(row)
    return examples


def worked_example(examples: list[dict], decoder: str) -> dict:
    """Return the three similarities of one example spelled out: the one with the median Damerau-Levenshtein score."""
    ranked = sorted(examples, key=lambda e: e["scores"][decoder]["damerau_levenshtein"])
    chosen = ranked[len(ranked) // 2]
    out = similarity_breakdown(chosen["reference"] + ">", chosen["transcripts"][decoder])
    out.update({"id": chosen["id"], "decoder": decoder})
    return out


def label_smoothing_floor(smoothing: float = LABEL_SMOOTHING, classes: int = VOCAB_SIZE) -> float:
    """Return the lowest possible label-smoothed cross-entropy: the entropy of the smoothed target."""
    on, off = 1 - smoothing + smoothing / classes, smoothing / classes
    return -(on * math.log(on) + (classes - 1) * off * math.log(off))


def run(ctx: RunContext) -> dict:
    cfg = ctx.config
    device = ctx.device
    seed = cfg.seed
    seeds = seed_list(cfg.seed, cfg.n_seeds)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    corpus, splits = open_corpus(cfg, ctx.progress)
    timings["corpus_s"] = time.perf_counter() - t0
    log(f"q3: {corpus['name']}, {corpus['clips']} clips, split {corpus['split']}")

    t0 = time.perf_counter()
    sets = {name: load_speech_set(utts, cfg.filterbank_rate, ctx.progress, desc=f"{name} features")
            for name, utts in splits.items()}
    timings["features_s"] = time.perf_counter() - t0
    for name, data in sets.items():
        corpus.setdefault("hours_per_split", {})[name] = data.seconds() / 3600
    longest = int(max(int(d.lengths.max()) for d in sets.values()))

    train_cfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, eval_batch_size=cfg.eval_batch_size,
                            learning_rate=cfg.learning_rate, lr_schedule=cfg.lr_schedule,
                            pad_to_frames=cfg.pad_to_frames, length_buckets=cfg.length_buckets)
    model_cfg = ASRConfig(width=cfg.width, heads=cfg.heads, encoder_blocks=cfg.encoder_blocks,
                          mlp_width=cfg.mlp_width, max_frames=max(cfg.pad_to_frames or 0, longest))
    decoders: dict[str, dict] = {}
    test_outputs: dict[str, dict] = {}
    untrained_outputs: dict[str, dict] = {}
    for name in cfg.decoders:
        t0 = time.perf_counter()
        untrained = evaluate(build_model(model_cfg, name, seed).to(device), sets["test"], cfg.eval_batch_size,
                             device, cfg.pad_to_frames, cfg.max_decode_steps)
        timings[f"{name}_untrained_test_s"] = time.perf_counter() - t0

        model = build_model(model_cfg, name, seed)
        t0 = time.perf_counter()
        history = train(model, sets["train"], sets["val"], train_cfg, device, seed, ctx.progress, log,
                        ctx.checkpoints, f"q3-{name}-seed{seed}", ctx.between_steps)
        timings[f"{name}_train_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        test = evaluate(model, sets["test"], cfg.eval_batch_size, device, cfg.pad_to_frames,
                        cfg.max_decode_steps)
        timings[f"{name}_test_s"] = time.perf_counter() - t0
        log(f"{name} test: loss {test['loss']:.3f} " + " ".join(f"{k} {v:.3f}" for k, v in test["scores"].items()))
        test_outputs[name], untrained_outputs[name] = test, untrained
        per_seed = [{"loss": test["loss"], **test["scores"]}]
        for extra in seeds[1:]:  # repeated runs (profile <name>-seedsN): only their test scores are kept
            log(f"{name}: seed {extra} ({len(per_seed) + 1} of {len(seeds)})")
            again = build_model(model_cfg, name, extra)
            train(again, sets["train"], sets["val"], train_cfg, device, extra, ctx.progress, log,
                  ctx.checkpoints, f"q3-{name}-seed{extra}", ctx.between_steps)
            out = evaluate(again, sets["test"], cfg.eval_batch_size, device, cfg.pad_to_frames,
                           cfg.max_decode_steps)
            per_seed.append({"loss": out["loss"], **out["scores"]})
        timings[f"{name}_seeds_s"] = time.perf_counter() - t0
        mean, sd = combine_metrics(per_seed)
        decoders[name] = {
            "title": DECODER_TITLES[name],
            "parameters": model.num_parameters(),
            "history": history,  # of the first seed
            "test": mean,  # the mean over the seeds (the one run's scores when there is one seed)
            "test_sd": sd if len(seeds) > 1 else {},
            "test_per_seed": per_seed,
            "untrained": {"loss": untrained["loss"], **untrained["scores"]},
            "epoch_time_s": sum(h["train_time_s"] + h["val_time_s"] for h in history) / len(history),
        }

    histories = {name: d["history"] for name, d in decoders.items()}
    figures = {
        "loss": ctx.save_figure(plot_losses(histories), "q3_loss.png"),
        "val_scores": ctx.save_figure(plot_scores(histories), "q3_val_scores.png"),
    }
    examples = pick_examples(sets["test"], test_outputs, cfg.examples, seed)
    untrained_examples = pick_examples(sets["test"], untrained_outputs, cfg.examples, seed)
    for row, raw in zip(examples, untrained_examples):
        row["untrained_transcripts"] = raw["transcripts"]
    best = max(decoders, key=lambda n: decoders[n]["test"]["damerau_levenshtein"])
    references = [decode(t) for t in sets["test"].targets]
    perfect = mean_scores([(ref, ref) for ref in references])  # what an exact transcript scores
    timings["total_s"] = time.perf_counter() - t_start
    return {
        "corpus": corpus,
        "model": {**model_cfg.to_dict(), "norm": "pre-norm (skeleton)",
                  "handout_encoder_blocks": 4},
        "training": {
            "padding": "fixed" if cfg.pad_to_frames else "batch",
            "pad_to_frames": cfg.pad_to_frames,
            "masks": cfg.pad_to_frames is None,
            "filterbank_rate": cfg.filterbank_rate,
            "device": str(device),
            "threads": torch.get_num_threads(),
            "seeds": seeds,
        },
        "decoders": decoders,
        "best_decoder": best,
        "examples": examples,
        "worked_example": worked_example(examples, best),
        "perfect_transcript": perfect,
        "label_smoothing": LABEL_SMOOTHING,
        "loss_floor": label_smoothing_floor(),
        "published": PUBLISHED,
        "figures": figures,
        "timings": timings,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "reproducibility": reproducibility(cfg, corpus, device),
    }


def reproducibility(cfg: Settings, corpus: dict[str, Any], device: torch.device) -> dict[str, str]:
    """The checklist entries for the report's appendix, written from the settings and corpus used."""
    split = corpus.get("split", {})
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
                  f"each decoder trained with seeds {', '.join(str(s) for s in seed_list(cfg.seed, cfg.n_seeds))} (weights and batch "
                  f"order), corpus seed {cfg.corpus_seed}; test scores are mean and standard deviation over "
                  "the seeds, curves and example transcripts come from the first seed"),
        "compute": f"{device}, {torch.get_num_threads()} threads",
    }


if __name__ == "__main__":
    raise SystemExit(main(NAME, __doc__, run))
