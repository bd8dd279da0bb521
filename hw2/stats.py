"""Statistics the experiments report: seeds, means and spreads, and the uncertainty of a measurement.

An experiment with ``n_seeds`` > 1 (profile ``<name>-seeds<N>``) trains with
seeds ``seed, seed + 1, ...``; its tables show the mean over the seeds and the
sample standard deviation (n - 1 in the denominator).  Values that are ``None``
(a run that diverged) are left out of both.
"""

from __future__ import annotations

import math
from typing import Any, Sequence


def seed_list(seed: int, n_seeds: int = 1) -> list[int]:
    """Return the seeds of ``n_seeds`` repeated runs: seed, seed+1, ..., seed+n_seeds-1."""
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be at least 1, got {n_seeds}")
    return [seed + i for i in range(n_seeds)]


def mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Return (mean, sample standard deviation) of the values that are not None.

    The mean is None when no value is left, the deviation when fewer than two are.
    """
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return None, None
    mean = math.fsum(xs) / len(xs)
    if len(xs) < 2:
        return mean, None
    return mean, math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def mean_curve(curves: Sequence[Sequence[float | None]]) -> list[float | None]:
    """Return the element-wise mean of equally long curves, ignoring None entries."""
    if not curves:
        return []
    return [mean_sd([c[i] for c in curves])[0] for i in range(len(curves[0]))]


def combine_metrics(per_seed: Sequence[dict[str, float | None]]) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Return (means, standard deviations) key by key over the dicts of several seeds."""
    keys = list(per_seed[0])
    pairs = {key: mean_sd([d.get(key) for d in per_seed]) for key in keys}
    return {k: m for k, (m, _) in pairs.items()}, {k: s for k, (_, s) in pairs.items()}


# --------------------------------------------------------------------------- uncertainty


def binomial_se(p: float, n: int) -> float:
    """Return the standard error of an accuracy ``p`` measured on ``n`` independent items."""
    if n <= 0:
        raise ValueError(f"need n > 0 items, got {n}")
    p = min(max(float(p), 0.0), 1.0)
    return math.sqrt(p * (1 - p) / n)


def difference_se(*ses: float | None) -> float | None:
    """Return the standard error of a difference of independent estimates (None if any is unknown)."""
    if any(se is None for se in ses):
        return None
    return math.sqrt(math.fsum(float(se) ** 2 for se in ses))


def bootstrap_se(values: Sequence[float], others: Sequence[float] | None = None, *, resamples: int = 2000,
                 seed: int = 0) -> float:
    """Return the bootstrap standard error of mean(values), or of mean(values - others) when paired.

    The items (test clips, images) are resampled with replacement ``resamples`` times with a
    fixed seed, so the estimate is reproducible.
    """
    import numpy as np

    x = np.asarray(values, dtype=float)
    if others is not None:
        y = np.asarray(others, dtype=float)
        if y.shape != x.shape:
            raise ValueError(f"paired bootstrap needs equally many items, got {x.shape} and {y.shape}")
        x = x - y
    if x.size < 2:
        raise ValueError("bootstrap needs at least 2 items")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, x.size, size=(resamples, x.size))
    return float(x[index].mean(axis=1).std(ddof=1))
