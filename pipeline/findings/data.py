"""Which data the numbers came from: the real data set found and used, found and not used, or not found.

Each experiment that can read a real data set records a ``search`` block (written by
``hw2.files.search_record``): what the settings asked for (auto, real or standin),
every place looked at in order and whether the data was there, which data the run
read and why.  ``data_findings`` turns that block into the three cases the report
distinguishes, so that a template only picks the words:

* **used_real**: the real data set was found and used (``where`` it lies);
* **found_not_used**: it was found (``where``) but the settings asked for the stand-in;
* **not_found**: it is in none of the places looked (``looked_in``), so the stand-in was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.errors import ResultsError

REQUESTS = ("auto", "real", "standin")
USED = ("real", "standin")


@dataclass(frozen=True)
class Looked:
    """One place the real data set was looked for."""

    path: str
    origin: str  # the setting that named it ("data_path", "ljspeech_dir"), "HW2_DATA_DIR", or "default"
    exists: bool

    @property
    def from_env(self) -> bool:
        """The place is under $HW2_DATA_DIR."""
        return self.origin == "HW2_DATA_DIR"

    @property
    def given(self) -> bool:
        """The place was named by a setting (``origin`` is the setting's name)."""
        return self.origin not in ("HW2_DATA_DIR", "default")


@dataclass(frozen=True)
class DataFindings:
    """What the report says about the data of one question (exactly one of the three cases is true)."""

    dataset: str  # "OCTMNIST", "LJ Speech 1.1"
    used_real: bool  # the real data set was found and the run read it
    found_not_used: bool  # the real data set was found, but the settings asked for the stand-in
    not_found: bool  # the real data set is in none of the places looked, so the run read the stand-in
    where: str | None  # where the real data set lies (the copy used, or the first one found); None if not found
    looked_in: tuple[Looked, ...]  # every place looked at, in order
    requested: str  # auto, real or standin
    standin_where: str | None  # the stand-in the run read (None when it read the real data)

    @property
    def requested_standin(self) -> bool:
        """The settings asked for the stand-in (data=standin)."""
        return self.requested == "standin"

    @property
    def requested_auto(self) -> bool:
        """The settings asked for the real data when present, else the stand-in (data=auto)."""
        return self.requested == "auto"

    @property
    def used_standin(self) -> bool:
        return not self.used_real

    @property
    def places(self) -> int:
        """How many places were looked at."""
        return len(self.looked_in)


def _bad(search: Any, problem: str) -> ResultsError:
    """Return the one-line error for a search block that is malformed or contradicts itself."""
    source = getattr(search, "_source", None)
    where = f"{source}: {getattr(search, '_path', '') or 'data search'}" if source else "data search block"
    return ResultsError(f"{where}: {problem}; rerun the experiment")


def data_findings(search: Any) -> DataFindings:
    """Return the data findings of a ``search`` block (a dict or a ResultsView).

    A block that is malformed or contradicts itself raises a one-line ResultsError.
    """
    block = getattr(search, "raw", search)  # look through a ResultsView to its JSON
    if not isinstance(block, dict):
        raise _bad(search, f"expected a JSON object, found {type(block).__name__}")
    missing = [k for k in ("dataset", "requested", "candidates", "used", "used_path") if k not in block]
    if missing:
        raise _bad(search, f"lacks {', '.join(missing)}")
    requested, used = block["requested"], block["used"]
    if requested not in REQUESTS:
        raise _bad(search, f"requested must be one of {', '.join(REQUESTS)}, not {requested!r}")
    if used not in USED:
        raise _bad(search, f"used must be real or standin, not {used!r}")
    looked = tuple(Looked(str(c["path"]), str(c["origin"]), bool(c["exists"])) for c in block["candidates"])
    first_found = next((place.path for place in looked if place.exists), None)
    if used == "real":
        if requested == "standin":
            raise _bad(search, "the stand-in was requested but the real data used")
        if not block["used_path"]:
            raise _bad(search, "the real data was used but used_path is empty")
        where = str(block["used_path"])
    else:
        if requested == "real":
            raise _bad(search, "the real data was requested but the stand-in used")
        if requested == "auto" and first_found is not None:
            raise _bad(search, f"data=auto found {first_found} but used the stand-in")
        where = first_found
    return DataFindings(
        dataset=str(block["dataset"]),
        used_real=used == "real",
        found_not_used=used == "standin" and where is not None,
        not_found=used == "standin" and where is None,
        where=where,
        looked_in=looked,
        requested=requested,
        standin_where=block.get("standin_path") if used == "standin" else None,
    )


__all__ = ["DataFindings", "Looked", "data_findings"]
