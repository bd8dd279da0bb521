"""Findings about the report as a whole: which profile it shows, and how it was rendered."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.profiles import split_profile


@dataclass(frozen=True)
class ReportFindings:
    """What the report's front matter and introduction say about this build."""

    profile: str
    base: str  # quick, default or homework
    n_seeds: int  # 1 unless the profile is <base>-seeds<N>
    renderer: str

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


def findings(profile: str, renderer: str) -> ReportFindings:
    """Return the report-level findings for ``profile`` rendered by ``renderer``."""
    base, n_seeds = split_profile(profile)
    return ReportFindings(profile=profile, base=base, n_seeds=n_seeds or 1, renderer=renderer)
