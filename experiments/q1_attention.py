"""Q1: self-attention cost, the McLaurin feature map, and linear attention.

Computes the feature-space sizes, checks the kernel identity numerically,
measures the approximation error against exact softmax attention as the scale
of q.k grows, times exact against linear attention over the sequence length,
and records SymPy's derivations (as LaTeX) for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import math
import time
from typing import Any

import numpy as np
import sympy as sp
import torch
from tqdm.auto import tqdm

from pipeline.runner import RunContext, main
from hw2.q1 import symbolic as sym
from hw2.q1.attention import (
    FORMS,
    feature_dim,
    mclaurin_features,
    softmax_attention,
    taylor_attention_linear,
    taylor_attention_quadratic,
    taylor_attention_weights,
    taylor_exp,
)

NAME = "q1_attention"


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
    timing_L: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384])
    timing_repeats: int = 7
    timing_budget_s: float = 8.0
    dtype: str = "float32"
DTYPES = {"float32": torch.float32, "float64": torch.float64}


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


def approximation_error(cfg: Settings, gen: torch.Generator) -> dict[str, Any]:
    """Error of Taylor attention against softmax attention as the spread of q.k grows."""
    D, L = cfg.error_D, cfg.error_L
    curves: dict[str, list[dict[str, float]]] = {}
    for K in cfg.error_K:
        points = []
        for scale in cfg.error_scales:
            rel, tv, neg, neg_w = [], [], [], []
            for _ in range(cfg.error_trials):
                # entries N(0, scale/sqrt(D)) make the std of q.k equal to `scale`
                sigma = math.sqrt(scale / math.sqrt(D))
                Q = torch.randn(L, D, generator=gen, dtype=torch.float64) * sigma
                Kt = torch.randn(L, D, generator=gen, dtype=torch.float64) * sigma
                V = torch.randn(L, D, generator=gen, dtype=torch.float64)
                exact_w = torch.softmax(Q @ Kt.T, dim=-1)
                approx_w = taylor_attention_weights(Q, Kt, K)
                Z, Z_hat = exact_w @ V, approx_w @ V
                rel.append(float(torch.linalg.norm(Z_hat - Z) / torch.linalg.norm(Z)))
                tv.append(float(0.5 * (approx_w - exact_w).abs().sum(-1).mean()))
                weights = taylor_exp(Q @ Kt.T, K)
                neg_w.append(float((weights < 0).double().mean()))
                neg.append(float((weights.sum(-1) <= 0).double().mean()))
            points.append({"scale": scale, "relative_error": float(np.median(rel)),
                           "total_variation": float(np.median(tv)),
                           "negative_weight_fraction": float(np.mean(neg_w)),
                           "nonpositive_normaliser_fraction": float(np.mean(neg))})
        curves[str(K)] = points
    return {"D": D, "L": L, "trials": cfg.error_trials, "curves": curves}


def _time_call(fn, device: torch.device, repeats: int, budget_s: float) -> float:
    """Median wall time of ``fn()`` over up to ``repeats`` calls within about ``budget_s``."""
    def once() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    first = once()  # warm-up (allocations, kernel selection)
    times = [once()]
    while len(times) < repeats and sum(times) + first < budget_s:
        times.append(once())
    return float(np.median(times))


def crossing_point(lengths: list[int], exact: list[float], linear: list[float]) -> float | None:
    """L where the log-log curves of exact and linear time cross (log-linear interpolation)."""
    diff = [math.log(e) - math.log(li) for e, li in zip(exact, linear)]
    for i in range(1, len(diff)):
        if diff[i - 1] <= 0 < diff[i]:
            a, b = math.log(lengths[i - 1]), math.log(lengths[i])
            frac = -diff[i - 1] / (diff[i] - diff[i - 1])
            return float(math.exp(a + frac * (b - a)))
    if diff and diff[0] > 0:
        return None  # linear already faster at the shortest length
    return None


def timings(cfg: Settings, device: torch.device, gen: torch.Generator, progress: bool) -> dict[str, Any]:
    """Wall time of exact softmax attention and linear Taylor attention over L, per D."""
    dtype = DTYPES[cfg.dtype]
    K = cfg.timing_K
    series = []
    jobs = [(D, L) for D in cfg.timing_D for L in cfg.timing_L]
    bar = tqdm(jobs, desc="q1 timings", disable=not progress, unit="point")
    by_D: dict[int, dict[str, list]] = {}
    for D, L in bar:
        bar.set_postfix(D=D, L=L)
        Q = torch.randn(L, D, generator=gen).to(device=device, dtype=dtype) / D**0.25
        Kt = torch.randn(L, D, generator=gen).to(device=device, dtype=dtype) / D**0.25
        V = torch.randn(L, D, generator=gen).to(device=device, dtype=dtype)
        with torch.no_grad():
            t_exact = _time_call(lambda: softmax_attention(Q, Kt, V), device,
                                 cfg.timing_repeats, cfg.timing_budget_s)
            t_linear = _time_call(lambda: taylor_attention_linear(Q, Kt, V, K), device,
                                  cfg.timing_repeats, cfg.timing_budget_s)
        entry = by_D.setdefault(D, {"L": [], "exact_s": [], "linear_s": []})
        entry["L"].append(L)
        entry["exact_s"].append(t_exact)
        entry["linear_s"].append(t_linear)
    for D, entry in by_D.items():
        M = feature_dim(D, K)
        measured = crossing_point(entry["L"], entry["exact_s"], entry["linear_s"])
        predicted = sym.crossover_at(D, K)
        series.append({
            "D": D, "M": M, **entry,
            "predicted_crossover": predicted,
            "measured_crossover": measured,
            "linear_faster_from_start": entry["linear_s"][0] < entry["exact_s"][0],
            "linear_faster_at_end": entry["linear_s"][-1] < entry["exact_s"][-1],
            "ratio_measured_to_predicted": measured / predicted if measured else None,
            "speedup_at_max_L": entry["exact_s"][-1] / entry["linear_s"][-1],
        })
    return {"K": K, "dtype": cfg.dtype, "device": str(device),
            "threads": torch.get_num_threads(), "series": series}


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
        "kernel_all_hold": all(c["holds"] for c in kernel_checks),
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


def figure_error(ctx: RunContext, error: dict[str, Any]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for K, points in error["curves"].items():
        scales = [p["scale"] for p in points]
        style = "-" if int(K) % 2 == 1 else "--"
        axes[0].plot(scales, [p["relative_error"] for p in points], style, marker="o", ms=3, label=f"K = {K}")
        axes[1].plot(scales, [p["total_variation"] for p in points], style, marker="o", ms=3, label=f"K = {K}")
    axes[0].set_ylabel(r"$\|\hat Z - Z\|_F \,/\, \|Z\|_F$")
    axes[1].set_ylabel("mean total variation of attention rows")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"standard deviation of $q^\top k$")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(title="series terms", fontsize=8)
    fig.tight_layout()
    ctx.save_figure(fig, "approximation_error.png")


def figure_timings(ctx: RunContext, timing: dict[str, Any]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, s in enumerate(timing["series"]):
        color = f"C{i}"
        ax.plot(s["L"], s["exact_s"], "-o", color=color, ms=3, label=f"exact, D = {s['D']}")
        ax.plot(s["L"], s["linear_s"], "--s", color=color, ms=3, label=f"linear, D = {s['D']} (M = {s['M']})")
        ax.axvline(s["predicted_crossover"], color=color, lw=0.8, ls=":")
        if s["measured_crossover"]:
            y = np.interp(math.log(s["measured_crossover"]), np.log(s["L"]), s["exact_s"])
            ax.plot([s["measured_crossover"]], [y], marker="*", ms=11, color=color, mec="black", mew=0.5)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length L")
    ax.set_ylabel("wall time per call (s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    ctx.save_figure(fig, "timings.png")


def run(ctx: RunContext) -> dict[str, Any]:
    cfg = ctx.config
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = tqdm(total=5, desc="q1", disable=not ctx.progress, unit="step")
    table = dimension_table(cfg); steps.update()
    checks = numeric_checks(cfg, gen); steps.update()
    error = approximation_error(cfg, gen); steps.update()
    derived = derivations(cfg); steps.update()
    timing = timings(cfg, ctx.device, gen, ctx.progress); steps.update()
    steps.close()
    figure_error(ctx, error)
    figure_timings(ctx, timing)
    return {"dimensions": table, "checks": checks, "error": error, "timing": timing, "symbolic": derived,
            "reproducibility": reproducibility(cfg, timing)}


def reproducibility(cfg: Settings, timing: dict[str, Any]) -> dict[str, str]:
    """The checklist entries for the report's appendix, written from the settings used."""
    return {
        "data": (f"no data set: queries, keys and values are Gaussian draws from one torch.Generator "
                 f"seeded with {cfg.seed} (error study: D = {cfg.error_D}, L = {cfg.error_L}; "
                 f"timings: D in {cfg.timing_D}, L from {cfg.timing_L[0]} to {cfg.timing_L[-1]})"),
        "hyperparameters": "none are tuned; the grid of D, K, L and scales is fixed in pipeline/profiles.py",
        "seeds": (f"seed {cfg.seed}; error curves are medians over {cfg.error_trials} draws; each timing is "
                  f"the median of up to {cfg.timing_repeats} calls after one warm-up call"),
        "compute": (f"{timing['device']}, {timing['threads']} threads, {cfg.dtype}; timings depend on the "
                    "machine and on what else runs on it"),
    }


if __name__ == "__main__":
    raise SystemExit(main(NAME, __doc__, run))
