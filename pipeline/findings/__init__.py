"""Findings: the claims the report makes, decided in Python from the results.

A template only phrases findings.  Every comparison ("better", "lower", "faster"),
every verdict and every derived number (a gap, a ratio) that a sentence rests on
is a field of a finding, computed by a pure function of the results and tested.
Numbers keep their trace to the results file they came from (see
``pipeline.report.values.TracedFloat``), so a derived gap still shows its source
on hover.

``Comparison`` is the one way to compare two measured values: the difference is
called a tie unless it exceeds its noise (``TIE_SIGMAS`` standard errors of the
difference), and two values that print the same are always a tie.

Each question has its module (``pipeline.findings.q1`` ...) with a function
``findings(r)`` that takes the results (a ``ResultsView`` or a plain dict) and
returns a dataclass; the stage table names it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from hw2.stats import binomial_se, bootstrap_se, difference_se

# A difference counts only when it exceeds this many standard errors of the difference
# (about a 95% two-sided interval for a normal estimate).
TIE_SIGMAS = 2.0


@dataclass(frozen=True)
class Comparison:
    """Value ``a`` against value ``b``: the difference, its noise, and which is ahead.

    ``higher_is_better`` says which way "ahead" points (accuracy: higher; error,
    time, loss: lower).  ``noise`` is the standard error of the difference (or the
    seed-to-seed spread), described in words by ``basis``; None when unknown, in
    which case only values that print the same are a tie and the finding says the
    noise is unknown.
    """

    a: float
    b: float
    noise: float | None
    basis: str
    higher_is_better: bool = True
    digits: int = 3  # the precision the report prints a and b with

    @property
    def difference(self) -> float:
        """a − b (traced when a and b are)."""
        return self.a - self.b

    @property
    def magnitude(self) -> float:
        """|a − b|."""
        return abs(self.difference)

    @property
    def threshold(self) -> float | None:
        """The smallest |a − b| that is not called a tie (TIE_SIGMAS × noise)."""
        return None if self.noise is None else TIE_SIGMAS * self.noise

    @property
    def printed_equal(self) -> bool:
        """Whether a and b print the same at ``digits`` decimals."""
        return f"{float(self.a):.{self.digits}f}" == f"{float(self.b):.{self.digits}f}"

    @property
    def tied(self) -> bool:
        """True when the difference is within its noise, or the printed values are equal."""
        if self.printed_equal or float(self.difference) == 0.0:
            return True
        return self.threshold is not None and self.magnitude <= self.threshold

    @property
    def a_ahead(self) -> bool:
        """True when a is better than b beyond the noise."""
        if self.tied:
            return False
        return (float(self.difference) > 0) == self.higher_is_better

    @property
    def b_ahead(self) -> bool:
        """True when b is better than a beyond the noise."""
        return not self.tied and not self.a_ahead

    @property
    def noise_known(self) -> bool:
        return self.noise is not None

    @property
    def sigmas(self) -> float | None:
        """|a − b| in units of its noise (None when the noise is unknown or zero)."""
        if self.noise is None or self.noise == 0:
            return None
        return self.magnitude / self.noise

    @property
    def verdict(self) -> str:
        """'tied', 'a' or 'b'."""
        return "tied" if self.tied else ("a" if self.a_ahead else "b")


def compare_accuracies(a: float, b: float, n: int, *, digits: int = 3) -> Comparison:
    """Compare two accuracies measured on ``n`` items each: binomial standard errors, combined.

    The two are treated as independent measurements, which overstates the noise of a
    difference on the same test items (a paired test would be tighter): a tie here
    means the data do not separate the two, not that they are equal.
    """
    noise = difference_se(binomial_se(a, n), binomial_se(b, n))
    return Comparison(a, b, noise, f"binomial standard error of each accuracy on {n:,} images, combined",
                      higher_is_better=True, digits=digits)


def compare_over_seeds(a: float, b: float, sd_a: float | None, sd_b: float | None, n_seeds: int, *,
                       higher_is_better: bool = True, digits: int = 3) -> Comparison:
    """Compare two means over ``n_seeds`` seeds by the standard error of their difference."""
    if sd_a is None or sd_b is None or n_seeds < 2:
        return Comparison(a, b, None, "unknown: a single seed", higher_is_better, digits)
    noise = difference_se(sd_a / math.sqrt(n_seeds), sd_b / math.sqrt(n_seeds))
    return Comparison(a, b, noise, f"standard error of the mean over {n_seeds} seeds, combined",
                      higher_is_better, digits)


def compare_paired(a: float, b: float, per_item_a: Sequence[float], per_item_b: Sequence[float], *,
                   higher_is_better: bool = True, digits: int = 3, what: str = "test clips") -> Comparison:
    """Compare two means over the same items by a paired bootstrap of the per-item differences."""
    noise = bootstrap_se(per_item_a, per_item_b)
    return Comparison(a, b, noise, f"paired bootstrap over the {len(per_item_a):,} {what}", higher_is_better, digits)


@dataclass(frozen=True)
class TimingComparison(Comparison):
    """Two times compared by their ratio: timing noise is multiplicative, not additive.

    ``log_noise`` is the standard error of ln(a / b); the times are tied when
    |ln(a / b)| is at most TIE_SIGMAS of it.  ``noise`` (seconds) is that band read at
    the smaller time, kept so that a sentence may still print a difference.
    """

    log_noise: float | None = None

    @property
    def ratio(self) -> float:
        """The slower time over the faster one (at least 1)."""
        lo, hi = sorted((float(self.a), float(self.b)))
        return hi / lo if lo > 0 else math.inf

    @property
    def ratio_threshold(self) -> float | None:
        """The smallest ratio that is not called a tie: exp(TIE_SIGMAS × log_noise)."""
        return None if self.log_noise is None else math.exp(TIE_SIGMAS * self.log_noise)

    @property
    def tied(self) -> bool:
        if self.printed_equal or float(self.difference) == 0.0:
            return True
        return self.log_noise is not None and math.log(self.ratio) <= TIE_SIGMAS * self.log_noise

    @property
    def sigmas(self) -> float | None:
        if not self.log_noise:
            return None
        return math.log(self.ratio) / self.log_noise


def compare_timings(a: float, b: float, repeats_a: Sequence[float], repeats_b: Sequence[float], *,
                    digits: int = 4) -> TimingComparison:
    """Compare two median times by their ratio, against the spread of their repeats (lower is better).

    Timing noise scales with the time (a page fault, a busy neighbour core stretch a call
    by a factor), so the comparison works on logarithms: the noise of each median is
    1.2533 × sd(ln repeats) / √n (the asymptotic standard error of a median of normal
    draws), combined for the two.  Two medians of one repeat each have unknown noise.
    """
    def se(xs: Sequence[float]) -> float | None:
        logs = [math.log(float(x)) for x in xs if float(x) > 0]
        if len(logs) < 2:
            return None
        mean = math.fsum(logs) / len(logs)
        sd = math.sqrt(math.fsum((x - mean) ** 2 for x in logs) / (len(logs) - 1))
        return 1.2533 * sd / math.sqrt(len(logs))

    log_noise = difference_se(se(repeats_a), se(repeats_b))
    noise = None if log_noise is None else min(float(a), float(b)) * (math.exp(log_noise) - 1)
    return TimingComparison(a, b, noise, "spread of the repeated timings (on a log scale)", higher_is_better=False,
                            digits=digits, log_noise=log_noise)


def noise_free(a: float, b: float, *, higher_is_better: bool = True, digits: int = 3, why: str) -> Comparison:
    """Compare two values that are exact (counts, formulas): only equal values are a tie."""
    return Comparison(a, b, 0.0, why, higher_is_better, digits)


@dataclass(frozen=True)
class Listing:
    """Items to name in a sentence ("a, b and c"), with how many there are."""

    items: tuple[Any, ...]

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def empty(self) -> bool:
        return not self.items

    @property
    def one(self) -> bool:
        return len(self.items) == 1


__all__ = ["TIE_SIGMAS", "Comparison", "Listing", "compare_accuracies", "compare_over_seeds", "compare_paired",
           "compare_timings", "noise_free", "TimingComparison"]
