"""Q1: self-attention cost, the McLaurin feature map, and linear attention.

Computes the feature-space sizes, checks the kernel identity numerically, measures the
approximation error against exact softmax attention as the scale of q.k grows, times
exact against linear attention over the sequence length (every repeat kept), measures
the machine's rates and where each method spends its time, predicts the crossover with
an operation count and with a roofline model, and records SymPy's derivations (as
LaTeX) for the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
import torch
from tqdm.auto import tqdm

from hw2.q1 import costmodel as cm
from hw2.q1 import fused
from hw2.q1 import measure
from hw2.q1 import symbolic as sym
from hw2.q1.crossing import crossing_point, median_ratios, ratio_crossing
from hw2.q1.attention import (
    FORMS,
    SLAB_BYTES,
    feature_dim,
    linear_implementation,
    linear_workspace_bytes,
    mclaurin_features,
    softmax_attention,
    taylor_attention_linear,
    taylor_attention_quadratic,
    taylor_attention_weights,
    taylor_exp,
)
from pipeline.runner import RunContext, main

NAME = "q1_attention"
FRACTION_TARGET = 0.30  # issue #14: the linear path at long L should reach this share of the matmul rate
MODEL_TOLERANCE = 2.0  # a model "predicts" the crossover when it is within this factor of the measured one


def dashed(K: int) -> bool:
    """Whether the error figure dashes K's curve: even K, whose polynomial has odd degree K-1 and can turn negative."""
    return (K - 1) % 2 == 1


@dataclass(frozen=True)
class Settings:
    """Q1's settings; the defaults are the homework profile (pipeline/profiles.py lists the others)."""

    seed: int = 0  # one torch.Generator for every random draw
    table_D: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32, 64])  # feature-size table
    table_K: list[int] = field(default_factory=lambda: [2, 3, 4])
    check_D: list[int] = field(default_factory=lambda: [2, 3, 4, 8])  # numerical identity checks
    check_K: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    check_L: int = 128
    error_K: list[int] = field(default_factory=lambda: [2, 3, 4, 5])  # approximation error study
    error_D: int = 16
    error_L: int = 512
    error_scales: list[float] = field(default_factory=lambda: [0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0])
    error_trials: int = 10
    timing_D: list[int] = field(default_factory=lambda: [8, 16, 32, 64])  # exact vs linear timings
    timing_K: int = 3
    timing_L: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384])
    timing_repeats: int = 50  # at most this many rounds per timing point; every repeat is recorded
    timing_budget_s: float = 8.0  # no new round starts after this many seconds at a point ...
    timing_min_rounds: int = 3  # ... once this many rounds are done (a median of 2 calls is their mean)
    timing_passes: int = 5  # lengths up to timing_pass_max_L are timed in this many passes over the sweep ...
    timing_pass_max_L: int = 1024  # ... (rounds and budget shared between the passes); longer ones in one
    fraction_min_L: int = 4096  # from this L, the linear path's share of the matmul rate is measured
    breakdown_L: list[int] = field(default_factory=lambda: [1024, 16384])  # where the time goes, by step
    rate_repeats: int = 5  # samples of each machine rate, before and after the sweep
    matmul_n: int = 2048  # the matmul rate is that of an n x n by n x n float32 product
    probe_n: int = 1024  # the product timed between the attention calls at L >= fraction_min_L
    call_repeats: int = 200  # calls at a tiny L that measure the cost of an extra linear slab
    dtype: str = "float32"


DTYPES = {"float32": torch.float32, "float64": torch.float64}
EXACT_STEPS = ("scores_in_place", "softmax_in_place", "weighted_sum_in_place")  # measure.exact_step_functions


def dimension_table(cfg: Settings) -> list[dict[str, Any]]:
    """M for every (D, K): from the formula and from the shape the feature map really outputs."""
    rows = []
    for D in cfg.table_D:
        for K in cfg.table_K:
            x = torch.zeros(1, D)
            rows.append({
                "D": D, "K": K,
                "symmetric": feature_dim(D, K, "symmetric"),
                "tensor": feature_dim(D, K, "tensor"),
                "symmetric_measured": int(mclaurin_features(x, K, "symmetric").shape[-1]),
                "tensor_measured": int(mclaurin_features(x, K, "tensor").shape[-1]) if D**(K - 1) <= 2**20 else None,
                "seed_formula": 1 + D + D * (D - 1) // 2 if K == 3 else None,
            })
    return rows


