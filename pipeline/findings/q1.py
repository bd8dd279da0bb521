"""Q1's findings: the claims its section makes, decided from its results.

Timings are compared by the spread of their repeats (``compare_timings``); the error
study compares two numbers of series terms on the same random draws (a paired
bootstrap over the draws).  A cost model "predicts" the crossover when it is within
the experiment's tolerance factor of the measured one for every D; where the time of
a method goes is read from the measured breakdown, never assumed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from hw2.q1.crossing import bootstrap_crossing, crossing_point
from pipeline.findings import Comparison, Listing, compare_paired, compare_timings

CROSSOVER_LEVEL = 0.95  # the measured crossover's bootstrap interval
MODEL_LABELS = {"predicted": "the operation count", "roofline": "the roofline",
                "roofline_calls": "the roofline with per-call costs"}
EXACT_PARTS = {"matmul_s": "the two matrix products", "softmax_s": "the softmax",
               "fresh_pages_and_rest_s": "what is left after the products and the softmax (writing the L×L tensors into fresh pages among it)"}
LINEAR_PARTS = {"products": "the two matrix products", "feature_map": "building the features",
                "input_copies": "copying the inputs", "division": "the division",
                "other": "the rest (Python, dispatch, views, allocations)"}


# --------------------------------------------------------------------------- helpers


def _raw(x: Any) -> Any:
    """Return the plain data behind a ResultsView (or the value itself)."""
    return getattr(x, "raw", x)


def _share(part: float, total: float) -> float:
    return part / total if total else 0.0


def _ms(seconds: Any) -> Any:
    """Return seconds in milliseconds (the report prints short times in ms; traced values stay traced)."""
    return seconds * 1000


@dataclass(frozen=True)
class TimeComparison:
    """A comparison of two times (lower is better), with its difference and noise in milliseconds for printing."""

    comparison: Comparison

    @property
    def tied(self) -> bool:
        return self.comparison.tied

    @property
    def a_ahead(self) -> bool:
        return self.comparison.a_ahead

    @property
    def noise_known(self) -> bool:
        return self.comparison.noise_known

    @property
    def magnitude_ms(self) -> Any:
        return _ms(self.comparison.magnitude)

    @property
    def ratio(self) -> float:
        """The slower time over the faster one."""
        return self.comparison.ratio

    @property
    def ratio_threshold(self) -> float | None:
        """The smallest ratio the spread of the repeats does not explain."""
        return self.comparison.ratio_threshold

    @property
    def threshold_ms(self) -> float | None:
        return None if self.comparison.threshold is None else self.comparison.threshold * 1000


def _compare_times(a: Any, b: Any, repeats_a: Any, repeats_b: Any) -> TimeComparison:
    """compare_timings of two median times (seconds) by the spread of their repeats."""
    return TimeComparison(compare_timings(a, b, list(repeats_a), list(repeats_b)))


@dataclass(frozen=True)
class Part:
    """One component of a call's time: its name, seconds and share of the whole."""

    name: str
    seconds: float
    share: float


def _parts(values: Any, labels: dict[str, str], total: float) -> tuple[Part, ...]:
    return tuple(Part(label, values[key], _share(values[key], total)) for key, label in labels.items())


def _largest(parts: tuple[Part, ...]) -> Part:
    return max(parts, key=lambda p: float(p.seconds))


# --------------------------------------------------------------------------- feature sizes and checks


@dataclass(frozen=True)
class DimRow:
    D: int
    cells: tuple[tuple[int, int], ...]  # (symmetric, tensor) for each K of the table


@dataclass(frozen=True)
class Dimensions:
    Ks: tuple[int, ...]
    rows: tuple[DimRow, ...]
    mismatches: int  # feature maps whose output length differs from the formula

    @property
    def all_match(self) -> bool:
        return self.mismatches == 0


def dimensions(r: Any) -> Dimensions:
    """Return the feature-size table by D and K, and how many built maps disagree with the formula."""
    rows = list(r["dimensions"])
    Ks = tuple(dict.fromkeys(int(row["K"]) for row in rows))
    Ds = tuple(dict.fromkeys(int(row["D"]) for row in rows))
    table = tuple(DimRow(D, tuple((row["symmetric"], row["tensor"]) for row in rows if int(row["D"]) == D))
                  for D in Ds)
    mismatches = sum(1 for row in rows if int(row["symmetric"]) != int(row["symmetric_measured"])
                     or (row["tensor_measured"] is not None and int(row["tensor"]) != int(row["tensor_measured"])))
    return Dimensions(Ks, table, mismatches)


@dataclass(frozen=True)
class Checks:
    kernel_holding: int  # symbolic kernel identities that SymPy finds exactly zero
    kernel_total: int

    @property
    def all_hold(self) -> bool:
        return self.kernel_holding == self.kernel_total


def checks(r: Any) -> Checks:
    """Return how many of SymPy's kernel-identity checks hold."""
    cases = list(r["symbolic"]["kernel_checks"])
    return Checks(sum(1 for c in cases if c["holds"]), len(cases))


# --------------------------------------------------------------------------- approximation error


@dataclass(frozen=True)
class ErrorStudy:
    k3_first: Any  # the K = 3 point at the smallest spread
    k3_last: Any  # and at the largest
    has_k4: bool
    k4_last: Any | None
    k4_vs_k3: Comparison | None  # mean relative error over the same draws at the largest spread (lower is better)
    dashed_K: tuple[int, ...]

    @property
    def k4_worse(self) -> bool:
        return self.k4_vs_k3 is not None and self.k4_vs_k3.b_ahead

    @property
    def k4_better(self) -> bool:
        return self.k4_vs_k3 is not None and self.k4_vs_k3.a_ahead

    @property
    def k4_tied(self) -> bool:
        return self.k4_vs_k3 is not None and self.k4_vs_k3.tied


