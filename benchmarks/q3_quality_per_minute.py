"""Q3 quality per CPU minute: test CER after each epoch against the CPU time spent, old and new settings.

Two recipes, run one after the other in this process (each decoder's training in the way
the recipe trains it):

* **old**: the default profile before issue #12: 2,400 clips, 12 epochs, the decoders one
  after the other on all of torch's threads, every target position trained, the whole
  validation set every epoch;
* **new**: the default profile now (pipeline/profiles.py): 3,600 clips, 13 epochs, the two
  decoders side by side in two processes of one thread each, decoder targets cut after each
  batch's longest transcript, a fixed 120-clip validation subset.

After every epoch the test set is decoded and scored; that evaluation is not counted in
the CPU time (it is the measurement, not the recipe).  The CPU time of an epoch is the
process's own CPU time (all its threads) for training and validation.  Prints a table
and writes a figure of test CER against cumulative CPU minutes, per decoder, and a JSON
file.  ``--epochs`` and ``--clips-scale`` shrink both recipes for a quick check.

On a machine whose cores other jobs use, set ``OMP_WAIT_POLICY=PASSIVE`` and expect the
wall times to stretch; CPU times stretch less.  Run
``.venv/bin/python benchmarks/q3_quality_per_minute.py --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402

from experiments.q3_asr import ONEDNN_CACHE_CAPACITY, Settings, training_configs  # noqa: E402
from hw2.processes import MemorySampler, can_fork, in_forked_processes  # noqa: E402
from hw2.q3.ljspeech import read_metadata, split_by_index  # noqa: E402
from hw2.q3.model import build_model  # noqa: E402
from hw2.q3.standin import ensure_standin  # noqa: E402
from hw2.q3.training import (SpeechSet, evaluate, load_speech_set, make_optimizer, train_epoch,  # noqa: E402
                             validation_record)
from pipeline.profiles import get_config  # noqa: E402

# The default profile before issue #12 (what results/default held), as changes to today's default.
OLD = {"corpus_size": 2400, "epochs": 12, "trim_targets": False, "val_clips": None, "parallel_decoders": False}


def recipes(epochs: int | None, clips_scale: float) -> dict[str, Settings]:
    """Return the old and new settings, optionally with fewer epochs and a smaller corpus."""
    new = get_config("q3_asr", "default", cls=Settings)
    out = {"old": dataclasses.replace(new, **OLD), "new": new}
    for name, cfg in out.items():
        out[name] = dataclasses.replace(cfg, corpus_size=max(48, round(cfg.corpus_size * clips_scale)),
                                        epochs=epochs or cfg.epochs)
    return out


def load_corpus(cfg: Settings) -> tuple[dict[str, SpeechSet], float]:
    """Return the corpus's splits as features, and the CPU seconds spent generating and reading them."""
    t0 = time.process_time()
    root, _ = ensure_standin(cfg.corpus_size, cfg.corpus_seed, cfg.voices)
    splits = split_by_index(read_metadata(root))
    sets = {name: load_speech_set(utts, cfg.filterbank_rate) for name, utts in splits.items()}
    return sets, time.process_time() - t0


def curve(sets: dict[str, SpeechSet], name: str, cfg: Settings, test_clips: int | None) -> list[dict]:
    """Train decoder ``name`` as ``cfg`` says; return, after each epoch, the cumulative CPU and wall seconds of
    training and validation, and the test scores (whose evaluation is not counted)."""
    train_cfg, model_cfg = training_configs(cfg, sets)
    device = torch.device("cpu")
    model = build_model(model_cfg, name, cfg.seed)
    optimizer = make_optimizer(model, train_cfg)
    rng = np.random.default_rng(cfg.seed)
    val, test = sets["val"].first(cfg.val_clips), sets["test"].first(test_clips)
    cpu = wall = 0.0
    rows = []
    for epoch in range(1, cfg.epochs + 1):
        c0, w0 = time.process_time(), time.perf_counter()
        losses = train_epoch(model, optimizer, sets["train"], train_cfg, epoch, rng, device)
        validation_record(model, val, train_cfg, device, epoch, losses, optimizer, 0.0)
        cpu, wall = cpu + time.process_time() - c0, wall + time.perf_counter() - w0
        scores = evaluate(model, test, cfg.eval_batch_size, device, cfg.pad_to_frames, cfg.max_decode_steps)["scores"]
        rows.append({"epoch": epoch, "cpu_s": cpu, "wall_s": wall, "test_cer": scores["cer"],
                     "test_wer": scores["wer"], "test_dl": scores["damerau_levenshtein"]})
        print(f"  {name:9s} epoch {epoch:2d}: {cpu / 60:5.2f} CPU min, test CER {scores['cer']:.3f}", flush=True)
    return rows