def numeric_checks(cfg: Settings, gen: torch.Generator) -> dict[str, Any]:
    """Float64 errors of the kernel identity and of linear vs quadratic evaluation."""
    kernel = []
    for form in FORMS:
        for D in cfg.check_D:
            for K in cfg.check_K:
                q = torch.randn(256, D, generator=gen, dtype=torch.float64) / D**0.25
                k = torch.randn(256, D, generator=gen, dtype=torch.float64) / D**0.25
                lhs = (mclaurin_features(q, K, form) * mclaurin_features(k, K, form)).sum(-1)
                rhs = taylor_exp((q * k).sum(-1), K)
                kernel.append({"form": form, "D": D, "K": K,
                               "max_abs_error": float((lhs - rhs).abs().max())})
    agreement = []
    L = cfg.check_L
    for D in cfg.check_D:
        for K in (3, 5):
            Q = torch.randn(2, L, D, generator=gen, dtype=torch.float64) / D**0.25
            Kt = torch.randn(2, L, D, generator=gen, dtype=torch.float64) / D**0.25
            V = torch.randn(2, L, D, generator=gen, dtype=torch.float64)
            quad = taylor_attention_quadratic(Q, Kt, V, K)
            lin = taylor_attention_linear(Q, Kt, V, K)
            direct = taylor_attention_weights(Q, Kt, K) @ V
            agreement.append({"D": D, "K": K, "L": L,
                              "linear_vs_quadratic": float((lin - quad).abs().max()),
                              "linear_vs_direct": float((lin - direct).abs().max())})
    return {
        "kernel": kernel,
        "kernel_max_error": max(r["max_abs_error"] for r in kernel),
        "agreement": agreement,
        "agreement_max_error": max(max(r["linear_vs_quadratic"], r["linear_vs_direct"]) for r in agreement),
    }


# approximation error ---------------------------------------------------------------------

def error_metrics(Q: torch.Tensor, Kt: torch.Tensor, V: torch.Tensor, K: int) -> dict[str, float]:
    """Relative error of Z, mean total variation of the rows, and the share of negative weights and row sums."""
    exact_w = torch.softmax(Q @ Kt.T, dim=-1)
    approx_w = taylor_attention_weights(Q, Kt, K)
    Z, Z_hat = exact_w @ V, approx_w @ V
    weights = taylor_exp(Q @ Kt.T, K)
    return {"relative_error": float(torch.linalg.norm(Z_hat - Z) / torch.linalg.norm(Z)),
            "total_variation": float(0.5 * (approx_w - exact_w).abs().sum(-1).mean()),
            "negative_weight_fraction": float((weights < 0).double().mean()),
            "nonpositive_normaliser_fraction": float((weights.sum(-1) <= 0).double().mean())}


def approximation_error(cfg: Settings, gen: torch.Generator) -> dict[str, Any]:
    """Error of Taylor attention against softmax attention as the spread of q.k grows.

    Every K is evaluated on the same draws (paired), and every draw's errors are kept.
    """
    D, L = cfg.error_D, cfg.error_L
    trials: dict[int, list[list[dict[str, float]]]] = {K: [] for K in cfg.error_K}
    for scale in cfg.error_scales:
        per_K: dict[int, list[dict[str, float]]] = {K: [] for K in cfg.error_K}
        for _ in range(cfg.error_trials):
            # entries N(0, scale/sqrt(D)) make the std of q.k equal to `scale`
            sigma = math.sqrt(scale / math.sqrt(D))
            Q = torch.randn(L, D, generator=gen, dtype=torch.float64) * sigma
            Kt = torch.randn(L, D, generator=gen, dtype=torch.float64) * sigma
            V = torch.randn(L, D, generator=gen, dtype=torch.float64)
            for K in cfg.error_K:
                per_K[K].append(error_metrics(Q, Kt, V, K))
        for K in cfg.error_K:
            trials[K].append(per_K[K])
    curves = {str(K): [_error_point(scale, draws) for scale, draws in zip(cfg.error_scales, trials[K])]
              for K in cfg.error_K}
    return {"D": D, "L": L, "trials": cfg.error_trials, "curves": curves,
            "dashed_K": [K for K in cfg.error_K if dashed(K)]}


def _error_point(scale: float, draws: list[dict[str, float]]) -> dict[str, Any]:
    """One point of an error curve: medians for the figure, and every draw's values."""
    rel = [d["relative_error"] for d in draws]
    tv = [d["total_variation"] for d in draws]
    return {"scale": scale, "relative_error": float(np.median(rel)), "total_variation": float(np.median(tv)),
            "relative_error_mean": float(np.mean(rel)), "relative_error_trials": rel, "total_variation_trials": tv,
            "negative_weight_fraction": float(np.mean([d["negative_weight_fraction"] for d in draws])),
            "nonpositive_normaliser_fraction": float(np.mean([d["nonpositive_normaliser_fraction"] for d in draws]))}


# timings ------------------------------------------------------------------------------------

