"""Q1's findings on made-up results: every verdict the section prints, including the ones that can go either way."""

from __future__ import annotations

import copy
import math

import pytest

from pipeline.findings import q1
from pipeline.report.values import ResultsView

LS = [256, 512, 1024, 2048]
K4_MINUS_K3 = [0.021, -0.019, 0.011, -0.009, 0.001]  # per draw: mean 0.001, spread 0.016


def series(D, exact, linear, *, spread=0.01, crossover=700.0, ratios=(3.0, 2.5, 1.2), fractions=None,
           breakdown=None):
    """One D's timing series: times with repeats spread by ±spread, crossovers and model ratios.

    The linear calls run in the opposite order to the exact ones, so that the within-round
    ratios spread by about ±2 spread around the ratio of the medians (and equal it at the median).
    """
    def repeats(t, sign=1):
        return [t * (1 - sign * spread), t, t * (1 + sign * spread)]
    return {
        "D": D, "M": (D + 1) * (D + 2) // 2, "L": list(LS), "exact_s": list(exact), "linear_s": list(linear),
        "exact_repeats": [repeats(t) for t in exact], "linear_repeats": [repeats(t, -1) for t in linear],
        "measured_crossover": crossover, "linear_faster_from_start": False,
        "predicted_crossover": crossover / ratios[0], "roofline_crossover": crossover / ratios[1],
        "roofline_calls_crossover": crossover / ratios[2],
        "ratio_to_predicted": ratios[0], "ratio_to_roofline": ratios[1], "ratio_to_roofline_calls": ratios[2],
        "fractions": fractions or [], "breakdown": breakdown or [],
        "model": {"linear_s": [t / 1.2 for t in linear], "exact_s": [t / 1.1 for t in exact]},
        "fixed_cost": {"L": LS[0], "exact_s": 2e-5 if D == 8 else 3e-5, "linear_s": 1e-4 if D == 8 else 3e-4},
        "roofline_points": [{"L": L, "method": m, "gflops": 10.0, "intensity": i}
                            for L in LS for m, i in (("exact", 2.0), ("linear", 20.0))],
    }


def breakdown(L, exact_parts, linear_parts, products_gflops=20.0):
    matmul, softmax, rest = exact_parts
    products, features, copies, division, other = linear_parts
    return {"L": L,
            "exact": {"total_s": matmul + softmax + rest, "matmul_s": matmul, "softmax_s": softmax,
                      "fresh_pages_and_rest_s": rest, "fresh_pages_model_s": rest * 0.8},
            "linear": {"products": products, "feature_map": features, "input_copies": copies, "division": division,
                       "other": other, "total": products + features + copies + division + other},
            "linear_products_gflops": products_gflops}


