"""Where two timed series cross (Q1: the length where exact attention becomes slower than linear attention),
and how sure the crossing is, from the repeated calls behind each point.  No torch: the report's findings use it."""

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


def bootstrap_crossing(lengths: Sequence[float], a_repeats: Sequence[Sequence[float]],
                       b_repeats: Sequence[Sequence[float]], *, resamples: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float, float] | None:
    """Return a percentile interval (low, high) of the crossing of the medians of two timed series, and the share
    of resamples that had a crossing at all; the repeats at each length are resampled with replacement.

    None when fewer than half of the resamples cross (the interval would describe a minority).
    """
    import numpy as np

    rng = np.random.default_rng(seed)

    def medians(repeats: Sequence[Sequence[float]]) -> np.ndarray:
        """(resamples, lengths): the median of each length's calls, resampled with replacement."""
        out = np.empty((resamples, len(repeats)))
        for j, r in enumerate(repeats):
            x = np.asarray(r, dtype=float)
            out[:, j] = np.median(x[rng.integers(0, x.size, size=(resamples, x.size))], axis=1)
        return out

    meds_a, meds_b = medians(a_repeats), medians(b_repeats)
    found = [x for x in (crossing_point(lengths, list(ma), list(mb)) for ma, mb in zip(meds_a, meds_b))
             if x is not None]
    if len(found) < resamples / 2:
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(found, [tail, 100 - tail])
    return float(low), float(high), len(found) / resamples