class TimingPoint:
    """One (D, L) of the timing sweep: its inputs and functions, and every call timed so far, pass by pass."""

    def __init__(self, cfg: Settings, D: int, L: int, gen: torch.Generator) -> None:
        dtype = DTYPES[cfg.dtype]
        self.cfg, self.D, self.L = cfg, D, L
        Q = (torch.randn(L, D, generator=gen) / D**0.25).to(dtype)
        Kt = (torch.randn(L, D, generator=gen) / D**0.25).to(dtype)
        V = torch.randn(L, D, generator=gen).to(dtype)
        self.inputs = (Q, Kt, V)
        self.names = ["exact", "linear"]
        if linear_implementation(Q, Kt, V, cfg.timing_K) != "torch":  # the torch path too, for comparison
            self.names.append("linear_torch")
        if L >= cfg.fraction_min_L:
            self.names.append("matmul_probe")
        if L in cfg.breakdown_L:
            self.names += list(EXACT_STEPS)
        self.times: dict[str, list[float]] = {name: [] for name in self.names}
        self.pass_rounds: list[int] = []  # rounds timed in each pass, in order

    def functions(self) -> dict[str, Any]:
        """The timed functions (made afresh for each pass: the exact steps hold two L x L buffers)."""
        cfg, (Q, Kt, V) = self.cfg, self.inputs
        fns = {"exact": lambda: softmax_attention(Q, Kt, V),
               "linear": lambda: taylor_attention_linear(Q, Kt, V, cfg.timing_K)}
        if "linear_torch" in self.names:
            fns["linear_torch"] = lambda: taylor_attention_linear(Q, Kt, V, cfg.timing_K, impl="torch")
        if "matmul_probe" in self.names:
            fns["matmul_probe"] = measure.matmul_probe(cfg.probe_n, DTYPES[cfg.dtype])[0]
        if self.L in cfg.breakdown_L:
            fns.update(measure.exact_step_functions(Q, Kt, V))
        return fns

    def time(self, rounds: int, budget_s: float, min_rounds: int) -> None:
        """Time one pass: up to ``rounds`` interleaved rounds within about ``budget_s`` (at least ``min_rounds``)."""
        with torch.no_grad():
            times = measure.interleaved_times(self.functions(), rounds, budget_s, min_rounds=min(min_rounds, rounds))
        for name, xs in times.items():
            self.times[name].extend(xs)
        self.pass_rounds.append(len(times["exact"]))

    def result(self) -> dict[str, Any]:
        """The point as the results keep it; at the breakdown lengths, with the profile of the linear torch path."""
        profile = None
        if self.L in self.cfg.breakdown_L:
            with torch.no_grad():
                profile = measure.linear_profile(*self.inputs, impl="torch")
        return {"L": self.L, "times": self.times, "pass_rounds": self.pass_rounds, "linear_profile": profile}


def passes_for(cfg: Settings, L: int) -> int:
    """Passes over the sweep that time this length: ``timing_passes`` up to ``timing_pass_max_L``, else one."""
    return max(1, cfg.timing_passes) if L <= cfg.timing_pass_max_L else 1


def sweep(cfg: Settings, points: list[TimingPoint], progress: bool) -> None:
    """Time every point: the short lengths in ``timing_passes`` passes over all of them, the others in one.

    The calls at short lengths take 10-40 us, and their medians drift by up to a half
    from one stretch of seconds to the next (trials on a 2-core virtual machine; both
    methods together at times, one alone at others).  Spreading a point's rounds over
    passes that come back to it later in the run keeps one slow stretch from setting its
    median, and the passes show how far the crossover moves within a run.
    """
    work = [(k, p) for p in points for k in range(passes_for(cfg, p.L))]
    work.sort(key=lambda kp: kp[0])  # pass 0 of every point, then pass 1, ... (stable: sweep order within a pass)
    bar = tqdm(work, desc="q1 timings", disable=not progress, unit="point")
    for k, p in bar:
        bar.set_postfix(D=p.D, L=p.L, **({"pass": k + 1} if passes_for(cfg, p.L) > 1 else {}))
        n = passes_for(cfg, p.L)
        p.time(math.ceil(cfg.timing_repeats / n), cfg.timing_budget_s / n, math.ceil(cfg.timing_min_rounds / n))


def timings(cfg: Settings, gen: torch.Generator, progress: bool) -> dict[str, Any]:
    """Measure the machine, then time exact and linear attention over L for every D (on the CPU)."""
    rates_before, samples_before = measure.measure_rates(cfg.rate_repeats, cfg.matmul_n)
    calls = {D: measure.call_costs(D, cfg.call_repeats, DTYPES[cfg.dtype]) for D in cfg.timing_D}
    points = [TimingPoint(cfg, D, L, gen) for D in cfg.timing_D for L in cfg.timing_L]
    sweep(cfg, points, progress)
    rates_after, samples_after = measure.measure_rates(cfg.rate_repeats, cfg.matmul_n)
    peaks = peak_memory(cfg, gen)
    return {"points": {D: [p.result() for p in points if p.D == D] for D in cfg.timing_D}, "calls": calls,
            "rate_samples": [samples_before, samples_after], "peaks": peaks}


def pooled_rates(samples: list[dict[str, Any]]) -> cm.Rates:
    """Return the rates as medians of the samples taken before and after the sweep."""
    def pool(get) -> float:
        return measure.median([x for s in samples for x in get(s)])
    return cm.Rates(matmul=pool(lambda s: s["matmul_flops"]),
                    bandwidth={k: pool(lambda s, k=k: s["bandwidth"][k]) for k in ("l2", "l3", "dram")},
                    cache_bytes=samples[0]["cache_bytes"], softmax=pool(lambda s: s["softmax_entries"]),
                    fresh_pages=pool(lambda s: s["fresh_pages"]))