def error_study(r: Any) -> ErrorStudy:
    """Return the K = 3 error at both ends of the spread and K = 4 against K = 3 at the largest spread."""
    curves = r["error"]["curves"]
    k3 = curves["3"]
    k4 = curves["4"] if "4" in curves else None
    comparison = None
    if k4 is not None:
        a, b = k4[len(k4) - 1], k3[len(k3) - 1]
        comparison = compare_paired(a["relative_error_mean"], b["relative_error_mean"], list(a["relative_error_trials"]),
                                    list(b["relative_error_trials"]), higher_is_better=False, digits=4,
                                    what="random draws")
    return ErrorStudy(k3[0], k3[len(k3) - 1], k4 is not None, k4[len(k4) - 1] if k4 is not None else None,
                      comparison, tuple(int(k) for k in r["error"]["dashed_K"]))


# --------------------------------------------------------------------------- crossover and models


@dataclass(frozen=True)
class ModelPrediction:
    model: str  # key: predicted (operation count), roofline, roofline_calls
    crossover: float | None
    ratio: float | None  # measured / predicted
    within: bool  # within the tolerance factor
    everywhere: bool = False  # the model has linear attention faster from the first length it scans
    decided: bool = True  # the measured crossover's bootstrap interval puts the ratio on one side of the tolerance


@dataclass(frozen=True)
class UndecidedWithin:
    """Models within the bound for one D only at the measured crossover, not over its interval."""

    D: int
    models: Listing
    low: float | None
    high: float | None
    outliers: OutlierPasses | None = None  # the D's outlying passes, when without them every one of these
    # models is within the bound over the whole interval (None otherwise)


@dataclass(frozen=True)
class OutlierPasses:
    """Passes whose crossover lies more than the tolerance factor from the median of all the passes'."""

    passes: Listing  # their numbers, from 1
    crossovers: Listing  # their crossovers, in the same order (as printed: whole lengths)
    others_low: float  # the other passes' crossovers range from here ...
    others_high: float  # ... to here
    interval_low: float | None  # the measured crossover's bootstrap interval without the outlying passes
    interval_high: float | None


@dataclass(frozen=True)
class PassRange:
    """The crossovers measured pass by pass: the lowest and highest, and how many passes crossed at all."""

    low: float | None
    high: float | None
    crossing: int
    passes: int

    @property
    def none_crossed(self) -> bool:
        return self.crossing == 0

    @property
    def missed(self) -> int:
        """Passes without a crossover (0 when every pass has one)."""
        return self.passes - self.crossing


@dataclass(frozen=True)
class CrossoverRow:
    D: int
    M: int
    measured: float | None
    linear_faster_from_start: bool
    L_first: int
    L_last: int
    predictions: tuple[ModelPrediction, ...]
    exact_call_ms: float  # fixed cost of a call: time at the shortest L beyond its roofline time
    linear_call_ms: float
    linear_fixed_share: float | None  # linear_call_ms over the linear time at the measured crossover
    fixed_L: int  # the length the fixed costs were taken at
    torch_measured: float | None = None  # the torch path's measured crossover, where it was timed beside the kernel
    torch_faster_from_start: bool = False
    measured_low: float | None = None  # 95% bootstrap interval of the measured crossover (passes, then rounds resampled)
    measured_high: float | None = None
    bracket: tuple[int, int] | None = None  # the two timed lengths the measured crossing is interpolated between
    by_pass: PassRange | None = None  # the crossover measured from each pass alone (None: timed in one pass)
    medians_by_pass: PassRange | None = None  # the same for the crossing of the two medians, pass by pass
    outliers: OutlierPasses | None = None  # passes far from the others, and the interval without them
    medians_crossing: float | None = None  # where the medians of all the run's times cross, for comparison

    @property
    def between_first_two(self) -> bool:
        """The crossing is interpolated between the two shortest timed lengths, where calls are mostly overhead."""
        return self.bracket is not None and int(self.bracket[0]) == int(self.L_first)


def interpolate_loglog(xs: list[float], ys: list[float], x: float) -> float:
    """Return y at x on the piecewise-linear log-log curve through (xs, ys) (clamped at the ends)."""
    lx = [math.log(float(v)) for v in xs]
    ly = [math.log(float(v)) for v in ys]
    t = math.log(float(x))
    if t <= lx[0]:
        return float(ys[0])
    for i in range(1, len(lx)):
        if t <= lx[i]:
            w = (t - lx[i - 1]) / (lx[i] - lx[i - 1])
            return math.exp(ly[i - 1] + w * (ly[i] - ly[i - 1]))
    return float(ys[-1])


@dataclass(frozen=True)
class ModelVerdict:
    model: str
    label: str
    within_all: bool  # within the tolerance for every D (a D without a measured crossover: its bound)
    worst_factor: float | None  # the largest max(ratio, 1/ratio) over the D with a measured crossover
    missed: Listing = Listing(())  # the D values it misses
    undecided: Listing = Listing(())  # D values where the measured crossover's interval straddles the tolerance
    too_late: bool = False  # every miss predicts the crossover later than measured
    too_early: bool = False  # every miss predicts it earlier

    @property
    def undecided_missed(self) -> Listing:
        return Listing(tuple(D for D in self.undecided.items if D in self.missed.items))

    @property
    def undecided_within(self) -> Listing:
        return Listing(tuple(D for D in self.undecided.items if D not in self.missed.items))


