"""Findings for the optional "changes since REV" appendix (``python -m pipeline build --changes-since REV``).

The comparison itself is ``pipeline/diff.py``'s; this turns its rows into what the
appendix says: which printed numbers changed, from what to what, and whether each
change exceeds its noise (``pipeline/noise.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChangedNumber:
    """One printed number whose printed value changed."""

    section: str  # short name of the section (Q2)
    number: str  # its key (or the arithmetic of keys for a derived number)
    before: str
    now: str
    change: str
    beyond_noise: bool
    noise_unknown: bool
    added: bool  # only in the new results
    removed: bool  # only in the old results

    @property
    def within_noise(self) -> bool:
        return not (self.beyond_noise or self.noise_unknown or self.added or self.removed)


@dataclass(frozen=True)
class ChangesFindings:
    """What changed since a revision, for the appendix; ``present`` only when asked for."""

    present: bool
    rev: str = ""
    commit: str = ""
    rows: tuple[ChangedNumber, ...] = ()
    unchanged: int = 0  # printed numbers that print the same
    figures: tuple[str, ...] = ()  # figures whose pixels changed

    @property
    def none_changed(self) -> bool:
        return not self.rows and not self.figures

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def beyond(self) -> int:
        return sum(1 for row in self.rows if row.beyond_noise)

    @property
    def any_beyond(self) -> bool:
        return self.beyond > 0

    @property
    def within(self) -> int:
        return sum(1 for row in self.rows if row.within_noise)

    @property
    def any_within(self) -> bool:
        return self.within > 0

    @property
    def unknown(self) -> int:
        return sum(1 for row in self.rows if row.noise_unknown)

    @property
    def any_unknown(self) -> bool:
        return self.unknown > 0

    @property
    def one_figure(self) -> bool:
        return len(self.figures) == 1

    @property
    def figures_changed(self) -> bool:
        return bool(self.figures)


NO_CHANGES = ChangesFindings(present=False)


def changes_findings(rev: str, commit: str, checks: list[Any], titles: dict[str, str],
                     figures: list[str]) -> ChangesFindings:
    """Return the appendix's finding from diff rows (``pipeline.verify.NumberCheck``) and changed figures.

    ``titles`` names each experiment's section as the list should (``Q2`` for ``q2_cnn``).
    """
    from pipeline.noise import IDENTICAL, MISSING, UNKNOWN
    from pipeline.verify import change_text

    rows = []
    for c in checks:
        j = c.judgement
        if j.verdict == IDENTICAL:
            continue
        rows.append(ChangedNumber(
            section=titles.get(c.experiment, c.experiment), number=c.label, before=j.old_text, now=j.new_text,
            change=change_text(j), beyond_noise=j.fails and j.verdict != MISSING, noise_unknown=j.verdict == UNKNOWN,
            added=j.verdict == MISSING and j.old is None, removed=j.verdict == MISSING and j.new is None))
    unchanged = sum(1 for c in checks if c.judgement.verdict == IDENTICAL)
    return ChangesFindings(True, rev, commit, tuple(rows), unchanged, tuple(figures))