def error_point(scale, trials):
    return {"scale": scale, "relative_error": sorted(trials)[len(trials) // 2], "total_variation": 0.1,
            "relative_error_mean": sum(trials) / len(trials), "relative_error_trials": list(trials),
            "total_variation_trials": [0.1] * len(trials), "negative_weight_fraction": 0.0,
            "nonpositive_normaliser_fraction": 0.0}


def results(**overrides):
    quadratic = [1e-4 * (L / 256) ** 2 for L in LS]
    linear = [2e-4 * L / 256 for L in LS]
    k3 = [0.93, 0.95, 0.92, 0.94, 0.93]
    r = {
        "dimensions": [{"D": D, "K": K, "symmetric": math.comb(D + K - 1, K - 1), "tensor": sum(D**n for n in range(K)),
                        "symmetric_measured": math.comb(D + K - 1, K - 1),
                        "tensor_measured": sum(D**n for n in range(K))} for D in (2, 4) for K in (2, 3)],
        "symbolic": {"kernel_checks": [{"holds": True}] * 5 + [{"holds": False}]},
        "error": {"curves": {"3": [error_point(0.25, [0.01] * 5), error_point(4.0, k3)],
                             "4": [error_point(0.25, [0.005] * 5),
                                   error_point(4.0, [x + d for x, d in zip(k3, K4_MINUS_K3)])]},
                  "dashed_K": [2, 4]},
        "timing": {
            "dtype": "float32", "model_tolerance": 2.0, "fraction_target": 0.3, "fraction_min_L": 1024,
            "rates": {"matmul_gflops": 100.0, "bandwidth_gbs": {"dram": 20.0}},
            "peak_memory": {"L": 2048, "linear": {"8": 1 << 20, "32": 4 << 20},
                            "workspace_formula": {"8": 1 << 20, "32": 4 << 20}, "exact": 32 << 20, "exact_D": 8},
            "series": [series(8, quadratic, linear), series(32, quadratic, [3 * t for t in linear])],
        },
    }
    for path, value in overrides.items():
        target = r
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        target[keys[-1]] = value
    return r


# --------------------------------------------------------------------------- error study


def test_a_gap_inside_the_spread_over_draws_is_a_tie():
    """The seed report's "0.93 against 0.93": K = 4 a hair above K = 3 on average, the draws' differences vary more."""
    f = q1.findings(results())
    assert f.error.k4_tied and not f.error.k4_worse and not f.error.k4_better
    assert f.error.k4_vs_k3.magnitude == pytest.approx(0.001)
    assert f.error.dashed_K == (2, 4)


def test_a_constant_gap_on_paired_draws_is_a_verdict():
    """Paired draws: the same small gap on every draw is real, however much the draws themselves vary."""
    r = results()
    r["error"]["curves"]["4"][1] = error_point(4.0, [x + 0.001 for x in [0.93, 0.95, 0.92, 0.94, 0.93]])
    assert q1.findings(r).error.k4_worse


def test_a_gap_beyond_the_spread_is_a_verdict():
    r = results()
    r["error"]["curves"]["4"][1] = error_point(4.0, [x + 0.5 for x in [0.93, 0.95, 0.92, 0.94, 0.93]])
    f = q1.findings(r)
    assert f.error.k4_worse and not f.error.k4_tied
    r["error"]["curves"]["4"][1] = error_point(4.0, [x - 0.5 for x in [0.93, 0.95, 0.92, 0.94, 0.93]])
    assert q1.findings(r).error.k4_better


def test_without_four_terms_there_is_no_comparison():
    r = results()
    del r["error"]["curves"]["4"]
    f = q1.findings(r)
    assert not f.error.has_k4 and f.error.k4_vs_k3 is None and not f.error.k4_tied


# --------------------------------------------------------------------------- tables and checks


def test_dimension_table_groups_by_D_and_counts_mismatches():
    f = q1.findings(results())
    assert f.dims.Ks == (2, 3) and [row.D for row in f.dims.rows] == [2, 4]
    assert f.dims.rows[1].cells == ((5, 5), (15, 21)) and f.dims.all_match
    r = results()
    r["dimensions"][3]["symmetric_measured"] = 14
    assert q1.findings(r).dims.mismatches == 1


def test_kernel_checks_are_counted():
    f = q1.findings(results())
    assert (f.checks.kernel_holding, f.checks.kernel_total) == (5, 6) and not f.checks.all_hold


# --------------------------------------------------------------------------- models


def test_the_models_within_tolerance_for_every_D_explain_the_data():
    f = q1.findings(results())
    assert f.explaining.items == ("the roofline with per-call costs",)
    by_name = {v.model: v for v in f.models}
    assert not by_name["predicted"].within_all and by_name["predicted"].worst_factor == pytest.approx(3.0)
    assert by_name["roofline_calls"].within_all


def test_one_D_outside_the_tolerance_fails_the_model():
    r = results()
    r["timing"]["series"][1]["ratio_to_roofline_calls"] = 0.4  # predicted 2.5x too high for D = 32
    f = q1.findings(r)
    assert f.no_model_explains
    assert {v.model: v for v in f.models}["roofline_calls"].worst_factor == pytest.approx(2.5)


def test_fixed_cost_share_at_the_crossover_interpolates_the_linear_times():
    f = q1.findings(results())
    row = f.crossovers[0]
    # linear time is 2e-4 * L / 256 s, so at L* = 700 it is 5.47e-4 s; the call costs 1e-4 s
    assert row.linear_fixed_share == pytest.approx(1e-4 / (2e-4 * 700 / 256), rel=1e-9)
    assert row.linear_call_ms == pytest.approx(0.1)


def test_loglog_interpolation_is_exact_for_power_laws():
    xs, ys = [1, 10, 100], [1, 100, 10000]
    assert q1.interpolate_loglog(xs, ys, 31.6227766) == pytest.approx(1000, rel=1e-6)
    assert q1.interpolate_loglog(xs, ys, 0.5) == 1 and q1.interpolate_loglog(xs, ys, 1000) == 10000


# --------------------------------------------------------------------------- speed and scaling


def test_speed_up_growth_and_exponents_follow_the_times():
    f = q1.findings(results())
    s = f.speed[0]
    assert s.speedup == pytest.approx((1e-4 * 64) / (2e-4 * 8))
    assert s.growth == pytest.approx(2.0) and s.exact_exponent == pytest.approx(2.0)
    assert s.linear_exponent == pytest.approx(1.0)
    assert s.linear_vs_exact.a_ahead  # linear is faster, far beyond a 1% spread
    assert s.exact_ms == pytest.approx(6.4)


def test_equal_exact_times_across_D_are_a_tie_and_do_not_follow_the_arithmetic():
    f = q1.findings(results())
    x = f.exact_across_D
    assert (x.D_small, x.D_large) == (8, 32) and x.comparison.tied and not x.follows_arithmetic
    assert x.flops_ratio == pytest.approx((4 * 32 + 5) / (4 * 8 + 5))


def test_exact_times_that_grow_with_D_follow_the_arithmetic():
    r = results()
    r["timing"]["series"][1] = series(32, [4 * t for t in r["timing"]["series"][0]["exact_s"]],
                                      r["timing"]["series"][1]["linear_s"])
    x = q1.findings(r).exact_across_D
    assert not x.comparison.tied and x.follows_arithmetic and x.time_ratio == pytest.approx(4.0)


# --------------------------------------------------------------------------- breakdown and fractions


def test_the_largest_part_is_named_only_when_every_D_agrees():
    r = results()
    r["timing"]["series"][0]["breakdown"] = [breakdown(2048, (0.1, 0.1, 0.8), (0.5, 0.1, 0.1, 0.05, 0.25))]
    r["timing"]["series"][1]["breakdown"] = [breakdown(2048, (0.2, 0.1, 0.7), (0.2, 0.1, 0.1, 0.05, 0.55))]
    (b,) = q1.findings(r).breakdowns
    assert b.L == 2048 and b.exact_largest == q1.EXACT_PARTS["fresh_pages_and_rest_s"]
    assert b.linear_largest is None  # products for D = 8, the rest for D = 32
    assert b.rows[0].exact_parts[2].share == pytest.approx(0.8)
    assert b.rows[0].fresh_pages_model_share == pytest.approx(0.64)


def test_fractions_name_the_D_that_miss_the_target_and_why():
    r = results()
    r["timing"]["series"][0]["fractions"] = [{"L": 2048, "fraction": 0.12, "linear_gflops": 12.0,
                                              "matmul_gflops": 100.0, "meets_target": False}]
    r["timing"]["series"][1]["fractions"] = [{"L": 2048, "fraction": 0.45, "linear_gflops": 45.0,
                                              "matmul_gflops": 100.0, "meets_target": True}]
    r["timing"]["series"][0]["breakdown"] = [breakdown(2048, (0.1, 0.1, 0.8), (0.4, 0.2, 0.2, 0.1, 0.1), 25.0)]
    f = q1.findings(r).fractions
    assert f.measured and not f.all_met and f.missed.items == (8,)
    (row,) = f.missed_rows
    assert row.profiled_L == 2048 and row.products_share == pytest.approx(0.4)
    assert row.products_fraction == pytest.approx(0.25)
    assert f.slow_products.items == (8,) and f.fast_products.empty
    r["timing"]["series"][0]["breakdown"][0]["linear_products_gflops"] = 60.0
    f = q1.findings(r).fractions
    assert f.slow_products.empty and f.fast_products.items == (8,)
    assert not f.none_met  # D = 32 reaches it
    assert f.missed_everywhere.items == (8,) and f.missed_somewhere.empty
    r["timing"]["series"][1]["fractions"][0].update(fraction=0.2978, meets_target=False)
    assert q1.findings(r).fractions.none_met  # 29.78% is a miss, though it rounds to 30%


def test_a_D_that_meets_the_goal_where_it_was_profiled_is_not_explained_as_missing_it():
    r = results()
    r["timing"]["series"][1]["fractions"] = [
        {"L": 1024, "fraction": 0.2, "linear_gflops": 20.0, "matmul_gflops": 100.0, "meets_target": False},
        {"L": 2048, "fraction": 0.32, "linear_gflops": 32.0, "matmul_gflops": 100.0, "meets_target": True}]
    r["timing"]["series"][1]["breakdown"] = [breakdown(2048, (0.1, 0.1, 0.8), (0.4, 0.2, 0.2, 0.1, 0.1), 60.0)]
    f = q1.findings(r).fractions
    assert f.missed_somewhere.items == (32,) and 32 not in [row.D for row in f.missed_rows]
    assert f.fast_products.empty  # no "what holds the call back" where nothing did


def test_no_long_lengths_means_no_fraction_claim():
    f = q1.findings(results()).fractions
    assert not f.measured and not f.all_met


# --------------------------------------------------------------------------- memory, roofline, tracing


def test_the_long_length_fit_is_read_against_the_model_linear_times():
    r = results()
    for s, factor in zip(r["timing"]["series"], (12.6, 4.0)):
        s["model"] = {"linear_s": [t / factor for t in s["linear_s"]], "exact_s": [t / 2 for t in s["exact_s"]]}
    fit = q1.findings(r).long_fit
    assert fit.lowest == pytest.approx(4.0) and fit.highest == pytest.approx(12.6)
    assert fit.slower_than_model and not fit.within
    assert fit.exact_lowest == pytest.approx(2.0) and not fit.exact_worse  # exact is off by less: not named
    for s in r["timing"]["series"]:
        s["model"] = {"linear_s": [t / 1.5 for t in s["linear_s"]], "exact_s": [t / 3 for t in s["exact_s"]]}
    fit = q1.findings(r).long_fit
    assert fit.within and fit.exact_worse  # exact off by 3, linear by 1.5


def test_memory_and_roofline():
    f = q1.findings(results())
    assert f.memory.ratio_to_largest_linear == pytest.approx(8.0) and f.memory.largest_linear_D == 32
    assert f.memory.ratio_same_D == pytest.approx(32.0)  # exact was measured at D = 8: like for like
    assert f.ridge == pytest.approx(5.0)
    assert f.roofline[0].exact_memory_bound and not f.roofline[0].linear_memory_bound
    assert f.scores_entries == 2048 * 2048 and f.scores_bytes == 2048 * 2048 * 4


def test_derived_numbers_keep_their_trace(tmp_path):
    path = tmp_path / "results.json"
    f = q1.findings(ResultsView(copy.deepcopy(results()), path, "make q1"))
    assert "timing.series[0].exact_s[3] / timing.series[0].linear_s[3]" in f.speed[0].speedup.trace
    assert "timing.series[1].exact_s[3]" in f.exact_across_D.time_ratio.trace


def test_parts_that_outlast_the_whole_call_are_flagged():
    from pipeline.findings.q1 import BreakdownRow, Part

    parts = (Part("products", 0.0012, 0.78), Part("softmax", 0.0004, 0.26), Part("rest", 0.0, 0.0))
    row = BreakdownRow(32, 1024, 1.52, parts, parts[0], 0.1, 1.0, (), parts[0], None)
    assert row.parts_exceed_call  # 1.6 ms of parts in a 1.52 ms call
    assert not BreakdownRow(32, 1024, 1.7, parts, parts[0], 0.1, 1.0, (), parts[0], None).parts_exceed_call


# --------------------------------------------------------------------------- noise of the crossover, and misses


def _crossing_series(D, spread, prediction):
    """Exact ~ L^2 and linear ~ L crossing at L = 512, with a model predicting ``prediction``."""
    exact = [1e-4 * (L / 256) ** 2 for L in LS]
    linear = [2e-4 * L / 256 for L in LS]
    s = series(D, exact, linear, spread=spread, crossover=512.0)
    for key in ("predicted", "roofline", "roofline_calls"):
        s[f"{key}_crossover"] = prediction
        s[f"ratio_to_{key}"] = 512.0 / prediction
    return s


def test_a_miss_is_undecided_when_the_crossover_interval_reaches_across_the_bound():
    # predicted 240: measured over predicted 2.13, just outside a factor of 2
    r = results()
    r["timing"]["series"] = [_crossing_series(8, 0.001, 240.0)]
    f = q1.findings(r)
    row = f.crossovers[0]
    assert row.measured_low is not None and row.measured_low <= 512 <= row.measured_high
    assert all(not p.within and p.decided for p in row.predictions)  # calls 0.1% apart: the miss is clear
    # the same medians with calls spread by ±40%: the interval reaches below 480 and the verdict is open
    r["timing"]["series"] = [_crossing_series(8, 0.4, 240.0)]
    f = q1.findings(r)
    row = f.crossovers[0]
    assert row.measured_low < 480 < row.measured_high
    assert all(not p.within and not p.decided for p in row.predictions)
    assert all(v.missed.items == (8,) and v.undecided.items == (8,) for v in f.models)


def test_a_D_without_a_measured_crossover_is_judged_by_its_bound():
    r = results()
    s = r["timing"]["series"][0]
    s["measured_crossover"], s["linear_faster_from_start"] = None, True  # linear already faster at L = 256
    s["roofline_calls_crossover"], s["predicted_crossover"], s["roofline_crossover"] = 400.0, 600.0, 100.0
    f = q1.findings(r)
    within = {p.model: p.within for p in f.crossovers[0].predictions}
    # a prediction up to 2 x 256 agrees with "below 256"; 600 does not
    assert within == {"roofline_calls": True, "predicted": False, "roofline": True}
    # D = 32 (ratios 3.0, 2.5, 1.2) misses with the first two models as before
    assert {v.model: v.missed.items for v in f.models} == {"predicted": (8, 32), "roofline": (32,),
                                                           "roofline_calls": ()}


def test_a_miss_near_the_crossover_names_the_method_the_model_gets_wrong():
    r = results()
    s = _crossing_series(8, 0.001, 100.0)  # the roofline with calls predicts 100: a miss by 5x
    s["model"]["exact_s"] = [t / 2.5 for t in s["exact_s"]]  # exact calls take 2.5x the model's time
    s["model"]["linear_s"] = list(s["linear_s"])  # linear calls exactly as modelled
    s["breakdown"] = [breakdown(1024, (4 * 1024**2 * 8 / 20e9, 1e-3, 1e-3), (1e-3,) * 5)]  # products at 20 GFLOP/s
    other = _crossing_series(32, 0.001, 500.0)
    other["breakdown"] = [breakdown(1024, (4 * 1024**2 * 32 / 80e9, 1e-3, 1e-3), (1e-3,) * 5)]  # 80 GFLOP/s
    r["timing"]["series"] = [s, other]
    f = q1.findings(r)
    (m,) = f.misses
    # from the second timed length (the first fixes the per-call costs) to the breakdown length
    assert (m.D, m.L_from, m.L_to) == (8, 512, 1024)
    assert m.exact_low == pytest.approx(2.5) and m.linear_high == pytest.approx(1.0)
    assert m.exact_underestimated
    assert m.products_gflops == pytest.approx(20.0) and m.products_slow  # 20 of 100 GFLOP/s
    assert m.other_products_gflops == ((32, pytest.approx(80.0)),) and m.products_slow_only_here
    # their time beyond the 100 GFLOP/s charge over the exact call's shortfall (measured minus modelled)
    exact_1024 = 1e-4 * 16
    extra = 4 * 1024**2 * 8 / 20e9 - 4 * 1024**2 * 8 / 100e9
    assert m.products_share_of_shortfall == pytest.approx(extra / (exact_1024 - exact_1024 / 2.5))
    # linear calls off by more than the exact ones: the sentence must not blame exact attention
    s["model"]["linear_s"] = [t / 4 for t in s["linear_s"]]
    assert not q1.findings(r).misses[0].exact_underestimated


def test_rounds_below_the_goal_are_counted_one_by_one():
    r = results()
    points = [{"L": 1024, "fraction": 0.35, "linear_gflops": 35.0, "matmul_gflops": 100.0, "meets_target": True,
               "fraction_repeats": [0.31, 0.35, 0.29, 0.4]}]
    r["timing"]["series"][0]["fractions"] = points
    fr = q1.findings(r).fractions
    assert fr.all_met and (fr.rounds, fr.rounds_below) == (4, 1) and fr.lowest_round == pytest.approx(0.29)


def test_the_plain_roofline_agreement_is_called_a_coincidence_only_where_it_agrees():
    r = results()
    s = _crossing_series(8, 0.001, 512.0)  # every model right on the measured crossover
    s["model"]["exact_plain_s"] = [t / 50 for t in s["exact_s"]]  # both methods 50 and 40 times too short
    s["model"]["linear_plain_s"] = [t / 40 for t in s["linear_s"]]
    r["timing"]["series"] = [s]
    f = q1.findings(r)
    assert f.plain_fit_coincidental and f.plain_fit.coincidental.items == (8,)
    # a plain roofline that misses the crossover is not "agreeing by coincidence"
    s["roofline_crossover"], s["ratio_to_roofline"] = 100.0, 5.12
    assert not q1.findings(r).plain_fit_coincidental
    # nor is one that errs by very different factors on the two methods
    s["roofline_crossover"], s["ratio_to_roofline"] = 512.0, 1.0
    s["model"]["linear_plain_s"] = [t / 5 for t in s["linear_s"]]
    assert not q1.findings(r).plain_fit_coincidental


def test_crossover_rows_report_the_spread_of_the_crossover_from_pass_to_pass():
    r = results()
    s = r["timing"]["series"][0]
    s["pass_crossovers"] = [600.0, None, 750.0, 700.0]
    s["pass_crossovers_medians"] = [300.0, 900.0, 1200.0, None]
    r["meta"] = {"config": {"timing_pass_max_L": 1024}}
    f = q1.findings(r)
    row = f.crossovers[0]
    assert row.by_pass == q1.PassRange(600.0, 750.0, 3, 4) and row.by_pass.missed == 1
    assert row.medians_by_pass == q1.PassRange(300.0, 1200.0, 3, 4)
    assert f.passes == 4 and f.timed_in_passes and f.pass_max_L == 1024
    assert f.crossovers[1].by_pass is None  # D = 32 has no pass crossovers recorded
    assert q1.PassRange(None, None, 0, 5).none_crossed and not row.by_pass.none_crossed
    # results from before the passes: one pass, nothing to range over, and the report skips the sentence
    f = q1.findings(results())
    assert f.passes == 0 and not f.timed_in_passes and f.crossovers[0].by_pass is None and f.pass_max_L is None


def test_the_measured_crossover_interval_resamples_passes_when_the_results_have_them():
    r = results()
    r["timing"]["series"] = [_crossing_series(8, 0.01, 512.0)]
    flat = q1.findings(r).crossovers[0]
    s = r["timing"]["series"][0]
    s["pass_rounds"] = [[3] for _ in s["L"]]  # one pass: the same resampling as without passes
    one = q1.findings(r).crossovers[0]
    assert (one.measured_low, one.measured_high) == (flat.measured_low, flat.measured_high)
    s["pass_rounds"] = [[2, 2] for _ in s["L"]]  # the passes reach the bootstrap: four rounds claimed, three kept
    with pytest.raises(ValueError, match="do not cover"):
        q1.findings(r)


def test_models_within_only_at_the_point_estimate_are_named_together_per_D():
    r = results()
    # predicted 260: measured over predicted 1.97, just inside a factor of 2; calls spread by +-40%
    r["timing"]["series"] = [_crossing_series(8, 0.4, 260.0), _crossing_series(32, 0.001, 400.0)]
    f = q1.findings(r)
    (u,) = f.only_at_point_estimate  # D = 32's interval is narrow: decided, not listed
    assert u.D == 8 and u.models.items == tuple(q1.MODEL_LABELS.values())
    assert u.low < 512 < 520 < u.high  # the bound, 2 x 260 = 520, lies inside the interval


def test_a_pass_far_from_the_others_is_named_with_the_interval_without_it():
    r = results()
    s = _crossing_series(8, 0.01, 512.0)
    s["pass_rounds"] = [[1, 1, 1] for _ in s["L"]]
    s["pass_crossovers"] = [500.0, 520.0, 100.0]  # the third pass is 5x off the other two
    r["timing"]["series"] = [s]
    row = q1.findings(r).crossovers[0]
    o = row.outliers
    assert o.passes.items == (3,) and o.crossovers.items == ("100",)
    assert (o.others_low, o.others_high) == (500.0, 520.0)
    assert o.interval_low is not None and o.interval_low <= 512 <= o.interval_high
    assert row.medians_crossing == pytest.approx(512.0)  # where the medians of all the times cross
    s["pass_crossovers"] = [500.0, 900.0, 600.0]  # within a factor of 2 of the others' median: no outlier
    assert q1.findings(r).crossovers[0].outliers is None
    s["pass_crossovers"] = [500.0, None, 100.0]  # two passes cannot outvote each other
    assert q1.findings(r).crossovers[0].outliers is None


def test_a_verdict_left_open_only_by_outlying_passes_says_so():
    # five passes of one round: three cross at 512, two (exact 0.3x: a stretch that slowed linear) near 1,700
    r = results()
    factors = [1.0, 0.3, 1.01, 0.3, 0.99]
    exact = [1e-4 * (L / 256) ** 2 for L in LS]
    linear = [2e-4 * L / 256 for L in LS]
    s = series(8, exact, linear, crossover=512.0)
    s["exact_repeats"] = [[t * f for f in factors] for t in exact]
    s["linear_repeats"] = [[t] * 5 for t in linear]
    s["pass_rounds"] = [[1] * 5 for _ in LS]
    s["pass_crossovers"] = [512.0, 1707.0, 510.0, 1707.0, 514.0]
    for key in ("predicted", "roofline", "roofline_calls"):
        s[f"{key}_crossover"], s[f"ratio_to_{key}"] = 300.0, 512.0 / 300.0  # within 2x at the point estimate
    r["timing"]["series"] = [s]
    f = q1.findings(r)
    (u,) = f.only_at_point_estimate
    assert u.high > 600  # the interval reaches past 2 x 300 ...
    assert u.outliers is not None and u.outliers.passes.items == (2, 4)  # ... because of passes 2 and 4
    assert 300 / 2 <= u.outliers.interval_low and u.outliers.interval_high <= 600
    # a bound inside the interval without them: they are not what leaves the verdict open, and are not named
    bound = (u.outliers.interval_low + u.outliers.interval_high) / 2
    assert bound > 512  # still within at the point estimate
    for key in ("predicted", "roofline", "roofline_calls"):
        s[f"{key}_crossover"], s[f"ratio_to_{key}"] = bound / 2, 512.0 / (bound / 2)
    (u,) = q1.findings(r).only_at_point_estimate
    assert u.outliers is None