def _within(ratio: float | None, tolerance: float) -> bool:
    return ratio is not None and 1 / tolerance <= float(ratio) <= tolerance


def crossover_rows(r: Any) -> tuple[CrossoverRow, ...]:
    """Return per D the measured crossover and each model's prediction with its ratio."""
    tol = float(r["timing"]["model_tolerance"])
    rows = []
    for s in r["timing"]["series"]:
        scan_from = r["timing"].get("model_scan_from_L")
        measured = s["measured_crossover"]
        first, last = float(s["L"][0]), float(s["L"][len(s["L"]) - 1])
        faster_from_start = bool(s["linear_faster_from_start"])
        interval = bracket = None
        if measured:
            interval = bootstrap_crossing([float(x) for x in s["L"]], _raw(s["exact_repeats"]),
                                          _raw(s["linear_repeats"]), groups=_raw(s.get("pass_rounds")),
                                          level=CROSSOVER_LEVEL)
            Ls = [float(x) for x in s["L"]]
            j = next(i for i in range(1, len(Ls)) if Ls[i] >= float(measured))
            bracket = (Ls[j - 1], Ls[j])  # the timed lengths the interpolated crossing lies between
        preds = []
        for key in MODEL_LABELS:
            value = s[f"{key}_crossover"]
            decided = True
            if measured:
                within = _within(s[f"ratio_to_{key}"], tol)
                if value and interval:
                    # undecided when the verdict would change with the crossing anywhere in its bootstrap interval
                    decided = all(_within(x / float(value), tol) == within for x in interval[:2])
            elif faster_from_start:  # measured: below the first length; a prediction within tol of that bound agrees
                within = value is not None and float(value) <= tol * first
            else:  # measured: above the last length
                within = value is None or float(value) >= last / tol
            preds.append(ModelPrediction(key, value, s[f"ratio_to_{key}"], within,
                                         key != "predicted" and scan_from is not None and value is not None
                                         and float(value) <= float(scan_from), decided))
        preds = tuple(preds)
        calls = s["fixed_cost"]
        share = None
        if measured:
            share = calls["linear_s"] / interpolate_loglog(list(s["L"]), list(s["linear_s"]), measured)
        tp = s.get("torch_path")
        rows.append(CrossoverRow(int(s["D"]), s["M"], measured, bool(s["linear_faster_from_start"]),
                                 s["L"][0], s["L"][len(s["L"]) - 1], preds, _ms(calls["exact_s"]),
                                 _ms(calls["linear_s"]), share, calls["L"],
                                 tp["measured_crossover"] if tp else None,
                                 bool(tp["linear_faster_from_start"]) if tp else False,
                                 interval[0] if interval else None, interval[1] if interval else None,
                                 (int(bracket[0]), int(bracket[1])) if bracket else None,
                                 _pass_range(s.get("pass_crossovers")), _pass_range(s.get("pass_crossovers_medians")),
                                 outlier_passes(s, tol),
                                 crossing_point([float(x) for x in s["L"]], [float(x) for x in s["exact_s"]],
                                                [float(x) for x in s["linear_s"]])))
    return tuple(rows)


def outlier_passes(s: Any, tol: float) -> OutlierPasses | None:
    """The passes whose crossover is more than ``tol`` times off the median of all passes' (a pass without a
    crossover is not judged; they must be a minority), with the bootstrap interval of the crossover without them."""
    values = _raw(s.get("pass_crossovers")) or []
    found = [(k, float(v)) for k, v in enumerate(values) if v is not None]
    if len(found) < 3:  # no majority to be an outlier from
        return None
    mid = math.exp(statistics.median(math.log(v) for _, v in found))  # the passes' median, in log space
    out = [(k, v) for k, v in found if max(v / mid, mid / v) > tol]
    if not out or len(out) > (len(found) - 1) // 2:  # none, or not a minority
        return None
    drop = {k for k, _ in out}
    rest = [v for k, v in found if k not in drop]
    exact, linear, groups = [], [], []
    for e, li, sizes in zip(_raw(s["exact_repeats"]), _raw(s["linear_repeats"]), _raw(s["pass_rounds"])):
        keep, start = [], 0
        for k, n in enumerate(sizes):
            if len(sizes) == 1 or k not in drop:
                keep.append((start, n))
            start += n
        exact.append([x for a, n in keep for x in e[a:a + n]])
        linear.append([x for a, n in keep for x in li[a:a + n]])
        groups.append([n for _, n in keep])
    interval = bootstrap_crossing([float(x) for x in s["L"]], exact, linear, groups=groups, level=CROSSOVER_LEVEL)
    return OutlierPasses(Listing(tuple(k + 1 for k, _ in out)), Listing(tuple(f"{v:,.0f}" for _, v in out)),
                         min(rest), max(rest),
                         interval[0] if interval else None, interval[1] if interval else None)


def _pass_range(values: Any) -> PassRange | None:
    """The range of the crossovers measured pass by pass (None without passes)."""
    if not values:
        return None
    found = [float(x) for x in values if x is not None]
    return PassRange(min(found) if found else None, max(found) if found else None, len(found), len(values))