def run_recipe(label: str, cfg: Settings, test_clips: int | None) -> dict:
    """Run one recipe (both decoders, side by side or one after the other) and return its curves and costs."""
    print(f"{label}: {cfg.corpus_size} clips, {cfg.epochs} epochs, trim_targets={cfg.trim_targets}, "
          f"val_clips={cfg.val_clips}, parallel_decoders={cfg.parallel_decoders}", flush=True)
    with MemorySampler() as memory:
        sets, data_cpu = load_corpus(cfg)
        w0 = time.perf_counter()
        jobs = [dict(sets=sets, name=name, cfg=cfg, test_clips=test_clips) for name in cfg.decoders]
        if cfg.parallel_decoders and can_fork() and torch.get_num_threads() >= len(jobs):
            curves = in_forked_processes(curve, jobs)
        else:
            curves = [curve(**job) for job in jobs]
        wall = time.perf_counter() - w0
    return {"settings": dataclasses.asdict(cfg), "data_cpu_s": data_cpu, "decoders_wall_s": wall,
            "peak_memory_mb": memory.peaks()["pss_mb"], "test_clips": len(sets["test"].first(test_clips)),
            "curves": dict(zip(cfg.decoders, curves))}


def table(report: dict) -> str:
    """Return the summary table: per recipe and decoder, the CPU minutes, wall time and final test scores."""
    lines = [f"{'recipe':6s} {'decoder':9s} {'epochs':>6s} {'CPU min':>8s} {'+data':>6s} {'wall min':>8s} "
             f"{'test CER':>8s} {'WER':>6s} {'DL':>6s} {'peak MiB':>8s}"]
    for label, rec in report["recipes"].items():
        for name, rows in rec["curves"].items():
            last = rows[-1]
            lines.append(f"{label:6s} {name:9s} {last['epoch']:6d} {last['cpu_s'] / 60:8.2f} "
                         f"{rec['data_cpu_s'] / 60:6.2f} {rec['decoders_wall_s'] / 60:8.2f} {last['test_cer']:8.3f} "
                         f"{last['test_wer']:6.3f} {last['test_dl']:6.3f} {rec['peak_memory_mb'] or 0:8.0f}")
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    """Draw test CER against cumulative CPU minutes, one panel per decoder, one line per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    decoders = list(next(iter(report["recipes"].values()))["curves"])
    fig, axes = plt.subplots(1, len(decoders), figsize=(5.2 * len(decoders), 3.6), sharey=True)
    for ax, name in zip(np.atleast_1d(axes), decoders):
        for i, (label, rec) in enumerate(report["recipes"].items()):
            rows = rec["curves"][name]
            ax.plot([r["cpu_s"] / 60 for r in rows], [r["test_cer"] for r in rows], marker=".", color=f"C{i}",
                    label=f"{label}: {rec['settings']['corpus_size']:,} clips, {len(rows)} epochs")
        ax.set_title(f"{name} decoder", fontsize=10)
        ax.set_xlabel("cumulative CPU minutes (training and validation)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("test character error rate")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run both recipes, print the table, write the figure and JSON; return an exit status."""
    parser = argparse.ArgumentParser(prog="benchmarks/q3_quality_per_minute.py",
                                     description=__doc__.strip().splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=None, help="epochs for both recipes (default: each recipe's)")
    parser.add_argument("--clips-scale", type=float, default=1.0, help="scale both corpora (e.g. 0.25 for a check)")
    parser.add_argument("--test-clips", type=int, default=None, help="score only the first N test clips per epoch")
    parser.add_argument("--recipes", default="old,new", help="which recipes to run, comma-separated")
    parser.add_argument("--out", type=Path, default=Path("/tmp/q3-quality-per-minute"),
                        help="folder for the figure and the JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", ONEDNN_CACHE_CAPACITY)
    chosen = recipes(args.epochs, args.clips_scale)
    wanted = [r.strip() for r in args.recipes.split(",") if r.strip()]
    unknown = [r for r in wanted if r not in chosen]
    if unknown:
        parser.error(f"unknown recipe {unknown[0]!r}: choose from {', '.join(chosen)}")
    report = {"load_average_start": list(os.getloadavg()), "cores": os.cpu_count(),
              "threads": torch.get_num_threads(), "recipes": {}}
    for label in wanted:
        report["recipes"][label] = run_recipe(label, chosen[label], args.test_clips)
    report["load_average_end"] = list(os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    plot(report, args.out / "q3_quality_per_minute.png")
    (args.out / "q3_quality_per_minute.json").write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"load average {report['load_average_start'][0]:.1f} -> {report['load_average_end'][0]:.1f}; "
          f"wrote {args.out / 'q3_quality_per_minute.png'} and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
