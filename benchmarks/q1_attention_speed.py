"""Q1 speed: linear attention against the machine's matmul rate, and the crossover by two models.

In one run, on this machine:

* the machine's rates (a square float32 matmul, copy bandwidth by cache level, the softmax
  rate, fresh-page writes) and the fixed cost of a call at a tiny L;
* exact attention (plain torch: Q K^T, softmax, times V), the linear path as
  ``taylor_attention_linear`` runs it ("new": the fused C kernel of ``hw2.q1.fused`` where it
  is built, else the torch path), its torch path (``impl="torch"``) and the first linear
  implementation (``taylor_attention_linear_gather``, "old") at each (D, L), taking turns,
  with a matmul probe in the same rounds at L >= --fraction-from;

then prints

* the fast path's useful GFLOP/s as a share of the probe's rate (per D, long L),
* the crossover measured against the operation-count and roofline predictions (ratios),
* the speed-up of the fast path over the first implementation,
* the peak bytes each method allocates at the longest L (torch profiler).

Run ``.venv/bin/python benchmarks/q1_attention_speed.py --help``.  On a machine whose cores
other jobs are using, set ``OMP_WAIT_POLICY=PASSIVE`` and quote the load (printed first).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

import torch  # noqa: E402

from hw2.q1.crossing import ratio_crossing  # noqa: E402
from hw2.q1 import costmodel as cm  # noqa: E402
from hw2.q1 import fused, measure  # noqa: E402
from hw2.q1.attention import (  # noqa: E402
    linear_implementation,
    softmax_attention,
    taylor_attention_linear,
    taylor_attention_linear_gather,
)

TARGET = 0.30


def time_sweep(Ds: list[int], Ls: list[int], rounds: int, budget_s: float, fraction_from: int,
               probe_n: int) -> dict[int, list[dict]]:
    """Return every repeat of exact, new and old linear attention (and the probe) per D and L."""
    gen = torch.Generator().manual_seed(0)
    probe = measure.matmul_probe(probe_n)[0]
    out: dict[int, list[dict]] = {}
    for D in Ds:
        out[D] = []
        for L in Ls:
            Q, K = (torch.randn(L, D, generator=gen) / D**0.25 for _ in range(2))
            V = torch.randn(L, D, generator=gen)
            fns = {"exact": lambda: softmax_attention(Q, K, V), "new": lambda: taylor_attention_linear(Q, K, V),
                   "torch": lambda: taylor_attention_linear(Q, K, V, impl="torch"),
                   "old": lambda: taylor_attention_linear_gather(Q, K, V)}
            if L >= fraction_from:
                fns["probe"] = probe
            with torch.no_grad():
                times = measure.interleaved_times(fns, rounds, budget_s, min_rounds=2)
            out[D].append({"L": L, "times": times})
            med = {k: measure.median(v) for k, v in times.items()}
            print(f"  D={D:3d} L={L:6d}: exact {med['exact'] * 1e3:10.3f} ms, new {med['new'] * 1e3:8.3f} ms, "
                  f"torch {med['torch'] * 1e3:8.3f} ms, old {med['old'] * 1e3:9.3f} ms "
                  f"({len(times['exact'])} rounds)", flush=True)
    return out


def report(sweep: dict[int, list[dict]], rates: cm.Rates, calls: dict[int, cm.CallCosts], fraction_from: int,
           probe_n: int) -> dict:
    """Print and return the fractions, crossovers and speed-ups."""
    summary: dict = {"fractions": [], "crossovers": [], "speedups": []}
    print(f"\nshare of the matmul rate (useful GFLOP/s of the new path / a {probe_n}^3 product in the same rounds; "
          f"target {TARGET:.0%}):")
    for D, points in sweep.items():
        for p in points:
            if p["L"] < fraction_from:
                continue
            flops = cm.linear_flops(p["L"], D)
            new = flops / measure.median(p["times"]["new"]) / 1e9
            tp = flops / measure.median(p["times"]["torch"]) / 1e9
            old = flops / measure.median(p["times"]["old"]) / 1e9
            mm = 2 * probe_n**3 / measure.median(p["times"]["probe"]) / 1e9
            summary["fractions"].append({"D": D, "L": p["L"], "new_gflops": new, "torch_gflops": tp,
                                         "old_gflops": old, "matmul_gflops": mm, "fraction": new / mm,
                                         "torch_fraction": tp / mm, "old_fraction": old / mm})
            print(f"  D={D:3d} L={p['L']:6d}: new {new:6.1f} GFLOP/s = {new / mm:5.2f} of {mm:6.1f} "
                  f"({'meets' if new / mm >= TARGET else 'misses'} the target); torch path {tp / mm:5.3f}, "
                  f"old {old / mm:5.3f}")
    print("\ncrossover L* (exact = linear; measured: the median over rounds of exact / linear within a round crosses 1)"
          ": measured | operation count | roofline | roofline + per-call costs (ratio measured / predicted)")
    for D, points in sweep.items():
        Ls = [p["L"] for p in points]
        exact = [p["times"]["exact"] for p in points]
        measured = {k: ratio_crossing(Ls, exact, [p["times"][k] for p in points]) for k in ("new", "torch", "old")}
        preds = {"operation count": cm.opcount_crossover(D), "roofline": cm.roofline_crossover(D, rates),
                 "roofline + calls": cm.roofline_crossover(D, rates, calls[D])}
        row = {"D": D, "measured_new": measured["new"], "measured_torch": measured["torch"],
               "measured_old": measured["old"], **preds}
        summary["crossovers"].append(row)
        text = " | ".join(f"{name} {value:7.0f} ({_ratio(measured['new'], value)})" for name, value in preds.items())
        print(f"  D={D:3d}: measured {_fmt(measured['new'])} (torch path {_fmt(measured['torch'])}, old path "
              f"{_fmt(measured['old'])}) | {text}")
    print("\nspeed-up of the new linear path over the old one, and over exact attention (median times):")
    for D, points in sweep.items():
        ups = {p["L"]: measure.median(p["times"]["old"]) / measure.median(p["times"]["new"]) for p in points}
        exact_up = points[-1]["times"]
        summary["speedups"].append({"D": D, "new_vs_old": ups,
                                    "new_vs_exact_at_max_L": measure.median(exact_up["exact"])
                                    / measure.median(exact_up["new"])})
        print(f"  D={D:3d}: " + ", ".join(f"L={L}: x{v:.1f}" for L, v in ups.items())
              + f"; exact / new at L={points[-1]['L']}: x{summary['speedups'][-1]['new_vs_exact_at_max_L']:.1f}")
    return summary


def peak_memory(Ds: list[int], L: int) -> dict:
    """Print and return the peak bytes allocated by one call of each method at length L."""
    print(f"\npeak bytes allocated by one call at L = {L} (torch profiler; new path with its buffers made afresh):")
    gen = torch.Generator().manual_seed(1)
    out = {}
    for D in Ds:
        Q, K, V = (torch.randn(L, D, generator=gen) for _ in range(3))
        row = {"new": measure.peak_allocated_bytes(lambda: taylor_attention_linear(Q, K, V), fresh_plans=True),
               "torch": measure.peak_allocated_bytes(lambda: taylor_attention_linear(Q, K, V, impl="torch"),
                                                     fresh_plans=True),
               "old": measure.peak_allocated_bytes(lambda: taylor_attention_linear_gather(Q, K, V))}
        if D == Ds[0]:
            row["exact"] = measure.peak_allocated_bytes(lambda: softmax_attention(Q, K, V))
        out[D] = row
        print(f"  D={D:3d}: " + ", ".join(f"{k} {v / 2**20:8.1f} MiB" for k, v in row.items()))
    return out


def _fmt(x: float | None) -> str:
    return f"{x:7.0f}" if x else "   none"


def _ratio(measured: float | None, predicted: float | None) -> str:
    return f"{measured / predicted:.2f}" if measured and predicted else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--D", type=int, nargs="+", default=[8, 16, 32], help="head dimensions")
    parser.add_argument("--L", type=int, nargs="+",
                        default=[16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
                        help="sequence lengths (ascending)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per point (every repeat is kept)")
    parser.add_argument("--budget", type=float, default=4.0, help="seconds per point before stopping (>= 2 rounds)")
    parser.add_argument("--fraction-from", type=int, default=4096, help="shortest L for the share of the matmul rate")
    parser.add_argument("--probe-n", type=int, default=1024, help="side of the matmul probe")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="also write every number to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY')}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    x = torch.zeros(1, 1)
    print(f"linear path timed as \"new\": {linear_implementation(x, x, x)} ({fused.status()})")
    rates, samples = measure.measure_rates(5)
    calls = {D: measure.call_costs(D)[0] for D in args.D}
    print(f"matmul {rates.matmul / 1e9:.1f} GFLOP/s; copy GB/s: " +
          ", ".join(f"{k} {v / 1e9:.1f}" for k, v in rates.bandwidth.items()) +
          f"; softmax {rates.softmax / 1e9:.2f} G entries/s; fresh pages {rates.fresh_pages / 1e9:.2f} GB/s")
    print("fixed cost per call (L = 16): " + ", ".join(
        f"D={D}: exact {c.exact * 1e6:.0f} us, linear {c.linear * 1e6:.0f} us, slab {c.slab * 1e6:.0f} us"
        for D, c in calls.items()))
    print("\ntimings (median of the rounds):")
    sweep = time_sweep(args.D, args.L, args.rounds, args.budget, args.fraction_from, args.probe_n)
    summary = report(sweep, rates, calls, args.fraction_from, args.probe_n)
    summary["peak_memory"] = peak_memory(args.D, args.L[-1])
    summary["load_start"], summary["load_end"] = load, os.getloadavg()
    print(f"\nload average at the end {summary['load_end'][0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rate_samples": samples, "sweep": sweep}, indent=1,
                                        default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
