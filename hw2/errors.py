"""Errors that the command-line tools turn into one-line messages."""

from __future__ import annotations

from pathlib import Path


class Hw2Error(Exception):
    """An error the user can act on; printed as one line, without a traceback."""


class DataError(Hw2Error):
    """A data file is missing, malformed or of the wrong layout."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")
