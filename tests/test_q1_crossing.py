"""Q1's measured crossover: within-round ratios, passes, and the bootstrap over both."""

from __future__ import annotations

import pytest
import torch

from experiments import q1_attention as q1
from hw2.q1.crossing import bootstrap_crossing, crossing_point, median_ratios, ratio_crossing, round_ratios

LS = [16.0, 32.0, 64.0, 128.0]


def test_round_ratios_pair_the_calls_of_a_round():
    assert round_ratios([[2.0, 6.0]], [[1.0, 2.0]]) == [[2.0, 3.0]]
    with pytest.raises(ValueError, match="one call per round"):
        round_ratios([[1.0, 2.0]], [[1.0]])


def test_median_ratio_of_an_even_count_is_the_geometric_mean_of_the_middle_two():
    assert median_ratios([[1.0, 4.0]], [[1.0, 1.0]]) == [pytest.approx(2.0)]  # not (1 + 4) / 2


def test_within_round_ratio_cancels_a_slow_stretch_that_the_medians_keep():
    # In every round exact / linear is 0.9 at L = 16 and 1.1, 1.3, 1.6 beyond: linear overtakes between 16
    # and 32.  At L = 32 the machine ran 3x slow in the last rounds, from the middle of round 2 (linear's
    # call in it was slowed, exact's not); the medians then come from different stretches: exact's from
    # the fast one (1.1), linear's from the slow one (3.0).
    exact = [[0.9] * 5, [1.1, 1.1, 1.1, 3.3, 3.3], [1.3] * 5, [1.6] * 5]
    linear = [[1.0] * 5, [1.0, 1.0, 3.0, 3.0, 3.0], [1.0] * 5, [1.0] * 5]
    assert median_ratios(exact, linear)[1] == pytest.approx(1.1)  # four of five rounds say 1.1
    assert ratio_crossing(LS, exact, linear) == pytest.approx(crossing_point(LS, [0.9, 1.1, 1.3, 1.6], [1.0] * 4))
    assert 16 < ratio_crossing(LS, exact, linear) < 32
    medians = crossing_point(LS, [sorted(x)[2] for x in exact], [sorted(x)[2] for x in linear])
    assert 32 < medians < 64  # the ratio of the medians (1.1 / 3.0) puts it a length later


def test_bootstrap_keeps_the_calls_of_a_round_together():
    # both calls move together by +-50% from round to round; exact / linear is 0.9 then 1.2 in every round
    wobble = [0.5, 1.0, 1.5, 0.7, 1.3]
    exact = [[0.9 * w for w in wobble], [1.2 * w for w in wobble]]
    linear = [list(wobble), list(wobble)]
    low, high, share = bootstrap_crossing([16.0, 32.0], exact, linear)
    assert share == 1.0 and low == pytest.approx(high)  # no noise in the ratios, none in the crossing


def test_passes_widen_the_interval_when_passes_disagree():
    # at L = 32 one pass says exact / linear = 1.3, the other 0.8 (ten rounds each, little noise within)
    rng = torch.Generator().manual_seed(0)
    noise = (1 + 0.01 * torch.randn(4, 20, generator=rng)).tolist()
    exact = [[0.7 * x for x in noise[0]], [1.3 * x for x in noise[1][:10]] + [0.8 * x for x in noise[1][10:]],
             [2.0 * x for x in noise[2]], [4.0 * x for x in noise[3]]]
    linear = [[1.0] * 20 for _ in range(4)]
    flat = bootstrap_crossing(LS, exact, linear)
    grouped = bootstrap_crossing(LS, exact, linear, groups=[[10, 10]] * 4)
    assert flat is not None and grouped is not None
    assert grouped[1] - grouped[0] > flat[1] - flat[0]
    with pytest.raises(ValueError, match="do not cover"):
        bootstrap_crossing(LS, exact, linear, groups=[[10, 9]] * 4)


# --------------------------------------------------------------------------- passes in the sweep


class FakePoint:
    """Stands in for TimingPoint: records when each pass was timed and with what share."""

    def __init__(self, D, L, log):
        self.D, self.L, self.log = D, L, log

    def time(self, rounds, budget_s, min_rounds):
        self.log.append((self.D, self.L, rounds, budget_s, min_rounds))


def test_short_lengths_are_timed_in_passes_over_the_whole_sweep():
    cfg = q1.Settings(timing_D=[8, 16], timing_L=[16, 1024, 2048], timing_repeats=30, timing_budget_s=1.0,
                      timing_min_rounds=3, timing_passes=5, timing_pass_max_L=1024)
    log = []
    q1.sweep(cfg, [FakePoint(D, L, log) for D in cfg.timing_D for L in cfg.timing_L], progress=False)
    # every short point five times with a fifth of the rounds and budget (and at least one round);
    # the long ones once, with all of it
    assert sum(1 for e in log if e[1] == 16) == 10 and sum(1 for e in log if e[1] == 2048) == 2
    assert all(e[2:] == (6, pytest.approx(0.2), 1) for e in log if e[1] <= 1024)
    assert all(e[2:] == (30, 1.0, 3) for e in log if e[1] == 2048)
    # pass k of every point before pass k + 1 of any: a point's rounds are spread over the run
    first = log[:6]
    assert {(d, L) for d, L, *_ in first} == {(D, L) for D in (8, 16) for L in (16, 1024, 2048)}
    assert log[6:] == [e for e in log[6:] if e[1] <= 1024]


def test_one_pass_times_everything_once():
    cfg = q1.Settings(timing_passes=1)
    assert q1.passes_for(cfg, 16) == 1 and q1.passes_for(cfg, 16384) == 1
    cfg = q1.Settings(timing_passes=4, timing_pass_max_L=64)
    assert [q1.passes_for(cfg, L) for L in (16, 64, 128)] == [4, 4, 1]


def test_timing_point_keeps_the_rounds_of_each_pass():
    cfg = q1.Settings(timing_K=3, fraction_min_L=1 << 20, breakdown_L=[])
    p = q1.TimingPoint(cfg, 4, 32, torch.Generator().manual_seed(0))
    p.time(rounds=2, budget_s=10.0, min_rounds=1)
    p.time(rounds=3, budget_s=10.0, min_rounds=1)
    out = p.result()
    assert out["pass_rounds"] == [2, 3]
    assert all(len(v) == 5 for v in out["times"].values())
    assert {"exact", "linear"} <= set(out["times"])


def _point(L, exact, linear, pass_rounds):
    return {"L": L, "times": {"exact": exact, "linear": linear}, "pass_rounds": pass_rounds}


def test_pass_crossovers_read_each_pass_alone():
    # pass 1 crosses between 16 and 32, pass 2 between 32 and 64; L = 64 was timed once and serves both
    points = [_point(16, [0.9, 0.9], [1.0, 1.0], [1, 1]),
              _point(32, [1.2, 0.9], [1.0, 1.0], [1, 1]),
              _point(64, [1.5], [1.0], [1])]
    c1, c2 = q1.pass_crossovers(points)
    assert 16 < c1 < 32 < c2 < 64
    assert q1.pass_crossovers(points, medians=True) == pytest.approx([c1, c2])  # one round per pass: the same
    assert q1.pass_crossovers([_point(16, [1.0], [1.0], [1])]) == []  # one pass: nothing to compare
