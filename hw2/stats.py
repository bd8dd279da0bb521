"""Repeated runs over seeds: which seeds, and their mean and standard deviation.

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
