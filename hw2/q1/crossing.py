"""Where two timed series cross (Q1: the length where exact attention becomes slower than linear attention),
and how sure the crossing is, from the rounds of calls behind each point.  No torch: the report's findings use it."""

from __future__ import annotations

import math
from typing import Sequence


def crossing_point(lengths: Sequence[float], a: Sequence[float], b: Sequence[float]) -> float | None:
    """Return the first x where series a rises above series b, interpolating log(a) - log(b) linearly in log(x).

    Used for the length where exact attention (a) becomes slower than linear attention (b);
    None when a is never above b after being at or below it.
    """
    diff = [math.log(x) - math.log(y) for x, y in zip(a, b)]
    for i in range(1, len(diff)):
        if diff[i - 1] <= 0 < diff[i]:
            lo, hi = math.log(lengths[i - 1]), math.log(lengths[i])
            frac = -diff[i - 1] / (diff[i] - diff[i - 1])
            return float(math.exp(lo + frac * (hi - lo)))
    return None


def round_ratios(a_repeats: Sequence[Sequence[float]], b_repeats: Sequence[Sequence[float]]) -> list[list[float]]:
    """Per length, a_i / b_i for each round i: the two calls of a round were made moments apart."""
    if any(len(a) != len(b) for a, b in zip(a_repeats, b_repeats)):
        raise ValueError("round_ratios: the two series must have one call per round at each length")
    return [[x / y for x, y in zip(a, b)] for a, b in zip(a_repeats, b_repeats)]


def median_ratios(a_repeats: Sequence[Sequence[float]], b_repeats: Sequence[Sequence[float]]) -> list[float]:
    """Per length, the median over rounds of a / b within a round (of an even count: the geometric mean of the middle two)."""
    import statistics

    return [math.exp(statistics.median(math.log(x) for x in r)) for r in round_ratios(a_repeats, b_repeats)]


def ratio_crossing(lengths: Sequence[float], a_repeats: Sequence[Sequence[float]],
                   b_repeats: Sequence[Sequence[float]]) -> float | None:
    """Return the first length where the median within-round ratio a / b rises above 1 (log-log interpolation).

    Q1's measured crossover.  A round times exact and linear attention one after the
    other, so a slow stretch of the machine (the short calls' medians move by up to a
    half from one stretch of seconds to the next on a 2-core virtual machine) slows both
    calls of a round; their ratio keeps less of it than the ratio of two medians, each of
    which can come from a different stretch.
    """
    ratios = median_ratios(a_repeats, b_repeats)
    return crossing_point(lengths, ratios, [1.0] * len(ratios))


def bootstrap_crossing(lengths: Sequence[float], a_repeats: Sequence[Sequence[float]],
                       b_repeats: Sequence[Sequence[float]], *, groups: Sequence[Sequence[int]] | None = None,
                       resamples: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float, float] | None:
    """Return a percentile interval (low, high) of ``ratio_crossing``, and the share of resamples that had a
    crossing at all.

    The rounds at each length are resampled with replacement (a round keeps its two
    calls together).  With ``groups`` (per length, the number of rounds in each pass, in
    order), the passes are resampled first and the rounds within the chosen passes then,
    so the interval also covers how far one pass differs from another.
    None when fewer than half of the resamples cross (the interval would describe a minority).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    logs = [np.log(np.asarray(r, dtype=float)) for r in round_ratios(a_repeats, b_repeats)]
    meds = np.empty((resamples, len(logs)))
    for j, x in enumerate(logs):
        sizes = np.asarray(groups[j] if groups else [x.size], dtype=int)
        if sizes.sum() != x.size or (sizes <= 0).any():
            raise ValueError(f"bootstrap_crossing: passes of {list(sizes)} rounds do not cover {x.size} rounds")
        offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        chosen = rng.integers(0, sizes.size, size=(resamples, sizes.size))  # passes, with replacement
        slot = rng.integers(0, sizes.size, size=(resamples, x.size))  # each draw from one of the chosen passes
        g = np.take_along_axis(chosen, slot, axis=1)
        idx = offsets[g] + (rng.random((resamples, x.size)) * sizes[g]).astype(int)
        meds[:, j] = np.median(x[idx], axis=1)
    ones = [1.0] * len(logs)
    found = [x for x in (crossing_point(lengths, list(np.exp(m)), ones) for m in meds) if x is not None]
    if len(found) < resamples / 2:
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(found, [tail, 100 - tail])
    return float(low), float(high), len(found) / resamples