def peak_memory(cfg: Settings, gen: torch.Generator) -> dict[str, Any]:
    """Peak bytes allocated by one linear call (buffers made afresh) per D at the longest L, and its formula."""
    L = cfg.timing_L[-1]
    out = {"L": L, "linear": {}, "workspace_formula": {}, "linear_torch": {}, "workspace_formula_torch": {}}
    for D in cfg.timing_D:
        Q, Kt, V = (torch.randn(L, D, generator=gen).to(DTYPES[cfg.dtype]) for _ in range(3))
        out["linear"][str(D)] = measure.peak_allocated_bytes(lambda: taylor_attention_linear(Q, Kt, V, cfg.timing_K),
                                                             fresh_plans=True)
        torch_formula = linear_workspace_bytes(L, L, D, D, cfg.timing_K, itemsize=Q.element_size()) + Q.nbytes
        if linear_implementation(Q, Kt, V, cfg.timing_K) == "fused":
            threads = fused.threads_for(L, L, D, D)
            out["workspace_formula"][str(D)] = fused.workspace_floats(D, D, threads) * Q.element_size() + Q.nbytes
            out["linear_torch"][str(D)] = measure.peak_allocated_bytes(
                lambda: taylor_attention_linear(Q, Kt, V, cfg.timing_K, impl="torch"), fresh_plans=True)
            out["workspace_formula_torch"][str(D)] = torch_formula
        else:
            out["workspace_formula"][str(D)] = torch_formula
    D = cfg.timing_D[0]
    Q, Kt, V = (torch.randn(L, D, generator=gen).to(DTYPES[cfg.dtype]) for _ in range(3))
    out["exact"] = measure.peak_allocated_bytes(lambda: softmax_attention(Q, Kt, V))
    out["exact_D"] = D
    out["exact_formula"] = 2 * L * L * Q.element_size()  # the scores and the weights, L x L each
    return out


# analysis of the timings ---------------------------------------------------------------------

def analyse_timings(cfg: Settings, raw: dict[str, Any]) -> dict[str, Any]:
    """Turn the raw timings into per-D series: medians, crossovers measured and predicted, fractions, breakdown."""
    rates = pooled_rates(raw["rate_samples"])
    impl = implementation(cfg)
    series = [series_for(cfg, D, raw["points"][D], rates, raw["calls"][D][0], impl["linear"])
              for D in cfg.timing_D]
    return {
        "K": cfg.timing_K, "dtype": cfg.dtype, "device": "cpu", "threads": torch.get_num_threads(),
        "implementation": impl,
        "rates": {"matmul_gflops": rates.matmul / 1e9,
                  "bandwidth_gbs": {k: v / 1e9 for k, v in rates.bandwidth.items()},
                  "cache_bytes": rates.cache_bytes, "softmax_gentries": rates.softmax / 1e9,
                  "fresh_pages_gbs": rates.fresh_pages / 1e9, "matmul_n": cfg.matmul_n,
                  "mmap_threshold_bytes": cm.MMAP_THRESHOLD_BYTES},
        "rate_samples": raw["rate_samples"],
        "calls": {str(D): {"exact_s": c.exact, "linear_s": c.linear, "slab_s": c.slab, **info}
                  for D, (c, info) in raw["calls"].items()},
        "series": series, "peak_memory": raw["peaks"],
        "fraction_target": FRACTION_TARGET, "fraction_min_L": cfg.fraction_min_L,
        "model_tolerance": MODEL_TOLERANCE, "probe_n": cfg.probe_n, "tiny_L": measure.TINY_L,
        "slab_bytes": SLAB_BYTES, "fused_block": fused.block(), "settle_below_s": measure.SETTLE_BELOW_S,
        "settle_s": measure.SETTLE_S, "settle_fraction": measure.SETTLE_FRACTION,
        "model_scan_from_L": cm.SCAN_FROM,
    }


def implementation(cfg: Settings) -> dict[str, Any]:
    """Which code the "linear" timings ran (the fused kernel, or the torch path where it is not built) and why."""
    x = torch.zeros(1, 1, dtype=DTYPES[cfg.dtype])
    which = linear_implementation(x, x, x, cfg.timing_K)
    return {"linear": which, "fused_available": fused.available(), "fused_build": fused.status(),
            "torch_compared": which != "torch"}


def fixed_costs(D: int, L0: int, exact0: float, linear0: float, rates: cm.Rates, tiny: cm.CallCosts,
                K: int, impl: str = "fused") -> cm.CallCosts:
    """Per-call costs: what a call at the shortest timed length takes beyond its roofline time.

    At that length the arithmetic is negligible, so the rest is the cost of a call as such
    (Python, dispatch, allocations, waking the worker threads); the cost of an extra slab
    comes from the tiny-L measurement (``measure.call_costs``).
    """
    return cm.CallCosts(exact=max(0.0, exact0 - cm.exact_time(L0, D, rates)),
                        linear=max(0.0, linear0 - cm.linear_time(L0, D, rates, None, K, impl=impl)),
                        slab=tiny.slab)


