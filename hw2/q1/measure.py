"""Measurements for Q1: wall times with every repeat kept, the machine's rates, and where time goes.

Everything here runs on the machine it describes, at run time: the cost model in
``hw2.q1.costmodel`` takes its rates from ``measure_rates`` and ``call_costs``, and the
experiment and the benchmark report the raw samples next to the numbers derived from them.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from hw2.q1.attention import softmax_attention, taylor_attention_linear
from hw2.q1.costmodel import CallCosts, Rates

TINY_L = 16  # sequence length whose call time is taken as the fixed cost per call


# timing -------------------------------------------------------------------------------------

def wall_times(fn: Callable[[], Any], repeats: int, budget_s: float = float("inf"), warmup: int = 1,
               min_repeats: int = 1) -> list[float]:
    """Return the wall time of each of up to ``repeats`` calls of fn (after ``warmup`` calls) within ~budget_s."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    while len(times) < repeats and (len(times) < min_repeats or sum(times) < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


SETTLE_BELOW_S = 0.1  # calls shorter than this are timed after untimed calls of the same function ...
SETTLE_S = 0.005  # ... made for at least this long ...
SETTLE_FRACTION = 0.05  # ... or this fraction of the call before them, if longer


def interleaved_times(fns: dict[str, Callable[[], Any]], rounds: int, budget_s: float,
                      min_rounds: int = 3, settle_below_s: float = SETTLE_BELOW_S,
                      settle_s: float = SETTLE_S, settle_fraction: float = SETTLE_FRACTION) -> dict[str, list[float]]:
    """Return every wall time of each function, called once per round in turn (after one warm-up call each).

    Interleaving puts every function under the same background load, so ratios between
    them are steadier than separate runs.  A function whose last call took less than
    ``settle_below_s`` is first called untimed, again and again for at least ``settle_s`` or
    ``settle_fraction`` of the call timed before it, whichever is longer (once at least),
    and then timed: about 0.3 ms after an exact call at L = 2,048 returned,
    one call of whatever ran next took about 2.5 ms longer than the calls around it (in
    trials on a 2-core machine; once per exact call; we suspect work the OS does on the
    memory the exact call released).  That belongs to neither call, and a single short
    call timed right after the exact one would be charged with it.  For calls longer
    than the threshold such a delay is a small fraction, and repeating them would
    multiply the run time.  Stops after ``rounds`` rounds, or once ``budget_s`` is spent
    and ``min_rounds`` are done.
    """
    last: dict[str, float] = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn()
        last[name] = time.perf_counter() - t0
    times: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    previous = 0.0  # the call timed just before
    for r in range(rounds):
        if r >= min_rounds and time.perf_counter() - start > budget_s:
            break
        for name, fn in fns.items():
            if last[name] < settle_below_s:
                window = max(settle_s, settle_fraction * previous)
                t_settle = time.perf_counter()
                fn()
                while time.perf_counter() - t_settle < window:
                    fn()
            t0 = time.perf_counter()
            fn()
            last[name] = previous = time.perf_counter() - t0
            times[name].append(last[name])
    return times


def median(xs: list[float]) -> float:
    """Return the median of a non-empty list."""
    return float(statistics.median(xs))


