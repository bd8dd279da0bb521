"""The measuring helpers: repeats are all kept, rounds interleave, rates come out positive (nothing is timed here)."""

from __future__ import annotations

import time

import torch

from hw2.q1 import measure
from hw2.q1.attention import softmax_attention


def test_wall_times_keeps_every_repeat_and_respects_the_budget():
    calls = []
    times = measure.wall_times(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(times) == 5 and len(calls) == 7 and all(t >= 0 for t in times)
    # a budget of zero still gives min_repeats
    assert len(measure.wall_times(lambda: None, repeats=10, budget_s=0.0, min_repeats=3)) == 3


def test_interleaved_rounds_call_each_function_in_turn():
    order = []
    # no settling: one warm-up each, then three rounds of one timed call each
    times = measure.interleaved_times({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                                      rounds=3, budget_s=float("inf"), settle_below_s=0.0)
    assert order == ["a", "b"] * 4
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}


def test_short_calls_are_timed_after_untimed_calls_of_their_own():
    order = []
    slow = lambda: (order.append("s"), time.sleep(0.003))  # noqa: E731  longer than the threshold: never repeated
    fast = lambda: order.append("f")  # noqa: E731
    times = measure.interleaved_times({"s": slow, "f": fast}, rounds=2, budget_s=float("inf"),
                                      settle_below_s=0.002, settle_s=0.001)
    assert {k: len(v) for k, v in times.items()} == {"s": 2, "f": 2}
    assert order.count("s") == 3  # warm-up and two timed calls
    rounds = "".join(order[2:]).split("s")[1:]  # what ran after each slow call: the fast one, repeated
    assert len(rounds) == 2 and all(len(r) >= 2 and set(r) == {"f"} for r in rounds)
    # the settling calls fill at least settle_s: a trivial call repeats many times in a millisecond
    assert all(len(r) > 10 for r in rounds)


def test_cache_sizes_are_positive_and_ordered():
    sizes = measure.cache_sizes()
    assert 0 < sizes["l2"] < sizes["l3"]


def test_call_costs_and_exact_steps_run():
    costs, info = measure.call_costs(8, repeats=3)
    assert costs.exact > 0 and costs.linear > 0 and costs.slab >= 0
    assert set(info["samples"]) == {"exact", "linear", "two_slabs", "four_slabs"}
    Q, K, V = (torch.randn(64, 8) for _ in range(3))
    steps = measure.exact_step_functions(Q, K, V)
    assert set(steps) == {"scores_in_place", "softmax_in_place", "weighted_sum_in_place"}
    # run in order, the in-place steps compute what softmax_attention computes
    steps["scores_in_place"]()
    steps["softmax_in_place"]()
    Z = steps["weighted_sum_in_place"]()
    assert torch.allclose(Z, softmax_attention(Q, K, V), atol=1e-5)


def test_linear_profile_accounts_for_the_whole_call():
    Q, K, V = (torch.randn(2048, 8) for _ in range(3))
    profile = measure.linear_profile(Q, K, V, calls=2)
    parts = sum(v for k, v in profile.items() if k != "total")
    assert profile["products"] > 0 and profile["feature_map"] > 0
    assert parts >= profile["total"] * (1 - 1e-9)  # "other" holds whatever the operators do not


def test_peak_allocated_bytes_sees_a_known_allocation():
    peak = measure.peak_allocated_bytes(lambda: torch.empty(1 << 20).fill_(1.0) + 1)
    assert 8 << 20 <= peak < 9 << 20  # two 4 MiB tensors alive at once


def test_settling_lasts_longer_after_a_long_call():
    stamps = []
    slow = lambda: time.sleep(0.2)  # noqa: E731
    fast = lambda: stamps.append(time.perf_counter())  # noqa: E731
    measure.interleaved_times({"s": slow, "f": fast}, rounds=1, budget_s=float("inf"), min_rounds=1,
                              settle_below_s=0.1, settle_s=0.001, settle_fraction=0.1)
    # warm-up call, then the settling calls of the one round: they span at least 10% of the 0.2 s call before them
    settle = stamps[1:-1]
    assert settle[-1] - settle[0] >= 0.019
