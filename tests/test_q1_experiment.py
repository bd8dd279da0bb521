"""Q1 experiment logic that is not timing: the figure's dashing rule, crossings, and derived timing records."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import experiments.q1_attention as q1
from hw2.q1 import costmodel as cm
from hw2.q1.features import feature_dim
from pipeline.profiles import get_config


def test_dashed_curves_are_the_odd_degree_polynomials():
    # K terms give a polynomial of degree K - 1; odd degree can turn negative, and those are dashed
    assert [K for K in range(1, 8) if q1.dashed(K)] == [2, 4, 6]


def test_error_study_records_the_dashed_K_and_every_draw():
    cfg = dataclasses.replace(get_config("q1_attention", "quick", cls=q1.Settings), error_K=[2, 3, 4, 5],
                              error_scales=[0.5, 2.0], error_trials=3, error_L=32)
    error = q1.approximation_error(cfg, torch.Generator().manual_seed(0))
    assert error["dashed_K"] == [2, 4]
    point = error["curves"]["4"][-1]
    assert len(point["relative_error_trials"]) == 3
    assert point["relative_error"] == sorted(point["relative_error_trials"])[1]


def test_every_K_sees_the_same_draws():
    """Paired comparisons need it: a K's errors do not depend on which other K are studied, or in what order."""
    base = dataclasses.replace(get_config("q1_attention", "quick", cls=q1.Settings), error_scales=[0.5, 2.0],
                               error_trials=2, error_L=32)
    alone = q1.approximation_error(dataclasses.replace(base, error_K=[3]), torch.Generator().manual_seed(1))
    paired = q1.approximation_error(dataclasses.replace(base, error_K=[4, 3]), torch.Generator().manual_seed(1))
    assert alone["curves"]["3"] == paired["curves"]["3"]


def test_crossing_point_interpolates_in_log_log():
    Ls = [100, 200, 400]
    exact = [1.0, 4.0, 16.0]  # L^2
    linear = [2.0, 3.0, 8.0]  # crosses between 100 and 200
    L_star = q1.crossing_point(Ls, exact, linear)
    assert 100 < L_star < 200
    assert q1.crossing_point(Ls, [1, 1, 1], [2, 2, 2]) is None


def test_fraction_of_matmul_uses_the_useful_flops_and_the_probe_of_the_same_rounds():
    cfg = get_config("q1_attention", "default", cls=q1.Settings)
    point = {"L": 4096, "times": {"linear": [0.002, 0.001, 0.003], "matmul_probe": [0.02, 0.01, 0.03]}}
    f = q1.fraction_of_matmul(cfg, 16, point)
    flops = cm.linear_flops(4096, 16)
    assert f["linear_gflops"] == pytest.approx(flops / 0.002 / 1e9)
    assert f["matmul_gflops"] == pytest.approx(2 * cfg.probe_n**3 / 0.02 / 1e9)
    assert f["fraction"] == pytest.approx(f["linear_gflops"] / f["matmul_gflops"])
    assert len(f["fraction_repeats"]) == 3 and f["meets_target"] == (f["fraction"] >= q1.FRACTION_TARGET)


def test_series_records_measured_and_predicted_crossovers():
    cfg = dataclasses.replace(get_config("q1_attention", "default", cls=q1.Settings), fraction_min_L=10**9,
                              breakdown_L=[])
    rates = cm.Rates(matmul=100e9, bandwidth={"l2": 80e9, "l3": 50e9, "dram": 20e9},
                     cache_bytes={"l2": 1 << 20, "l3": 32 << 20}, softmax=1.5e9, fresh_pages=2e9)
    calls = cm.CallCosts(2e-5, 1.5e-4, 4e-5)
    Ls = [128, 256, 512, 1024]
    points = [{"L": L, "times": {"exact": [2e-9 * L * L] * 2, "linear": [1e-6 * L + 1e-4] * 2},
               "linear_profile": None} for L in Ls]
    s = q1.series_for(cfg, 16, points, rates, calls)
    assert s["M"] == feature_dim(16, 3) and s["L"] == Ls
    assert 512 < s["measured_crossover"] < 1024
    assert s["predicted_crossover"] == pytest.approx(cm.opcount_crossover(16))
    assert s["ratio_to_roofline_calls"] == pytest.approx(s["measured_crossover"] / s["roofline_calls_crossover"])
    assert s["exact_repeats"][0] == [2e-9 * 128 * 128] * 2  # every repeat kept
    assert len(s["model"]["linear_s"]) == len(Ls) and s["fractions"] == [] and s["breakdown"] == []
    # the fixed cost is what the shortest length takes beyond the roofline, so the model meets it there
    assert s["fixed_cost"]["L"] == 128 and s["fixed_cost"]["slab_s"] == calls.slab
    assert s["model"]["exact_s"][0] == pytest.approx(s["exact_s"][0])
    assert s["model"]["linear_s"][0] == pytest.approx(s["linear_s"][0])
