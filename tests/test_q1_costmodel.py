"""The cost models: FLOP counts against SymPy's cost formulas, and the roofline's behaviour on made-up rates."""

from __future__ import annotations

import math

import pytest
import sympy as sp

from hw2.q1 import costmodel as cm
from hw2.q1 import symbolic as sym
from hw2.q1.attention import default_chunk, feature_dim

# one multiply-add is two floating-point operations; an addition or a division one
RATES = cm.Rates(matmul=100e9, bandwidth={"l2": 80e9, "l3": 50e9, "dram": 20e9},
                 cache_bytes={"l2": 1 << 20, "l3": 32 << 20}, softmax=1.5e9, fresh_pages=2e9)
CALLS = cm.CallCosts(exact=20e-6, linear=150e-6, slab=40e-6)


def test_exact_flops_are_twice_sympys_multiply_adds():
    flops = cm.exact_flops(sym.L, sym.D)
    terms = sym.exact_cost_terms()
    assert sp.expand(flops["scores"] - 2 * terms["scores"]) == 0
    assert sp.expand(flops["weighted sum"] - 2 * terms["weighted sum"]) == 0
    # SymPy counts the softmax as one pass over the L^2 scores; the model's FLOPs count its five passes
    assert sp.expand(flops["softmax"] - 5 * terms["softmax"]) == 0


def test_linear_useful_flops_follow_sympys_terms():
    flops = cm.linear_useful_flops(sym.L, sym.D, sym.M)
    terms = sym.linear_cost_terms()
    assert sp.expand(flops["Phi(K)^T V"] - 2 * terms["Phi(K)^T V"]) == 0
    assert sp.expand(flops["Phi(Q) kv"] - 2 * terms["Phi(Q) kv"]) == 0
    assert sp.expand(flops["Phi(Q) k_sum"] - 2 * terms["Phi(Q) k_sum"]) == 0
    assert sp.expand(flops["Phi(K)^T 1"] - terms["Phi(K)^T 1"]) == 0  # additions only
    assert sp.expand(flops["division"] - terms["division"]) == 0
    # the feature map: one multiplication per monomial of degree >= 2, for Q and for K
    assert sp.expand(flops["feature map"] - 2 * sym.L * (sym.M - sym.D - 1)) == 0


def test_executed_product_flops_include_the_fused_ones_row():
    L, D = 5000, 16
    M = feature_dim(D, 3)
    steps = {st.name: st for st in cm.linear_steps(L, D)}
    useful = cm.linear_useful_flops(L, D, M)
    # [V 1]^T Phi(K) does Phi(K)^T V and Phi(K)^T 1 as multiply-adds
    assert steps["[V 1]^T Phi(K)"].flops == useful["Phi(K)^T V"] + 2 * L * M
    assert steps["kv^T Phi(Q)"].flops == useful["Phi(Q) kv"] + useful["Phi(Q) k_sum"]
    assert sum(st.flops for st in cm.exact_steps(L, D)) == cm.exact_useful_flops(L, D)


def test_opcount_crossover_is_sympys():
    for D in (8, 16, 32):
        M = feature_dim(D, 3)
        L_star = cm.opcount_crossover(D)
        assert sym.exact_cost().subs({sym.L: L_star, sym.D: D}) == pytest.approx(
            float(sym.linear_cost().subs({sym.L: L_star, sym.D: D, sym.M: M})))


def test_crossover_solver_finds_a_known_root():
    # t_exact = L^2, t_linear = 1000 L: equal at L = 1000
    assert cm.crossover(lambda L: L * L, lambda L: 1000 * L) == pytest.approx(1000, rel=1e-6)
    assert cm.crossover(lambda L: 1.0, lambda L: 2.0) is None  # linear never catches up
    assert cm.crossover(lambda L: 2.0, lambda L: 1.0) == 2.0  # linear faster from the start