def model_verdicts(rows: tuple[CrossoverRow, ...]) -> tuple[ModelVerdict, ...]:
    """Return for each model whether it is within the tolerance for every D, and its worst factor."""
    out = []
    for i, key in enumerate(MODEL_LABELS):
        preds = [row.predictions[i] for row in rows]  # rows without a measured crossover are judged by its bound
        factors = [max(float(p.ratio), 1 / float(p.ratio)) for p in preds if p.ratio]
        missed_ratios = [float(p.ratio) for p in preds if p.ratio and not p.within]
        out.append(ModelVerdict(key, MODEL_LABELS[key], bool(preds) and all(p.within for p in preds),
                                max(factors) if factors else None,
                                Listing(tuple(row.D for row in rows if not row.predictions[i].within)),
                                Listing(tuple(row.D for row in rows if not row.predictions[i].decided)),
                                bool(missed_ratios) and all(x < 1 for x in missed_ratios),
                                bool(missed_ratios) and all(x > 1 for x in missed_ratios)))
    return tuple(out)


@dataclass(frozen=True)
class MissNearCrossover:
    """Where the roofline with per-call costs misses a D's crossover: how it fits each method's measured times
    from the second timed length up to the shortest breakdown length (the first length is where the fixed costs
    are taken, so the fit there is exact by construction), and what exact attention's products, timed on their
    own at that breakdown length, account for."""

    D: int
    L_from: int
    L_to: int
    exact_low: float  # measured over modelled, exact calls, over those lengths
    exact_high: float
    linear_low: float
    linear_high: float
    products_gflops: float | None  # exact's two products at L_to, timed in place
    other_products_gflops: tuple[tuple[int, float], ...]  # (D, GFLOP/s) of the other D's products there
    matmul_gflops: float  # the rate the model charges them
    products_share_of_shortfall: float | None  # at L_to: products' time beyond the model's over exact's shortfall

    @property
    def exact_underestimated(self) -> bool:
        """The model's exact times are too short there, by more than its linear times are off."""
        return float(self.exact_low) > 1 and max(float(self.exact_high), 1 / float(self.exact_low)) > \
            max(float(self.linear_high), 1 / float(self.linear_low))

    @property
    def products_slow(self) -> bool:
        """Exact attention's products ran at under half the rate the model charges them."""
        return self.products_gflops is not None and float(self.products_gflops) < 0.5 * float(self.matmul_gflops)

    @property
    def products_slow_only_here(self) -> bool:
        """The other D's products ran at half the charged rate or more: the slowness is this D's."""
        return bool(self.other_products_gflops) and all(float(g) >= 0.5 * float(self.matmul_gflops)
                                                        for _, g in self.other_products_gflops)


def _products_gflops(s: Any) -> tuple[int, float] | None:
    """(L, GFLOP/s) of exact attention's two products (4 L^2 D FLOPs) at a series' shortest breakdown length."""
    if not len(s["breakdown"]):
        return None
    b = s["breakdown"][0]
    L = int(b["L"])
    return L, 4.0 * L**2 * int(s["D"]) / float(b["exact"]["matmul_s"]) / 1e9


def misses_near_crossover(r: Any, rows: tuple[CrossoverRow, ...], verdicts: tuple[ModelVerdict, ...]
                          ) -> tuple[MissNearCrossover, ...]:
    """For each D the roofline with per-call costs misses (with a measured crossover), the fit below the breakdown
    length and what the exact products account for there."""
    full = [v for v in verdicts if v.model == "roofline_calls"][0]
    missed = set(full.missed.items)
    rate = float(r["timing"]["rates"]["matmul_gflops"])
    products = {int(s["D"]): _products_gflops(s) for s in r["timing"]["series"]}
    out = []
    for s in r["timing"]["series"]:
        D = int(s["D"])
        row = [x for x in rows if x.D == D][0]
        if D not in missed or not row.measured or products[D] is None:
            continue
        L_to, gflops = products[D]
        Ls = [int(x) for x in s["L"]]
        idx = [i for i in range(1, len(Ls)) if Ls[i] <= L_to]
        if not idx:
            continue
        e = [s["exact_s"][i] / s["model"]["exact_s"][i] for i in idx]
        li = [s["linear_s"][i] / s["model"]["linear_s"][i] for i in idx]
        k = Ls.index(L_to) if L_to in Ls else None
        share = None
        if k is not None:
            shortfall = float(s["exact_s"][k]) - float(s["model"]["exact_s"][k])
            extra = float(s["breakdown"][0]["exact"]["matmul_s"]) - 4.0 * L_to**2 * D / (rate * 1e9)
            share = extra / shortfall if shortfall > 0 else None
        others = tuple((d, g[1]) for d, g in products.items() if d != D and g is not None)
        out.append(MissNearCrossover(D, Ls[idx[0]], Ls[idx[-1]], min(e, key=float), max(e, key=float),
                                     min(li, key=float), max(li, key=float), gflops, others, rate, share))
    return tuple(out)


@dataclass(frozen=True)
class PlainFitRow:
    """The plain roofline's times at a D's measured crossover: measured over modelled, for each method."""

    D: int
    exact: float
    linear: float


@dataclass(frozen=True)
class PlainRooflineFit:
    rows: tuple[PlainFitRow, ...]
    tolerance: float
    agreeing: tuple[int, ...] = ()  # D values where the plain roofline's crossover is within the tolerance

    @property
    def coincidental(self) -> Listing:
        """D values where the plain roofline's crossover agrees although it gives both methods under 1/tolerance of
        their time there, and misses the two by factors within the tolerance of each other."""
        return Listing(tuple(row.D for row in self.rows if row.D in self.agreeing
                             and min(float(row.exact), float(row.linear)) > self.tolerance
                             and max(float(row.exact), float(row.linear))
                             <= self.tolerance * min(float(row.exact), float(row.linear))))

    @property
    def coincidental_rows(self) -> tuple[PlainFitRow, ...]:
        return tuple(row for row in self.rows if row.D in self.coincidental.items)