def matmul_probe(n: int, dtype: torch.dtype = torch.float32) -> tuple[Callable[[], Any], float]:
    """Return (a function multiplying two n x n matrices, its FLOPs)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen, dtype=dtype)
    b = torch.randn(n, n, generator=gen, dtype=dtype)
    return (lambda: torch.mm(a, b)), 2.0 * n**3


# machine rates ---------------------------------------------------------------------------------

def cache_sizes() -> dict[str, float]:
    """Return the L2 (one core) and L3 capacities in bytes from sysfs (1 MiB and 32 MiB when unreadable)."""
    sizes = {"l2": float(1 << 20), "l3": float(32 << 20)}
    root = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(root.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            text = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind != "Instruction" and level in (2, 3) and text[:-1].isdigit():
            scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1], 1)
            sizes[f"l{level}"] = float(int(text[:-1]) * scale)
    return sizes


def copy_bandwidth(total_bytes: int, repeats: int) -> list[float]:
    """Return copy bandwidths (bytes read + written per second) with source and copy together ``total_bytes``."""
    n = max(1, total_bytes // 8)  # float32 source and destination
    src, dst = torch.randn(n), torch.empty(n)
    inner = max(1, (64 << 20) // total_bytes)  # several copies per sample for small sizes

    def run() -> None:
        for _ in range(inner):
            dst.copy_(src)
    return [8.0 * n * inner / t for t in wall_times(run, repeats, warmup=2)]


def fresh_page_rate(nbytes: int, repeats: int) -> list[float]:
    """Return bytes/s of the extra cost of writing into a fresh allocation over writing into an old one."""
    n = nbytes // 4
    old = torch.empty(n)
    fresh = wall_times(lambda: torch.empty(n).fill_(1.0), repeats)
    reused = wall_times(lambda: old.fill_(1.0), repeats)
    return [nbytes / max(f - r, 1e-9) for f, r in zip(fresh, reused)]


def softmax_rate(repeats: int, rows: int = 64, cols: int = 4096) -> list[float]:
    """Return entries/s of torch.softmax over the rows of a (rows, cols) float32 array that fits in L2."""
    x = torch.randn(rows, cols)
    out = torch.empty_like(x)
    inner = 10
    def run() -> None:
        for _ in range(inner):
            torch.softmax(x, -1, out=out)
    return [rows * cols * inner / t for t in wall_times(run, repeats, warmup=2)]


def measure_rates(repeats: int = 5, matmul_n: int = 2048) -> tuple[Rates, dict[str, Any]]:
    """Return the machine's rates (medians) and every sample behind them; the matmul is n x n by n x n."""
    fn, flops = matmul_probe(matmul_n)
    caches = cache_sizes()
    samples = {
        "matmul_flops": [flops / t for t in wall_times(fn, repeats)],
        "bandwidth": {
            "l2": copy_bandwidth(int(caches["l2"] // 2), repeats),
            "l3": copy_bandwidth(int(caches["l3"] // 4), repeats),
            "dram": copy_bandwidth(int(8 * caches["l3"]), repeats),
        },
        "softmax_entries": softmax_rate(repeats),
        "fresh_pages": fresh_page_rate(256 << 20, max(2, repeats // 2)),
        "cache_bytes": caches,
        "matmul_n": matmul_n,
    }
    rates = Rates(matmul=median(samples["matmul_flops"]),
                  bandwidth={k: median(v) for k, v in samples["bandwidth"].items()},
                  cache_bytes=caches, softmax=median(samples["softmax_entries"]),
                  fresh_pages=median(samples["fresh_pages"]))
    return rates, samples


def call_costs(D: int, repeats: int = 200, dtype: torch.dtype = torch.float32) -> tuple[CallCosts, dict[str, Any]]:
    """Return the fixed costs of one D: exact and linear calls at L = TINY_L, and one extra slab of the torch path.

    The slab cost is half the difference between torch-path calls over 4 and 2 slabs of TINY_L positions.
    """
    gen = torch.Generator().manual_seed(D)
    Q, K, V = (torch.randn(4 * TINY_L, D, generator=gen, dtype=dtype) for _ in range(3))
    q, k, v = Q[:TINY_L], K[:TINY_L], V[:TINY_L]
    with torch.no_grad():
        times = interleaved_times({
            "exact": lambda: softmax_attention(q, k, v),
            "linear": lambda: taylor_attention_linear(q, k, v),
            "two_slabs": lambda: taylor_attention_linear(Q[:2 * TINY_L], K[:2 * TINY_L], V[:2 * TINY_L],
                                                         chunk=TINY_L, impl="torch"),
            "four_slabs": lambda: taylor_attention_linear(Q, K, V, chunk=TINY_L, impl="torch"),
        }, rounds=repeats, budget_s=float("inf"))
    m = {name: median(ts) for name, ts in times.items()}
    costs = CallCosts(exact=m["exact"], linear=m["linear"], slab=max(0.0, (m["four_slabs"] - m["two_slabs"]) / 2))
    return costs, {"L": TINY_L, "samples": times}


# where the time goes ----------------------------------------------------------------------------

def exact_step_functions(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor) -> dict[str, Callable[[], Any]]:
    """Return the steps of softmax_attention run into preallocated outputs (no fresh pages).

    Timed beside the whole call, the difference is what the fresh L x L allocations cost.
    """
    L = Q.shape[-2]
    S = torch.empty(L, L, dtype=Q.dtype)
    P = torch.softmax(torch.mm(Q, K.T, out=S), -1)
    Z = torch.empty(L, V.shape[-1], dtype=Q.dtype)
    return {
        "scores_in_place": lambda: torch.mm(Q, K.T, out=S),
        "softmax_in_place": lambda: torch.softmax(S, -1, out=P),
        "weighted_sum_in_place": lambda: torch.mm(P, V, out=Z),
    }


PROFILE_CATEGORIES = {
    "products": ("aten::bmm", "aten::baddbmm", "aten::baddbmm_", "aten::mm", "aten::addmm"),
    "feature_map": ("aten::mul", "aten::mul_"),
    "input_copies": ("aten::copy_", "aten::fill_"),
    "division": ("aten::div",),
}


def linear_profile(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, calls: int = 3,
                   impl: str = "torch") -> dict[str, float]:
    """Return seconds per call of linear attention (``impl``: the torch path, whose operators the profiler
    sees) by kind of operator (torch profiler), and the rest.

    The categories are PROFILE_CATEGORIES (operators' own time, children excluded); "other"
    is the profiled wall time left over (Python, dispatch, views, allocations).
    """
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad():
        taylor_attention_linear(Q, K, V, impl=impl)
        with quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            for _ in range(calls):
                taylor_attention_linear(Q, K, V, impl=impl)
            wall = time.perf_counter() - t0
    out = {name: 0.0 for name in PROFILE_CATEGORIES}
    for event in prof.key_averages():
        for name, ops in PROFILE_CATEGORIES.items():
            if event.key in ops:
                out[name] += event.self_cpu_time_total * 1e-6 / calls
    out["other"] = max(0.0, wall / calls - sum(out.values()))
    out["total"] = wall / calls
    return out


def peak_allocated_bytes(fn: Callable[[], Any], fresh_plans: bool = False) -> int:
    """Return the peak of bytes allocated by torch during one call of fn (torch profiler's memory records).

    ``fresh_plans`` empties the linear paths' per-thread caches first (the torch path's
    plans, the kernel's workspaces), so the buffers they keep between calls are counted too.
    """
    from torch.profiler import ProfilerActivity, profile

    if fresh_plans:
        from hw2.q1 import attention, fused

        attention._LOCAL.plans = None
        fused.clear_workspaces()
    with torch.no_grad(), quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


@contextlib.contextmanager
def quiet_stderr():
    """Silence file descriptor 2 for a while (the profiler's C++ start/stop lines)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
