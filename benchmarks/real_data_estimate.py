"""Benchmark: how long `make report DATA=real` would take on this machine, from measured unit costs.

No real data set can be downloaded here, so the whole run cannot be timed.  What can be
measured is what a run is made of, at the real data's sizes:

* Q3: log-mel features per clip, one training step per decoder (forward, backward, AdamW)
  and one greedy-decoding batch, on clips of LJ Speech's mean length (6.57 s; the
  generated stand-in's clips average 2.46 s), with the profile's model and batch sizes.
  A run is then: features for 13,100 clips, and per decoder `epochs` x (9,825 / batch
  training steps + 655 validation clips decoded) + the 2,620 test clips decoded twice
  (untrained and trained).  Decoding is timed to its 98-step cap (an upper bound: a
  trained model stops at its end token).
* Q2: the committed default results time the six-run sweep on the stand-in; the real
  OCTMNIST has the same image size and 97,477 training images, so the sweep's time is
  scaled by the image count (an extrapolation, not a measurement).

The same script also estimates the stand-in run whose wall time the committed default
results record, which shows how far the estimate is off.

    .venv/bin/python benchmarks/real_data_estimate.py [--profile default] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hw2.q3.features import HOP, log_mel_spectrogram, mel_filterbank  # noqa: E402
from hw2.q3.model import ASRConfig, build_model  # noqa: E402
from hw2.q3.tokenizer import encode_batch  # noqa: E402
from hw2.q3.training import sequence_loss  # noqa: E402
from pipeline.profiles import get_config  # noqa: E402
from pipeline.results import REPO_ROOT  # noqa: E402

RATE = 22_050
LJ_MEAN_S = 6.57  # LJ Speech 1.1: 23.92 h over 13,100 clips
LJ_SPLIT = (9_825, 655, 2_620)
OCT_TRAIN = 97_477


def median_time(fn, repeats: int) -> float:
    """Return the median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def feature_seconds(clip_s: float, filterbank_rate: int, repeats: int) -> float:
    """Return the time to compute one clip's log-mel features."""
    samples = (np.random.default_rng(0).standard_normal(int(clip_s * RATE)) * 3000).astype(np.int16)
    bank = mel_filterbank(filterbank_rate)
    return median_time(lambda: log_mel_spectrogram(samples, bank), repeats * 5)


def batch(clip_s: float, size: int, pad_to: int | None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    frames = pad_to or int(clip_s * RATE / HOP) + 1
    mels = torch.randn(size, 80, frames)
    lengths = None if pad_to else torch.full((size,), frames, dtype=torch.long)
    texts = ["the quick brown fox jumps over the lazy dog " * 3] * size
    return mels, lengths, encode_batch(texts)


def step_seconds(cfg, decoder: str, clip_s: float, repeats: int) -> tuple[float, float]:
    """Return (one training step, one decoding batch) in seconds for ``decoder`` at clips of ``clip_s``."""
    model_cfg = ASRConfig(width=cfg.width, heads=cfg.heads, encoder_blocks=cfg.encoder_blocks,
                          mlp_width=cfg.mlp_width, max_frames=max(cfg.pad_to_frames or 0, int(12 * RATE / HOP)))
    model = build_model(model_cfg, decoder, 0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    mels, lengths, targets = batch(clip_s, cfg.batch_size, cfg.pad_to_frames)

    def train_step():
        model.train()
        loss = sequence_loss(model, mels, lengths, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    eval_mels, eval_lengths, _ = batch(clip_s, cfg.eval_batch_size, cfg.pad_to_frames)

    @torch.no_grad()
    def decode():
        model.eval()
        model.greedy_decode(eval_mels, eval_lengths, max_steps=cfg.max_decode_steps)

    return median_time(train_step, repeats), median_time(decode, max(1, repeats - 1))


def q3_estimate(cfg, clip_s: float, split: tuple[int, int, int], repeats: int) -> dict:
    """Return the estimated Q3 run time (and its parts) for ``split`` clips of ``clip_s`` seconds."""
    n_train, n_val, n_test = split
    features = feature_seconds(clip_s, cfg.filterbank_rate, repeats) * sum(split)
    out = {"clip_s": clip_s, "features_s": features, "decoders": {}}
    total = features
    for decoder in cfg.decoders:
        step, decode = step_seconds(cfg, decoder, clip_s, repeats)
        epoch = math.ceil(n_train / cfg.batch_size) * step + math.ceil(n_val / cfg.eval_batch_size) * decode
        test = 2 * math.ceil(n_test / cfg.eval_batch_size) * decode
        run = cfg.epochs * epoch + test
        out["decoders"][decoder] = {"train_step_s": step, "decode_batch_s": decode, "epoch_s": epoch, "run_s": run}
        total += run
    out["total_s"] = total
    return out


def committed(name: str) -> dict | None:
    path = REPO_ROOT / "results" / "default" / name / "results.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", help="settings profile (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each step (median)")
    parser.add_argument("--skip-standin", action="store_true", help="do not estimate the stand-in run")
    args = parser.parse_args()
    torch.manual_seed(0)
    cfg = get_config("q3_asr", args.profile)
    print(f"load: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores, {torch.get_num_threads()} torch threads")

    results = {}
    if not args.skip_standin:
        q3 = committed("q3_asr")
        if q3 and args.profile == "default":
            split = tuple(q3["corpus"]["split"][k] for k in ("train", "val", "test"))
            est = q3_estimate(cfg, q3["corpus"]["mean_clip_s"], split, args.repeats)
            measured = q3["meta"]["wall_time_s"]
            print(f"Q3 stand-in ({sum(split)} clips of {est['clip_s']:.2f} s): estimated {minutes(est['total_s'])}, "
                  f"the committed run took {minutes(measured)} (ratio {measured / est['total_s']:.2f})")
            results["q3_standin"] = {**est, "measured_s": measured}
    est = q3_estimate(cfg, LJ_MEAN_S, LJ_SPLIT, args.repeats)
    for decoder, parts in est["decoders"].items():
        print(f"Q3 {decoder} on LJ Speech ({args.profile} settings): {parts['train_step_s']:.3f} s per training step, "
              f"{parts['decode_batch_s']:.2f} s per decoding batch, {minutes(parts['epoch_s'])} per epoch, "
              f"{minutes(parts['run_s'])} for {cfg.epochs} epochs and the test set")
    print(f"Q3 features for 13,100 clips: {minutes(est['features_s'])}; Q3 in all: {minutes(est['total_s'])}")
    results["q3_ljspeech"] = est
    if "q3_standin" in results:  # this machine's load now against the committed run's: scale by their ratio
        standin = results["q3_standin"]
        calibrated = est["total_s"] * standin["measured_s"] / standin["total_s"]
        print(f"Q3 on LJ Speech, scaled by the stand-in's measured/estimated ratio: {minutes(calibrated)} "
              f"({est['total_s'] / standin['total_s']:.1f} x the stand-in run)")
        results["q3_ljspeech_calibrated_s"] = calibrated
    q2 = committed("q2_cnn")
    if q2:
        images = q2["data"]["split_sizes"]["train"]
        scaled = q2["meta"]["wall_time_s"] * OCT_TRAIN / images
        print(f"Q2 on OCTMNIST (extrapolated): the committed stand-in sweep took {minutes(q2['meta']['wall_time_s'])} "
              f"on {images:,} training images; x {OCT_TRAIN / images:.2f} images -> {minutes(scaled)}")
        results["q2_octmnist_s"] = scaled
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