def plain_roofline_fit(r: Any, crossovers: tuple[CrossoverRow, ...] = ()) -> PlainRooflineFit:
    rows = []
    for s in r["timing"]["series"]:
        x = s["measured_crossover"]
        if not x:
            continue
        Ls = list(s["L"])
        rows.append(PlainFitRow(
            int(s["D"]),
            interpolate_loglog(Ls, list(s["exact_s"]), x) / interpolate_loglog(Ls, list(s["model"]["exact_plain_s"]), x),
            interpolate_loglog(Ls, list(s["linear_s"]), x)
            / interpolate_loglog(Ls, list(s["model"]["linear_plain_s"]), x)))
    agreeing = tuple(row.D for row in crossovers for p in row.predictions if p.model == "roofline" and p.within)
    return PlainRooflineFit(tuple(rows), float(r["timing"]["model_tolerance"]), agreeing)


# --------------------------------------------------------------------------- speed, scaling, breakdown


@dataclass(frozen=True)
class SpeedRow:
    D: int
    L: int
    exact_ms: float
    linear_ms: float
    speedup: float  # exact / linear at the longest L
    linear_vs_exact: TimeComparison  # lower time is better: a = linear
    previous_L: int
    previous_speedup: float
    growth: float  # speed-up at the longest L over the one at the previous length
    exact_exponent: float  # log(time ratio) / log(length ratio) over the last step of L
    linear_exponent: float


def speed_rows(r: Any) -> tuple[SpeedRow, ...]:
    """Return per D the speed-up at the longest L, its noise, and how times scale over the last doubling."""
    rows = []
    for s in r["timing"]["series"]:
        n = len(s["L"])
        i, j = n - 1, max(n - 2, 0)
        e, li = s["exact_s"], s["linear_s"]
        step = math.log(float(s["L"][i]) / float(s["L"][j])) if i != j else float("nan")
        rows.append(SpeedRow(
            int(s["D"]), s["L"][i], _ms(e[i]), _ms(li[i]), e[i] / li[i],
            _compare_times(li[i], e[i], s["linear_repeats"][i], s["exact_repeats"][i]),
            # the growth is computed on plain floats: a trace of a ratio of ratios would read ambiguously
            s["L"][j], e[j] / li[j], (float(e[i]) / float(li[i])) / (float(e[j]) / float(li[j])),
            math.log(float(e[i]) / float(e[j])) / step, math.log(float(li[i]) / float(li[j])) / step))
    return tuple(rows)


@dataclass(frozen=True)
class ExactAcrossD:
    L: int
    D_small: int
    D_large: int
    comparison: TimeComparison  # exact time at D_large against D_small
    time_ratio: float
    flops_ratio: float  # how much more arithmetic the larger D does

    @property
    def follows_arithmetic(self) -> bool:
        """Whether the time grows at least halfway (geometrically) towards growing with the arithmetic."""
        return not self.comparison.tied and float(self.time_ratio) >= math.sqrt(float(self.flops_ratio))


def exact_across_D(r: Any) -> ExactAcrossD | None:
    """Return how exact attention's time at the longest L changes from the smallest to the largest D."""
    series = list(r["timing"]["series"])
    if len(series) < 2:
        return None
    a, b = series[len(series) - 1], series[0]
    i = len(a["L"]) - 1
    L = float(a["L"][i])

    def flops(D: float) -> float:
        return 4 * L * L * D + 5 * L * L
    return ExactAcrossD(a["L"][i], int(b["D"]), int(a["D"]),
                        _compare_times(a["exact_s"][i], b["exact_s"][i], a["exact_repeats"][i],
                                       b["exact_repeats"][i]),
                        a["exact_s"][i] / b["exact_s"][i], flops(float(a["D"])) / flops(float(b["D"])))


@dataclass(frozen=True)
class BreakdownRow:
    D: int
    L: int
    exact_ms: float
    exact_parts: tuple[Part, ...]
    exact_largest: Part
    fresh_pages_model_share: float  # the roofline's fresh-page time for the same call, as a share of exact_ms
    linear_ms: float
    linear_parts: tuple[Part, ...]
    linear_largest: Part
    products_gflops: float | None  # the linear path's two products alone

    @property
    def parts_exceed_call(self) -> bool:
        """The in-place products and softmax took longer than the whole call (its remainder is clamped to 0)."""
        return sum(float(p.seconds) for p in self.exact_parts) > float(self.exact_ms) / 1000 * 1.005


@dataclass(frozen=True)
class BreakdownAtL:
    L: int
    rows: tuple[BreakdownRow, ...]
    exact_largest: str | None  # the component that is largest for every D, if one is
    linear_largest: str | None


