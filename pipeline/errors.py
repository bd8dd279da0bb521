"""Errors of the pipeline (results files, rendering), printed as one line like the library's."""

from __future__ import annotations

from hw2.errors import DataError, Hw2Error


class ResultsError(Hw2Error):
    """A results file is missing, unreadable or lacks a key that a template needs."""


class RenderError(Hw2Error):
    """The report could not be rendered (missing renderer, failed pandoc/typst/quarto)."""


__all__ = ["DataError", "Hw2Error", "RenderError", "ResultsError"]
