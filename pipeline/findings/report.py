"""Findings about the report as a whole: which profile it shows, how it was rendered, and
where each section's results stand (stale, or made with overrides)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from pipeline.findings import Listing
from pipeline.profiles import split_profile

if TYPE_CHECKING:
    from pipeline.status import ExperimentStatus


@dataclass(frozen=True)
class Override:
    """One setting a section's results were made with instead of the profile's (``--set``)."""

    key: str
    value: str  # as JSON
    profile_value: str  # the profile's value, as JSON


@dataclass(frozen=True)
class SectionStatus:
    """What the top of a section says about its results besides the numbers themselves."""

    stale: bool  # the results no longer match the code, settings, data or libraries
    reasons: Listing  # why they are stale (the first MAX_REASONS)
    more_reasons: int  # how many more reasons there are
    fix: str  # the command that brings them up to date
    overrides: Listing  # of Override: settings they were made with instead of the profile's
    back_to_profile: str  # the command that reruns the experiment with the profile's settings

    @property
    def with_overrides(self) -> bool:
        return not self.overrides.empty


MAX_REASONS = 4  # a note names at most this many changes; make status lists them all

# what a section whose status is not known (a section rendered on its own, in a test) says: nothing
UNKNOWN_STATUS = SectionStatus(stale=False, reasons=Listing(()), more_reasons=0, fix="", overrides=Listing(()),
                               back_to_profile="")


class SectionStatuses(dict):
    """Section statuses by experiment name; a section without one gets ``UNKNOWN_STATUS`` (no note)."""

    def __missing__(self, key: str) -> SectionStatus:
        return UNKNOWN_STATUS


def section_status(status: "ExperimentStatus") -> SectionStatus:
    """Return what a section's note says, from its experiment's status (pipeline.status)."""
    overrides = tuple(Override(key, json.dumps(value), json.dumps(profile_value))
                      for key, value, profile_value in status.departures)
    reasons = tuple(status.reasons) if status.needs_run else ()
    return SectionStatus(stale=status.needs_run, reasons=Listing(reasons[:MAX_REASONS]),
                         more_reasons=max(0, len(reasons) - MAX_REASONS), fix=status.fix,
                         overrides=Listing(overrides), back_to_profile=status.make_command())


@dataclass(frozen=True)
class ReportFindings:
    """What the report's front matter and introduction say about this build."""

    profile: str
    base: str  # quick, default or homework
    n_seeds: int  # 1 unless the profile is <base>-seeds<N>
    renderer: str
    sections: dict[str, SectionStatus] = field(default_factory=SectionStatuses)  # by experiment name

    @property
    def is_default(self) -> bool:
        return self.profile == "default"

    @property
    def base_is_default(self) -> bool:
        return self.base == "default"

    @property
    def base_is_quick(self) -> bool:
        return self.base == "quick"

    @property
    def base_is_homework(self) -> bool:
        return self.base == "homework"

    @property
    def repeated(self) -> bool:
        return self.n_seeds > 1

    @property
    def stale_sections(self) -> Listing:
        """Names of the sections whose results are stale."""
        return Listing(tuple(name for name, s in self.sections.items() if s.stale))

    @property
    def sections_with_overrides(self) -> Listing:
        """Names of the sections whose results were made with --set overrides."""
        return Listing(tuple(name for name, s in self.sections.items() if s.with_overrides))


def findings(profile: str, renderer: str, statuses: Iterable["ExperimentStatus"] = ()) -> ReportFindings:
    """Return the report-level findings for ``profile`` rendered by ``renderer``, with each section's status."""
    base, n_seeds = split_profile(profile)
    sections = SectionStatuses({status.name: section_status(status) for status in statuses})
    return ReportFindings(profile=profile, base=base, n_seeds=n_seeds or 1, renderer=renderer, sections=sections)