def breakdowns(r: Any) -> tuple[BreakdownAtL, ...]:
    """Return, per breakdown length, where each method's time goes for every D, and what dominates."""
    by_L: dict[int, list[BreakdownRow]] = {}
    for s in r["timing"]["series"]:
        for b in s["breakdown"]:
            ex, lin = b["exact"], b["linear"]
            eparts = _parts(ex, EXACT_PARTS, ex["total_s"])
            lparts = _parts(lin, LINEAR_PARTS, lin["total"])
            by_L.setdefault(int(b["L"]), []).append(BreakdownRow(
                int(s["D"]), b["L"], _ms(ex["total_s"]), eparts, _largest(eparts),
                _share(ex["fresh_pages_model_s"], ex["total_s"]), _ms(lin["total"]), lparts, _largest(lparts),
                b["linear_products_gflops"]))
    out = []
    for L, rows in sorted(by_L.items()):
        out.append(BreakdownAtL(rows[0].L, tuple(rows), _common(row.exact_largest.name for row in rows),
                                _common(row.linear_largest.name for row in rows)))
    return tuple(out)


def _common(names) -> str | None:
    names = set(names)
    return names.pop() if len(names) == 1 else None


# --------------------------------------------------------------------------- share of the matmul rate


@dataclass(frozen=True)
class FractionRow:
    D: int
    points: tuple[Any, ...]  # results' fraction records (L, fraction, linear_gflops, matmul_gflops, ...)
    meets_all: bool
    profiled_L: int | None  # the longest breakdown L >= fraction_min_L
    products_share: float | None  # there: the products' share of the call's time
    products_fraction: float | None  # there: the products' own GFLOP/s over the matmul rate
    profiled_ms: float | None = None  # the profiled linear call's time there
    torch_points: tuple[Any, ...] = ()  # the torch path's fraction records at the same lengths (fused kernel timed)


    @property
    def profiled_missed(self) -> bool:
        """The timed point at the profiled length misses the target (so the profile can say why)."""
        return any(int(p["L"]) == int(self.profiled_L or -1) and not bool(p["meets_target"]) for p in self.points)

    @property
    def missed_everywhere(self) -> bool:
        return not any(bool(p["meets_target"]) for p in self.points)


@dataclass(frozen=True)
class Fractions:
    target: float
    min_L: int
    rows: tuple[FractionRow, ...]
    missed: Listing  # D values where some L misses the target
    measured: bool  # whether any length reached fraction_min_L

    @property
    def missed_rows(self) -> tuple[FractionRow, ...]:
        """Rows whose profiled length misses the target: the profile there says where the time went."""
        return tuple(row for row in self.rows if not row.meets_all and row.profiled_missed)

    @property
    def missed_everywhere(self) -> Listing:
        """D values that miss the target at every length."""
        return Listing(tuple(row.D for row in self.rows if row.missed_everywhere))

    @property
    def missed_somewhere(self) -> Listing:
        """D values that reach the target at some lengths and miss it at others."""
        return Listing(tuple(row.D for row in self.rows if not row.meets_all and not row.missed_everywhere))

    @property
    def slow_products(self) -> Listing:
        """D values that miss the target and whose products alone run below it too."""
        return Listing(tuple(row.D for row in self.missed_rows if row.products_fraction is not None
                             and float(row.products_fraction) < float(self.target)))

    @property
    def fast_products(self) -> Listing:
        """D values that miss the target although their products alone reach it: the rest holds them back."""
        return Listing(tuple(row.D for row in self.missed_rows if row.products_fraction is not None
                             and float(row.products_fraction) >= float(self.target)))

    @property
    def rounds(self) -> int:
        """Rounds behind the shares (every round's own share, the call over that round's probe, is recorded)."""
        return sum(len(p["fraction_repeats"]) for row in self.rows for p in row.points)

    @property
    def rounds_below(self) -> int:
        """Rounds whose own share fell below the target."""
        return sum(1 for row in self.rows for p in row.points for x in p["fraction_repeats"]
                   if float(x) < float(self.target))

    @property
    def lowest_round(self) -> float:
        return min((float(x) for row in self.rows for p in row.points for x in p["fraction_repeats"]), default=0.0)

    @property
    def all_met(self) -> bool:
        return self.measured and self.missed.empty

    @property
    def none_met(self) -> bool:
        """No point of any D reaches the target."""
        return self.measured and not any(bool(p["meets_target"]) for row in self.rows for p in row.points)


def fractions(r: Any) -> Fractions:
    """Return the linear path's share of the matmul rate per D and L, and why it falls short where it does."""
    t = r["timing"]
    rows = []
    for s in t["series"]:
        points = tuple(s["fractions"])
        if not points:
            continue
        # the profile is of the torch path: it says why the timed path misses only when that path is timed
        long = [b for b in s["breakdown"] if int(b["L"]) >= int(t["fraction_min_L"])] \
            if implementation(r).timed == "torch" else []
        share = frac = profiled = profiled_ms = None
        if long:
            b = long[len(long) - 1]
            profiled, profiled_ms = b["L"], _ms(b["linear"]["total"])
            share = _share(b["linear"]["products"], b["linear"]["total"])
            probe = [p for p in points if int(p["L"]) == int(b["L"])]
            if probe and b["linear_products_gflops"] is not None:
                frac = b["linear_products_gflops"] / probe[0]["matmul_gflops"]
        tp = s.get("torch_path")
        rows.append(FractionRow(int(s["D"]), points, all(bool(p["meets_target"]) for p in points), profiled,
                                share, frac, profiled_ms, tuple(tp["fractions"]) if tp else ()))
    missed = Listing(tuple(row.D for row in rows if not row.meets_all))
    return Fractions(t["fraction_target"], t["fraction_min_L"], tuple(rows), missed, bool(rows))


# --------------------------------------------------------------------------- memory and roofline


@dataclass(frozen=True)
class MemoryRow:
    D: int
    linear_peak: int
    workspace_formula: int
    torch_peak: int | None = None  # the torch path's peak, where it was measured beside the kernel


