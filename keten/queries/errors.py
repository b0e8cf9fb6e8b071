"""Errors the analyses raise; the API maps them to problem details (404 and 422).

An id hidden by the caller's clearance is not in the caller's projection, so it is reported
exactly like an id that does not exist: the error never reveals that something is hidden.
"""

from __future__ import annotations

from collections.abc import Sequence


class UnknownEntityError(LookupError):
    """Some requested ids are not (visibly) in the knowledge network."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids: list[str] = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:20])
        more = f" and {len(self.ids) - 20} more" if len(self.ids) > 20 else ""
        super().__init__(f"unknown entity id(s): {shown}{more}")


class AnalysisInputError(ValueError):
    """The request is well-formed but the analysis cannot run on it (message says why)."""