def series_for(cfg: Settings, D: int, points: list[dict[str, Any]], rates: cm.Rates,
               tiny: cm.CallCosts, impl: str = "fused") -> dict[str, Any]:
    """Everything the report says about one D: times, crossovers by measurement and by both models, and more.

    ``impl`` is the code the "linear" timings ran ("fused" or "torch"); the models describe that code.
    """
    Ls = [p["L"] for p in points]
    exact = [measure.median(p["times"]["exact"]) for p in points]
    linear = [measure.median(p["times"]["linear"]) for p in points]
    calls = fixed_costs(D, Ls[0], exact[0], linear[0], rates, tiny, cfg.timing_K, impl)
    exact_rounds = [p["times"]["exact"] for p in points]
    linear_rounds = [p["times"]["linear"] for p in points]
    ratio = median_ratios(exact_rounds, linear_rounds)  # exact over linear, within a round
    measured = ratio_crossing(Ls, exact_rounds, linear_rounds)
    crossovers = {"predicted_crossover": cm.opcount_crossover(D, cfg.timing_K),
                  "roofline_crossover": cm.roofline_crossover(D, rates, None, cfg.timing_K, impl),
                  "roofline_calls_crossover": cm.roofline_crossover(D, rates, calls, cfg.timing_K, impl)}
    ratios = {f"ratio_to_{key.removesuffix('_crossover')}": (measured / value if measured and value else None)
              for key, value in crossovers.items()}
    return {
        "D": D, "M": feature_dim(D, cfg.timing_K), "L": Ls, "exact_s": exact, "linear_s": linear,
        "fixed_cost": {"L": Ls[0], "exact_s": calls.exact, "linear_s": calls.linear, "slab_s": calls.slab},
        "exact_repeats": exact_rounds, "linear_repeats": linear_rounds, "ratio_median": ratio,
        "ratio_quartiles": [ratio_quartiles(e, li) for e, li in zip(exact_rounds, linear_rounds)],
        "pass_rounds": [p.get("pass_rounds", [len(p["times"]["exact"])]) for p in points],
        "pass_crossovers": pass_crossovers(points), "pass_crossovers_medians": pass_crossovers(points, medians=True),
        "measured_crossover": measured, **crossovers, **ratios,
        "ratio_measured_to_predicted": ratios["ratio_to_predicted"],
        "linear_faster_from_start": ratio[0] > 1, "linear_faster_at_end": ratio[-1] > 1,
        "speedup_at_max_L": ratio[-1],
        "model": {"exact_s": [cm.exact_time(L, D, rates, calls) for L in Ls],
                  "linear_s": [cm.linear_time(L, D, rates, calls, cfg.timing_K, impl=impl) for L in Ls],
                  "exact_plain_s": [cm.exact_time(L, D, rates) for L in Ls],
                  "linear_plain_s": [cm.linear_time(L, D, rates, None, cfg.timing_K, impl=impl) for L in Ls]},
        "fractions": [fraction_of_matmul(cfg, D, p) for p in points if "matmul_probe" in p["times"]],
        "roofline_points": roofline_points(cfg, D, Ls, exact, linear, rates.cache_bytes["l3"], impl)
        + torch_roofline_points(cfg, D, points, rates.cache_bytes["l3"]),
        "torch_path": torch_path(cfg, D, points),
        "breakdown": [breakdown(cfg, D, p, rates) for p in points if p["linear_profile"] is not None],
    }


def ratio_quartiles(exact: list[float], linear: list[float]) -> list[float]:
    """The lower and upper quartile over rounds of exact over linear time within a round."""
    return [float(q) for q in np.quantile([e / li for e, li in zip(exact, linear)], [0.25, 0.75])]


def pass_slices(point: dict[str, Any]) -> list[slice]:
    """The rounds of each pass at a point (one slice for a point timed in one pass)."""
    out, i = [], 0
    for n in point.get("pass_rounds", [len(point["times"]["exact"])]):
        out.append(slice(i, i + n))
        i += n
    return out


def pass_crossovers(points: list[dict[str, Any]], key: str = "linear", medians: bool = False) -> list[float | None]:
    """The crossover measured from each pass alone (a length timed in one pass lends its rounds to every pass).

    By default from the within-round ratios, as the measured crossover; with ``medians``, where the two
    medians cross, for comparison.
    """
    n = max(len(pass_slices(p)) for p in points)
    if n < 2:
        return []
    out = []
    for k in range(n):
        rounds = [(p["times"]["exact"][sl], p["times"][key][sl])
                  for p in points for sl in [pass_slices(p)[min(k, len(pass_slices(p)) - 1)]]]
        Ls, exact, linear = [p["L"] for p in points], [e for e, _ in rounds], [li for _, li in rounds]
        out.append(crossing_point(Ls, [measure.median(e) for e in exact], [measure.median(li) for li in linear])
                   if medians else ratio_crossing(Ls, exact, linear))
    return out