def test_fresh_pages_count_only_above_the_mmap_threshold():
    below = int(math.sqrt(cm.MMAP_THRESHOLD_BYTES / 4)) - 1
    above = below + 2
    plain = [st for st in cm.exact_steps(below, 16)]
    assert all(cm.step_time(st, RATES) == pytest.approx(
        max((st.elements / RATES.softmax) if st.kind == cm.SOFTMAX else st.flops / RATES.matmul,
            st.bytes / RATES.bandwidth_for(st.working_set))) for st in plain)
    scores = cm.exact_steps(above, 16)[0]
    assert cm.step_time(scores, RATES) > max(scores.flops / RATES.matmul, scores.bytes / RATES.bandwidth["dram"])
    extra = cm.step_time(scores, RATES) - max(scores.flops / RATES.matmul,
                                              scores.bytes / RATES.bandwidth_for(scores.working_set))
    assert extra == pytest.approx(above * above * 4 / RATES.fresh_pages)


def test_bandwidth_follows_the_working_set():
    assert RATES.bandwidth_for(1000) == RATES.bandwidth["l2"]
    assert RATES.bandwidth_for(4 << 20) == RATES.bandwidth["l3"]
    assert RATES.bandwidth_for(64 << 20) == RATES.bandwidth["dram"]


def test_per_call_costs_move_the_crossover_up():
    for D in (8, 16, 32):
        plain = cm.roofline_crossover(D, RATES)
        with_calls = cm.roofline_crossover(D, RATES, CALLS)
        assert plain is not None and with_calls is not None and with_calls > plain
        # at the predicted crossover both model times agree
        assert cm.exact_time(with_calls, D, RATES, CALLS) == pytest.approx(
            cm.linear_time(with_calls, D, RATES, CALLS), rel=0.05)


def test_linear_model_time_counts_extra_slabs():
    D = 32
    chunk = default_chunk(feature_dim(D, 3), 4)
    one, three = cm.slabs(chunk, D), cm.slabs(3 * chunk, D)
    assert one == (chunk, 1) and three == (chunk, 3)
    no_slab_cost = cm.CallCosts(CALLS.exact, CALLS.linear, 0.0)
    torch_path = dict(impl="torch")
    difference = cm.linear_time(3 * chunk, D, RATES, CALLS, **torch_path) \
        - cm.linear_time(3 * chunk, D, RATES, no_slab_cost, **torch_path)
    assert difference == pytest.approx(2 * CALLS.slab)
    # the fused kernel has no slabs: a slab cost must not enter its time
    assert cm.linear_time(3 * chunk, D, RATES, CALLS) == cm.linear_time(3 * chunk, D, RATES, no_slab_cost)


def test_fused_model_is_compute_bound_at_the_matmul_rate():
    # the fused kernel's two passes move only Q, K, V and Z; at long L its time is its FLOPs over the matmul rate
    for D in (8, 16, 32):
        L = 16384
        steps = cm.fused_steps(L, D)
        assert sum(st.bytes for st in steps) == 4 * L * D * 4
        flops = sum(st.flops for st in steps)
        assert cm.linear_time(L, D, RATES) == pytest.approx(flops / RATES.matmul)
        # it executes at least the useful FLOPs (the ones column is multiplied like any other: L M more)
        assert flops >= cm.linear_flops(L, D)
        assert flops - cm.linear_flops(L, D) == pytest.approx(L * feature_dim(D, 3), rel=1e-9)
        # and the torch path, which writes and reads its features, is modelled slower
        assert cm.linear_time(L, D, RATES, impl="torch") > cm.linear_time(L, D, RATES)


def test_times_grow_with_L():
    for D in (8, 32):
        for model in (lambda L: cm.exact_time(L, D, RATES, CALLS), lambda L: cm.linear_time(L, D, RATES, CALLS)):
            times = [model(L) for L in (64, 256, 1024, 4096, 16384)]
            assert times == sorted(times)


def test_main_memory_traffic_counts_only_what_leaves_the_caches():
    l3 = 32 << 20
    D = 16
    compulsory = lambda L: 4 * L * D * 4  # noqa: E731  Q, K, V in, Z out
    # linear attention's slabs stay in cache: only its inputs and output cross to memory
    assert cm.dram_traffic(cm.linear_steps(16384, D), 16384, D, l3) == compulsory(16384)
    # exact attention at L = 4096: two 64 MiB tensors, written and read (5 L^2 s) besides the inputs
    steps = cm.exact_steps(4096, D)
    assert cm.dram_traffic(steps, 4096, D, l3) == compulsory(4096) + sum(st.bytes for st in steps)
    assert cm.dram_traffic(cm.exact_steps(256, D), 256, D, l3) == compulsory(256)