@dataclass(frozen=True)
class Memory:
    L: int
    rows: tuple[MemoryRow, ...]
    exact_peak: int
    exact_D: int
    ratio_to_largest_linear: float  # exact's peak over the largest linear peak
    largest_linear_D: int
    ratio_same_D: float | None  # exact's peak over the linear peak at the D exact was measured with

    @property
    def all_match_formula(self) -> bool:
        """Every measured linear peak equals the size the code computes for its allocations."""
        return all(int(row.linear_peak) == int(row.workspace_formula) for row in self.rows)


def memory(r: Any) -> Memory:
    """Return the measured peak allocations at the longest L: linear per D and exact."""
    pm = r["timing"]["peak_memory"]
    torch_peaks = pm.get("linear_torch") or {}
    rows = tuple(MemoryRow(int(D), pm["linear"][D], pm["workspace_formula"][D], torch_peaks.get(D))
                 for D in pm["linear"].keys())
    largest = max(rows, key=lambda row: int(row.linear_peak))
    same = [row for row in rows if row.D == int(pm["exact_D"])]
    return Memory(pm["L"], rows, pm["exact"], pm["exact_D"], pm["exact"] / largest.linear_peak, largest.D,
                  pm["exact"] / same[0].linear_peak if same else None)


@dataclass(frozen=True)
class RooflineRow:
    D: int
    L: int
    exact: Any  # roofline point (gflops, intensity)
    linear: Any
    exact_memory_bound: bool  # below the ridge point of the DRAM roof
    linear_memory_bound: bool


def roofline_rows(r: Any) -> tuple[tuple[RooflineRow, ...], float]:
    """Return each D's achieved rate and intensity at the longest L, and the DRAM ridge point (FLOP per byte)."""
    rates = r["timing"]["rates"]
    ridge = rates["matmul_gflops"] / rates["bandwidth_gbs"]["dram"]
    rows = []
    for s in r["timing"]["series"]:
        pts = [p for p in s["roofline_points"] if p["method"] in ("exact", "linear")]
        e = [p for p in pts if p["method"] == "exact"][-1]
        li = [p for p in pts if p["method"] == "linear"][-1]
        rows.append(RooflineRow(int(s["D"]), e["L"], e, li, float(e["intensity"]) < float(ridge),
                                float(li["intensity"]) < float(ridge)))
    return tuple(rows), ridge


# --------------------------------------------------------------------------- which code was timed


@dataclass(frozen=True)
class Implementation:
    timed: str  # "fused" (the compiled kernel) or "torch" (torch operations)
    build: str  # how the kernel was built, or why it is not available
    torch_compared: bool  # the torch path was timed beside the kernel

    @property
    def fused(self) -> bool:
        return self.timed == "fused"


def implementation(r: Any) -> Implementation:
    """Return which linear-attention code the timings ran (older results, without the record, ran torch)."""
    raw = _raw(r["timing"]).get("implementation") or {}
    return Implementation(str(raw.get("linear", "torch")), str(raw.get("fused_build", "not recorded")),
                          bool(raw.get("torch_compared", False)))


# --------------------------------------------------------------------------- all of Q1


@dataclass(frozen=True)
class LongFit:
    """Measured over modelled (roofline with per-call costs) linear time at the longest L, across D."""

    L: int
    lowest: float
    highest: float
    tolerance: float
    exact_lowest: float | None = None  # the same for the exact calls
    exact_highest: float | None = None

    @property
    def within(self) -> bool:
        return 1 / self.tolerance <= float(self.lowest) and float(self.highest) <= self.tolerance

    @property
    def exact_worse(self) -> bool:
        """The model misses the exact calls there by more than it misses the linear ones."""
        if self.exact_highest is None:
            return False
        worst = lambda lo, hi: max(float(hi), 1 / float(lo))  # noqa: E731
        return worst(self.exact_lowest, self.exact_highest) > worst(self.lowest, self.highest)

    @property
    def slower_than_model(self) -> bool:
        """Every D's linear call took longer than the model says, beyond the tolerance for at least one."""
        return float(self.lowest) > 1 and float(self.highest) > self.tolerance


def long_fit(r: Any) -> LongFit:
    t = r["timing"]
    ratios = [s["linear_s"][len(s["L"]) - 1] / s["model"]["linear_s"][len(s["L"]) - 1] for s in t["series"]]
    exact = [s["exact_s"][len(s["L"]) - 1] / s["model"]["exact_s"][len(s["L"]) - 1] for s in t["series"]]
    last = t["series"][0]["L"]
    return LongFit(last[len(last) - 1], min(ratios, key=float), max(ratios, key=float), float(t["model_tolerance"]),
                   min(exact, key=float), max(exact, key=float))