def torch_path(cfg: Settings, D: int, points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The torch path's times, measured crossover and share of the matmul rate, where it was timed beside the kernel."""
    if not all("linear_torch" in p["times"] for p in points):
        return None
    Ls = [p["L"] for p in points]
    linear = [measure.median(p["times"]["linear_torch"]) for p in points]
    rounds = [p["times"]["linear_torch"] for p in points]
    ratio = median_ratios([p["times"]["exact"] for p in points], rounds)
    return {"linear_s": linear, "linear_repeats": rounds, "ratio_median": ratio,
            "measured_crossover": ratio_crossing(Ls, [p["times"]["exact"] for p in points], rounds),
            "linear_faster_from_start": ratio[0] > 1,
            "fractions": [fraction_of_matmul(cfg, D, p, "linear_torch") for p in points
                          if "matmul_probe" in p["times"]]}


def fraction_of_matmul(cfg: Settings, D: int, point: dict[str, Any], key: str = "linear") -> dict[str, Any]:
    """The linear path's useful GFLOP/s over the matmul rate timed in the same rounds (the probe product)."""
    L, times = point["L"], dict(point["times"])
    times["linear"] = times[key]
    flops = cm.linear_flops(L, D, cfg.timing_K)
    probe_flops = 2.0 * cfg.probe_n**3
    linear_rates = [flops / t / 1e9 for t in times["linear"]]
    probe_rates = [probe_flops / t / 1e9 for t in times["matmul_probe"]]
    linear_gflops, probe_gflops = flops / measure.median(times["linear"]) / 1e9, \
        probe_flops / measure.median(times["matmul_probe"]) / 1e9
    return {"L": L, "useful_flops": flops, "linear_gflops": linear_gflops, "matmul_gflops": probe_gflops,
            "fraction": linear_gflops / probe_gflops,
            "fraction_repeats": [a / b for a, b in zip(linear_rates, probe_rates)],
            "meets_target": linear_gflops / probe_gflops >= FRACTION_TARGET}


def roofline_points(cfg: Settings, D: int, Ls: list[int], exact: list[float], linear: list[float],
                    l3_bytes: float, impl: str = "fused") -> list[dict]:
    """Achieved useful GFLOP/s and arithmetic intensity (useful FLOPs per modelled byte of main-memory traffic)."""
    points = []
    for L, te, tl in zip(Ls, exact, linear):
        fe, fl = cm.exact_useful_flops(L, D), cm.linear_flops(L, D, cfg.timing_K)
        points.append({"L": L, "method": "exact", "gflops": fe / te / 1e9,
                       "intensity": fe / cm.dram_traffic(cm.exact_steps(L, D), L, D, l3_bytes)})
        points.append({"L": L, "method": "linear", "gflops": fl / tl / 1e9,
                       "intensity": fl / cm.dram_traffic(cm.IMPL_STEPS[impl](L, D, cfg.timing_K), L, D,
                                                         l3_bytes)})
    return points


def torch_roofline_points(cfg: Settings, D: int, points: list[dict[str, Any]], l3_bytes: float) -> list[dict]:
    """The torch path's points (method "linear_torch"), where it was timed beside the fused kernel."""
    if not all("linear_torch" in p["times"] for p in points):
        return []
    out = []
    for p in points:
        L = p["L"]
        fl = cm.linear_flops(L, D, cfg.timing_K)
        out.append({"L": L, "method": "linear_torch", "gflops": fl / measure.median(p["times"]["linear_torch"]) / 1e9,
                    "intensity": fl / cm.dram_traffic(cm.linear_steps(L, D, cfg.timing_K), L, D, l3_bytes)})
    return out


def breakdown(cfg: Settings, D: int, point: dict[str, Any], rates: cm.Rates) -> dict[str, Any]:
    """Where one call's time goes: exact by its steps run in place, linear by the profiler's operator kinds."""
    t = {name: measure.median(ts) for name, ts in point["times"].items()}
    matmul = t["scores_in_place"] + t["weighted_sum_in_place"]
    rest = max(0.0, t["exact"] - matmul - t["softmax_in_place"])
    profile = point["linear_profile"]
    product_flops = 4.0 * point["L"] * feature_dim(D, cfg.timing_K) * (D + 1)
    return {
        "L": point["L"],
        "exact": {"total_s": t["exact"], "matmul_s": matmul, "softmax_s": t["softmax_in_place"],
                  "fresh_pages_and_rest_s": rest,
                  "fresh_pages_model_s": sum(st.fresh_bytes for st in cm.exact_steps(point["L"], D)
                                             if st.fresh_bytes > cm.MMAP_THRESHOLD_BYTES) / rates.fresh_pages},
        "exact_repeats": {name: ts for name, ts in point["times"].items() if name != "linear"},
        "linear": profile,
        "linear_products_gflops": product_flops / profile["products"] / 1e9 if profile["products"] else None,
    }


# derivations -----------------------------------------------------------------------------------

def derivations(cfg: Settings) -> dict[str, Any]:
    """SymPy's results and their LaTeX, for the report to print."""
    latex = sp.latex
    min3 = sym.polynomial_minimum(3)
    witness = sym.negative_witness(4)
    seed_residual = sym.seed_kernel_residual(2)
    kernel_checks = [
        {"form": form, "D": d, "K": k, "holds": bool(sym.kernel_residual(d, k, form) == 0)}
        for form in FORMS for d in (1, 2, 3) for k in (1, 2, 3, 4)
    ]
    return {
        "M_sum": latex(sp.Eq(sp.Symbol("M"), sym.feature_dim_sum())),
        "M_closed": latex(sym.feature_dim_closed()),
        "M_k3_expanded": latex(sp.expand(sym.feature_dim_k3())),
        "M_k3_factored": latex(sym.feature_dim_k3()),
        "M_tensor": latex(sym.feature_dim_tensor()),
        "M_tensor_k3": latex(sp.expand(sym.feature_dim_tensor().subs(sym.K, 3).doit())),
        "M_seed": latex(sym.seed_feature_dim()),
        "monomial_count": latex(sym.monomial_count()),
        "closed_form_symbolic": bool(sym.closed_form_holds_symbolically()),
        "closed_form_checked_K": [k for k in range(1, 8) if sym.closed_form_holds_for(k)],
        "pascal_step": bool(sym.pascal_step_holds()),
        "multinomial_checked": [{"D": d, "n": m, "holds": bool(sym.multinomial_identity_holds(d, m))}
                                for d in (2, 3) for m in (2, 3)],
        "kernel_checks": kernel_checks,
        "seed_residual_D2": latex(seed_residual),
        "seed_fails": bool(seed_residual != 0),
        "phi_k3_D2": latex(sp.Matrix(sym.symbolic_features(list(sp.symbols("x1:3", real=True)), 3)).T),
        "taylor3": latex(sym.taylor_polynomial(3)),
        "taylor3_square": latex(sym.k3_completed_square()),
        "taylor3_square_equal": bool(sp.simplify(sym.k3_completed_square() - sym.taylor_polynomial(3)) == 0),
        "taylor3_argmin": float(min3[0]),
        "taylor3_min": float(min3[1]),
        "taylor3_min_latex": latex(min3[1]),
        "taylor3_positive": bool(sym.is_positive_everywhere(3)),
        "taylor4": latex(sym.taylor_polynomial(4)),
        "taylor4_positive": bool(sym.is_positive_everywhere(4)),
        "taylor4_witness_t": float(witness[0]) if witness else None,
        "taylor4_witness_value": latex(witness[1]) if witness else None,
        "taylor4_witness_float": float(witness[1]) if witness else None,
        "cost_exact": latex(sym.exact_cost()),
        "cost_linear": latex(sym.linear_cost()),
        "cost_quadratic_taylor": latex(sym.quadratic_taylor_cost()),
        "crossover": latex(sym.crossover_length()),
        "based_D": 16,
        "based_M_symmetric": feature_dim(16, 3, "symmetric"),
        "based_M_tensor": feature_dim(16, 3, "tensor"),
    }


# figures ---------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def figure_error(ctx: RunContext, error: dict[str, Any]) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for K, points in error["curves"].items():
        scales = [p["scale"] for p in points]
        style = "--" if dashed(int(K)) else "-"
        axes[0].plot(scales, [p["relative_error"] for p in points], style, marker="o", ms=3, label=f"K = {K}")
        axes[1].plot(scales, [p["total_variation"] for p in points], style, marker="o", ms=3, label=f"K = {K}")
    axes[0].set_ylabel(r"$\|\hat Z - Z\|_F \,/\, \|Z\|_F$")
    axes[1].set_ylabel("mean total variation of attention rows")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"standard deviation of $q^\top k$")
        ax.xaxis.set_minor_formatter(plt.NullFormatter())  # minor labels on a short log axis overlap
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(title="series terms", fontsize=8)
    fig.tight_layout()
    ctx.save_figure(fig, "approximation_error.png")


