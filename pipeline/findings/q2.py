"""Q2's findings: the claims its section makes, decided from its results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Findings:
    """What the Q2 section says (fields are added as the section is converted)."""


def findings(r: Any) -> Findings:
    """Return Q2's findings from its results (a ResultsView or a plain dict)."""
    return Findings()