@dataclass(frozen=True)
class Findings:
    """What the Q1 section says."""

    dims: Dimensions
    checks: Checks
    error: ErrorStudy
    scores_L: int  # the longest timed length
    scores_D: int  # the largest timed D
    scores_exact_ms: float  # one exact call at (scores_L, scores_D)
    scores_entries: int  # L x L at that length
    scores_bytes: int  # one L x L tensor in the timing dtype
    crossovers: tuple[CrossoverRow, ...]
    models: tuple[ModelVerdict, ...]
    explaining: Listing  # labels of the models within the tolerance for every D
    speed: tuple[SpeedRow, ...]
    exact_across_D: ExactAcrossD | None
    breakdowns: tuple[BreakdownAtL, ...]
    fractions: Fractions
    memory: Memory
    roofline: tuple[RooflineRow, ...]
    ridge: float  # matmul rate / DRAM bandwidth (FLOP per byte)
    tolerance: float
    long_fit: LongFit  # the roofline-with-calls model against the measured linear times at the longest L
    fewest_calls: int  # the fewest timed calls behind any median
    fewest_calls_from_L: int  # the shortest length at which some median rests on that few calls
    fewest_calls_only_at_last: bool  # that length is the longest timed one
    implementation: Implementation = Implementation("torch", "not recorded", False)
    misses: tuple[MissNearCrossover, ...] = ()  # where the roofline with per-call costs misses, the fit around it
    crossover_level: float = CROSSOVER_LEVEL  # coverage of the measured crossover's bootstrap interval
    plain_fit: PlainRooflineFit | None = None  # the plain roofline's times at the measured crossovers
    settle_ms: float | None = None  # calls shorter than this are timed after untimed calls of their own ...
    settle_window_ms: float | None = None  # ... made for at least this long ...
    settle_fraction: float | None = None  # ... or this fraction of the call timed before, if longer
    passes: int = 0  # passes over the sweep that timed the short lengths (0: one)
    pass_max_L: int | None = None  # the longest length timed in passes

    @property
    def timed_in_passes(self) -> bool:
        return self.passes > 1

    @property
    def only_at_point_estimate(self) -> tuple[UndecidedWithin, ...]:
        """Per D, the models within the bound at the measured crossover but not across its whole interval."""
        out = []
        for row in self.crossovers:
            preds = [p for v, p in zip(self.models, row.predictions) if row.D in v.undecided_within.items]
            if preds:
                o = row.outliers
                settled = (o is not None and o.interval_low is not None
                           and all(_within(float(x) / float(p.crossover), self.tolerance)
                                   for p in preds if p.crossover for x in (o.interval_low, o.interval_high)))
                out.append(UndecidedWithin(row.D, Listing(tuple(MODEL_LABELS[p.model] for p in preds)),
                                           row.measured_low, row.measured_high, o if settled else None))
        return tuple(out)

    @property
    def no_model_explains(self) -> bool:
        return self.explaining.empty

    @property
    def interpolated_at_start(self) -> Listing:
        """D values whose measured crossing lies between the two shortest timed lengths."""
        return Listing(tuple(row.D for row in self.crossovers if row.between_first_two))

    @property
    def plain_fit_coincidental(self) -> bool:
        """The plain roofline misses both methods' times at some measured crossover by more than the tolerance."""
        return self.plain_fit is not None and not self.plain_fit.coincidental.empty

    @property
    def settles(self) -> bool:
        """The timings say how short calls were settled before being timed (results from before that do not)."""
        return self.settle_ms is not None and self.settle_window_ms is not None

    @property
    def uses_everywhere(self) -> bool:
        """Some model's crossover in the table reads "every L"."""
        return any(p.everywhere for row in self.crossovers for p in row.predictions)

    @property
    def uses_none(self) -> bool:
        """Some model's crossover in the table reads "none"."""
        return any(p.crossover is None for row in self.crossovers for p in row.predictions)


def findings(r: Any) -> Findings:
    """Return Q1's findings from its results (a ResultsView or a plain dict)."""
    timing = r["timing"]
    last = timing["series"][0]["L"]
    L = last[len(last) - 1]
    itemsize = {"float32": 4, "float64": 8}[str(timing["dtype"])]
    rows = crossover_rows(r)
    verdicts = model_verdicts(rows)
    roof, ridge = roofline_rows(r)
    counts = [(len(s[key][i]), int(s["L"][i])) for s in timing["series"] for key in ("exact_repeats", "linear_repeats")
              for i in range(len(s["L"]))]
    fewest = min(n for n, _ in counts)
    fewest_from_L = min(L_ for n, L_ in counts if n == fewest)
    return Findings(
        dims=dimensions(r), checks=checks(r), error=error_study(r),
        scores_L=L, scores_D=int(timing["series"][len(timing["series"]) - 1]["D"]),
        scores_exact_ms=_ms(timing["series"][len(timing["series"]) - 1]["exact_s"][len(last) - 1]),
        scores_entries=L * L, scores_bytes=L * L * itemsize,
        crossovers=rows, models=verdicts, explaining=Listing(tuple(v.label for v in verdicts if v.within_all)),
        speed=speed_rows(r), exact_across_D=exact_across_D(r), breakdowns=breakdowns(r),
        fractions=fractions(r), memory=memory(r), roofline=roof, ridge=ridge,
        tolerance=timing["model_tolerance"], long_fit=long_fit(r), fewest_calls=fewest,
        fewest_calls_from_L=fewest_from_L, fewest_calls_only_at_last=fewest_from_L == max(L_ for _, L_ in counts),
        implementation=implementation(r), misses=misses_near_crossover(r, rows, verdicts),
        plain_fit=plain_roofline_fit(r, rows) if all("exact_plain_s" in s["model"] for s in timing["series"]) else None,
        settle_ms=_ms(timing["settle_below_s"]) if "settle_below_s" in timing else None,
        settle_window_ms=_ms(timing["settle_s"]) if "settle_s" in timing else None,
        settle_fraction=timing.get("settle_fraction"), passes=max((row.by_pass.passes for row in rows if row.by_pass), default=0),
        pass_max_L=((r.get("meta") or {}).get("config") or {}).get("timing_pass_max_L"))