def figure_timings(ctx: RunContext, timing: dict[str, Any]) -> None:
    """One column per D: measured times against the roofline with per-call costs (top); the ratio of exact
    to linear time within a round against both rooflines' ratio (bottom); crossovers as vertical lines."""
    plt = _pyplot()
    series = timing["series"]
    fig, axes = plt.subplots(2, len(series), figsize=(3.3 * len(series), 5.8), sharex="col", sharey="row",
                             squeeze=False, gridspec_kw={"height_ratios": [3, 2]})
    for top, bottom, s in zip(axes[0], axes[1], series):
        top.plot(s["L"], s["exact_s"], "o", color="C0", ms=4, label="exact, measured")
        top.plot(s["L"], s["linear_s"], "s", color="C1", ms=4, label="linear, measured")
        if s.get("torch_path"):
            top.plot(s["L"], s["torch_path"]["linear_s"], "^", color="C2", mfc="none", ms=4,
                     label="linear (torch ops), measured")
        top.plot(s["L"], s["model"]["exact_s"], "-", color="C0", lw=1, label="exact, roofline + calls")
        top.plot(s["L"], s["model"]["linear_s"], "-", color="C1", lw=1, label="linear, roofline + calls")
        q = np.asarray(s["ratio_quartiles"]).T
        mid = np.asarray(s["ratio_median"])
        bottom.errorbar(s["L"], mid, yerr=[mid - q[0], q[1] - mid], fmt="D", color="k", ms=3.5, lw=0.8, capsize=2,
                        label="exact / linear, measured (median, quartiles)")
        model = s["model"]
        bottom.plot(s["L"], np.divide(model["exact_plain_s"], model["linear_plain_s"]), "--", color="C3", lw=1,
                    label="exact / linear, roofline")
        bottom.plot(s["L"], np.divide(model["exact_s"], model["linear_s"]), "-", color="C3", lw=1,
                    label="exact / linear, roofline + calls")
        bottom.axhline(1.0, color="0.5", lw=0.8)
        for ax in (top, bottom):
            for key, style, label in (("measured_crossover", "-", "measured $L^*$"),
                                      ("predicted_crossover", ":", "op-count $L^*$"),
                                      ("roofline_crossover", (0, (5, 2, 1, 2)), "roofline $L^*$"),
                                      ("roofline_calls_crossover", "--", "roofline + calls $L^*$")):
                if s[key]:
                    ax.axvline(s[key], color="0.35", lw=0.9, ls=style, label=label if ax is top else None)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.25)
        top.set_title(f"D = {s['D']} (M = {s['M']})", fontsize=9)
        bottom.set_xlabel("sequence length L")
    axes[0][0].set_ylabel("wall time per call (s)")
    axes[1][0].set_ylabel("exact time / linear time")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    more = axes[1][-1].get_legend_handles_labels()
    fig.legend(handles + more[0], labels + more[1], loc="lower center", ncol=4, fontsize=7.5, frameon=False)
    fig.tight_layout(rect=(0, 0.11, 1, 1))
    ctx.save_figure(fig, "timings.png")


