"""Findings about the reproduction check: what ``make verify`` found, for the report's appendix.

Reads ``results/<profile>/verification.json`` (written by ``pipeline/verify.py``) and
decides, per section, which sentence the appendix can say: identical, reproduces
within noise, or does not reproduce; and whether the check was made on the results
the report shows (same fingerprint) or on earlier ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORD = "verification.json"


@dataclass(frozen=True)
class SectionCheck:
    """What the reproduction check found for one section."""

    title: str
    verdict: str  # the words pipeline/verify.py chose
    total: int  # printed numbers checked
    identical: int
    within: int
    unknown: int  # differed with no noise estimate
    unknown_timings: int  # of those, wall-clock times
    outside: int  # outside their noise, or missing in the rerun
    disagreements: tuple[str, ...]  # "key: committed → rerun"
    current: bool  # checked against the results the report shows

    @property
    def fails(self) -> bool:
        return self.outside > 0

    @property
    def all_identical(self) -> bool:
        return self.identical == self.total

    @property
    def some_within(self) -> bool:
        return self.within > 0

    @property
    def some_unknown(self) -> bool:
        return self.unknown > 0

    @property
    def unknown_all_timings(self) -> bool:
        return self.unknown > 0 and self.unknown_timings == self.unknown

    @property
    def earlier_results(self) -> bool:
        return not self.current


@dataclass(frozen=True)
class VerificationFindings:
    """The appendix's reproduction block: present only when a verification record exists."""

    present: bool
    date: str = ""
    command: str = ""
    machine: str = ""
    libraries: tuple[str, ...] = ()
    sections: tuple[SectionCheck, ...] = ()
    reran: bool = True  # False: results made elsewhere were judged (verify --against)

    @property
    def any_fails(self) -> bool:
        return any(s.fails for s in self.sections)


NO_VERIFICATION = VerificationFindings(present=False)


def machine_text(hardware: dict[str, Any]) -> str:
    """Describe a machine as the provenance table does: CPU, cores, threads, device."""
    if not hardware:
        return "an unrecorded machine"
    text = (f"{hardware.get('cpu', 'unknown CPU')}, {hardware.get('cpu_count', '?')} logical CPUs, "
            f"{hardware.get('torch_threads', '?')} torch threads, device {hardware.get('device', '?')}")
    return text + (f" ({hardware['gpu']})" if hardware.get("gpu") else "")


def section_check(title: str, entry: dict[str, Any], current_digest: str | None) -> SectionCheck:
    """Return the finding for one section from its entry in the verification record."""
    tally = entry.get("counts", {})
    unknown_rows = entry.get("unknown_noise", [])
    timings = sum(1 for row in unknown_rows if isinstance(row, dict) and row.get("relative"))
    return SectionCheck(
        title=title, verdict=entry.get("verdict", ""), total=sum(int(v) for v in tally.values()),
        identical=int(tally.get("identical", 0)), within=int(tally.get("within noise", 0)),
        unknown=int(tally.get("differs, noise unknown", 0)), unknown_timings=timings,
        outside=int(tally.get("outside noise", 0)) + int(tally.get("missing", 0)),
        disagreements=tuple(f"`{d['number']}`: {d['committed']} → {d['rerun']}"
                            for d in entry.get("disagreements", [])),
        current=bool(current_digest) and entry.get("committed", {}).get("fingerprint") == current_digest,
    )


def findings_from_record(record: dict[str, Any], sections: list[Any]) -> VerificationFindings:
    """Return the reproduction finding from a verification record and the report's sections."""
    entries = record.get("experiments", {})
    checks = []
    for s in sections:
        if s.name in entries:
            digest = (s.r.raw.get("fingerprint") or {}).get("digest") if s.r is not None else None
            checks.append(section_check(s.title, entries[s.name], digest))
    if not checks:
        return NO_VERIFICATION
    libraries = tuple(f"{name} {version}" for name, version in (record.get("libraries") or {}).items() if version)
    date = str(record.get("date", "")).replace("T", " ").replace("+00:00", " UTC")
    return VerificationFindings(True, date, record.get("command", ""), machine_text(record.get("machine") or {}),
                                libraries, tuple(checks), reran=bool(record.get("reran", True)))


def verification_findings(profile: str, sections: list[Any]) -> VerificationFindings:
    """Return the reproduction finding for the report of ``sections`` (absent when no record exists)."""
    if not sections:
        return NO_VERIFICATION
    path = Path(sections[0].results_file).parent.parent / RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return NO_VERIFICATION
    if not isinstance(record, dict):
        return NO_VERIFICATION
    return findings_from_record(record, sections)
