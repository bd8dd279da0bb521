"""Q3 speed: training-step and greedy-decoding throughput against a skeleton-style baseline.

Same model, same weights, same clips; only the way they are batched and decoded differs:

* baseline (the course skeleton): every clip padded to 2,754 frames, no masks;
  greedy decoding re-runs the decoder over the whole prefix at every step.
* ours (the default profile): each batch padded to its own longest clip with
  key-padding masks, training batches grouped by length, decoder targets cut after the
  batch's longest transcript; greedy decoding keeps the LSTM state, the self-attention
  keys/values and the audio keys/values across steps.

Prints clips per second for each, the ratios, and the process's peak resident memory
(which must stay below 4 GB).  Run ``.venv/bin/python benchmarks/q3_speed.py --help``.

On a machine whose cores other jobs are using, set ``OMP_WAIT_POLICY=PASSIVE``: OpenMP
threads that spin while they wait then slow every step several-fold.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hw2.q3.model import ASRConfig, build_model, greedy_decode_recompute  # noqa: E402
from hw2.q3.training import collate, load_speech_set, sequence_loss, training_batches  # noqa: E402
from hw2.q3.ljspeech import read_metadata  # noqa: E402
from hw2.q3.standin import ensure_standin  # noqa: E402
from pipeline.profiles import get_config  # noqa: E402

SKELETON_FRAMES = 2754
RSS_LIMIT_MB = 4096


def peak_rss_mb() -> float:
    """Return this process's peak resident memory in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_training(model, data, batches, pad_to, trim: bool = False, warmup: int = 1) -> float:
    """Return seconds per clip for AdamW training steps over ``batches`` (the first ``warmup`` untimed)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    elapsed, clips = 0.0, 0
    for i, index in enumerate(batches):
        mels, lengths, targets = collate(data, index, pad_to)
        t0 = time.perf_counter()
        loss = sequence_loss(model, mels, lengths, targets, trim=trim)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            elapsed += time.perf_counter() - t0
            clips += len(index)
    return elapsed / max(clips, 1)


def time_decoding(decode, data, batches, pad_to) -> tuple[float, list]:
    """Return seconds per clip of ``decode(mels, lengths)`` over ``batches``, and the outputs."""
    elapsed, clips, outputs = 0.0, 0, []
    for index in batches:
        mels, lengths, _ = collate(data, index, pad_to)
        t0 = time.perf_counter()
        outputs.append(decode(mels, lengths))
        elapsed += time.perf_counter() - t0
        clips += len(index)
    return elapsed / clips, outputs


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the throughputs, ratios and peak memory; return an exit status."""
    defaults = get_config("q3_asr", "default")
    parser = argparse.ArgumentParser(prog="benchmarks/q3_speed.py",
                                     description=__doc__.strip().splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--decoder", choices=("lstm", "attention", "both"), default="both")
    parser.add_argument("--clips", type=int, default=160, help="size of the generated corpus used (all splits)")
    parser.add_argument("--train-batches", type=int, default=3, help="timed training batches per setting (+1 warm-up)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--decode-clips", type=int, default=32, help="clips decoded per setting")
    parser.add_argument("--decode-batch", type=int, default=16)
    parser.add_argument("--decode-steps", type=int, default=98, help="greedy steps (an untrained model runs them all)")
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--encoder-blocks", type=int, default=defaults.encoder_blocks)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    root, _ = ensure_standin(args.clips, defaults.corpus_seed, defaults.voices)
    data = load_speech_set(read_metadata(root), defaults.filterbank_rate)
    cfg = ASRConfig(width=args.width, heads=defaults.heads, encoder_blocks=args.encoder_blocks,
                    mlp_width=2 * args.width, max_frames=SKELETON_FRAMES)
    print(f"q3 speed: {len(data)} generated clips, mean {float(data.lengths.float().mean()):.0f} frames "
          f"(baseline pads to {SKELETON_FRAMES}); width {args.width}, {args.encoder_blocks} encoder blocks, "
          f"{torch.get_num_threads()} threads")
    rng = np.random.default_rng(args.seed)
    n_train = args.train_batches + 1
    bucketed = training_batches(data.lengths, args.batch_size, rng, bucket=True)[:n_train]
    plain = training_batches(data.lengths, args.batch_size, np.random.default_rng(args.seed), bucket=False)[:n_train]
    decode_index = np.arange(min(args.decode_clips, len(data)))
    decode_batches = [decode_index[i:i + args.decode_batch] for i in range(0, len(decode_index), args.decode_batch)]

    report: dict = {"clips": len(data), "threads": torch.get_num_threads(), "width": args.width, "decoders": {}}
    decoders = ("lstm", "attention") if args.decoder == "both" else (args.decoder,)
    for name in decoders:
        model = build_model(cfg, name, args.seed)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        train_base = time_training(model, data, plain, SKELETON_FRAMES)
        model.load_state_dict(state)
        train_ours = time_training(model, data, bucketed, None, trim=defaults.trim_targets)
        model.load_state_dict(state)
        model.eval()
        steps = args.decode_steps
        with torch.no_grad():
            dec_base, out_base = time_decoding(
                lambda m, n: greedy_decode_recompute(model, m, n, max_steps=steps), data, decode_batches, SKELETON_FRAMES)
            dec_ours, out_ours = time_decoding(
                lambda m, n: model.greedy_decode(m, n, max_steps=steps), data, decode_batches, None)
        tokens = sum(int(o.numel()) for o in out_ours)
        row = {
            "train_clips_per_s": {"baseline": 1 / train_base, "ours": 1 / train_ours, "ratio": train_base / train_ours},
            "decode_clips_per_s": {"baseline": 1 / dec_base, "ours": 1 / dec_ours, "ratio": dec_base / dec_ours},
            "decoded_tokens": tokens,
        }
        report["decoders"][name] = row
        print(f"{name:9s} training  {row['train_clips_per_s']['baseline']:7.1f} -> {row['train_clips_per_s']['ours']:7.1f}"
              f" clips/s  ({row['train_clips_per_s']['ratio']:.1f}x)")
        print(f"{name:9s} decoding  {row['decode_clips_per_s']['baseline']:7.1f} -> {row['decode_clips_per_s']['ours']:7.1f}"
              f" clips/s  ({row['decode_clips_per_s']['ratio']:.1f}x)")
    rss = peak_rss_mb()
    report["peak_rss_mb"] = rss
    verdict = "OK" if rss < RSS_LIMIT_MB else "OVER THE LIMIT"
    print(f"peak resident memory: {rss:.0f} MiB (limit {RSS_LIMIT_MB} MiB): {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if rss < RSS_LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