def figure_roofline(ctx: RunContext, timing: dict[str, Any]) -> None:
    """Achieved GFLOP/s against arithmetic intensity, under the measured matmul rate and bandwidths."""
    plt = _pyplot()
    rates = timing["rates"]
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    long = timing["fraction_min_L"]  # the long-sequence regime the roofline is about
    points = [p for s in timing["series"] for p in s["roofline_points"] if p["L"] >= long]
    xs = [p["intensity"] for p in points]
    grid = np.logspace(math.log10(min(xs) / 2), math.log10(max(xs) * 2), 200)
    peak = rates["matmul_gflops"]
    bw = rates["bandwidth_gbs"]["dram"]
    ax.plot(grid, np.minimum(peak, bw * grid), "k-", lw=1.0,
            label=f"roof: matmul {peak:.0f} GFLOP/s, DRAM {bw:.0f} GB/s")
    linear_label = "linear (fused kernel)" if timing.get("implementation", {}).get("linear") == "fused" else "linear"
    labels = {"exact": "exact", "linear": linear_label, "linear_torch": "linear (torch ops)"}
    for i, s in enumerate(timing["series"]):
        for method, marker, fill in (("exact", "o", "none"), ("linear", "s", f"C{i}"), ("linear_torch", "^", "none")):
            pts = [p for p in s["roofline_points"] if p["method"] == method and p["L"] >= long]
            if not pts:
                continue
            ax.plot([p["intensity"] for p in pts], [p["gflops"] for p in pts], marker, color=f"C{i}", mfc=fill,
                    ms=4, alpha=0.9, label=f"{labels[method]}, D = {s['D']}")
            last = max(pts, key=lambda p: p["L"])  # one label per series (the longest L): more would overlap
            ax.annotate(f"{last['L']:,}", (last["intensity"], last["gflops"]), fontsize=6.5, color="0.3",
                        xytext=(4, -2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (useful FLOPs per byte of main-memory traffic, modelled)")
    ax.set_ylabel("achieved GFLOP/s (useful FLOPs)")
    ax.grid(True, which="both", alpha=0.25)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    ctx.save_figure(fig, "roofline.png")


# the run ---------------------------------------------------------------------------------------

def run(ctx: RunContext) -> dict[str, Any]:
    cfg = ctx.config
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = tqdm(total=5, desc="q1", disable=not ctx.progress, unit="step")
    table = dimension_table(cfg); steps.update()
    checks = numeric_checks(cfg, gen); steps.update()
    error = approximation_error(cfg, gen); steps.update()
    derived = derivations(cfg); steps.update()
    # timings run on the CPU whatever --device says: the cost model's rates (caches, page faults) are the CPU's
    timing = analyse_timings(cfg, timings(cfg, gen, ctx.progress)); steps.update()
    steps.close()
    figure_error(ctx, error)
    figure_timings(ctx, timing)
    figure_roofline(ctx, timing)
    return {"dimensions": table, "checks": checks, "error": error, "timing": timing, "symbolic": derived,
            "reproducibility": reproducibility(cfg, timing)}


def reproducibility(cfg: Settings, timing: dict[str, Any]) -> dict[str, str]:
    """The checklist entries for the report's appendix, written from the settings used."""
    return {
        "data": (f"no data set: queries, keys and values are Gaussian draws from one torch.Generator "
                 f"seeded with {cfg.seed} (error study: D = {cfg.error_D}, L = {cfg.error_L}; "
                 f"timings: D in {cfg.timing_D}, L from {cfg.timing_L[0]} to {cfg.timing_L[-1]})"),
        "hyperparameters": "none are tuned; the grid of D, K, L and scales is fixed in pipeline/profiles.py",
        "seeds": (f"seed {cfg.seed}; error curves are medians over {cfg.error_trials} draws (every draw is "
                  f"recorded); each timing is the median of up to {cfg.timing_repeats} calls after one "
                  f"warm-up call, with every call's time recorded"),
        "compute": (f"{timing['device']}, {timing['threads']} threads, {cfg.dtype}; linear attention timed "
                    + (f"as the compiled kernel ({timing['implementation']['fused_build']}) and as its torch path"
                       if timing["implementation"]["linear"] == "fused" else
                       f"as its torch path (no compiled kernel: {timing['implementation']['fused_build']})")
                    + "; timings depend on the machine and on what else runs on it; the machine's rates are "
                    "measured in the same run"),
    }


if __name__ == "__main__":
    raise SystemExit(main(NAME, __doc__, run))
