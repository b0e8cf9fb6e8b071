"""Problems found in a bundle, and the refusal that carries them.

A bundle is refused whole; the refusal names every bad record so that a contributor can
fix them all in one go instead of one per attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_REPORTED = 10_000
"""A refusal lists at most this many problems (and says how many more there were)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one record: where it is, which field, the value, and why."""

    file: str
    where: str
    field: str
    why: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for API reports."""
        return {
            "file": self.file,
            "where": self.where,
            "field": self.field,
            "value": self.value,
            "why": self.why,
        }

    def __str__(self) -> str:
        shown = "" if self.value is None else f" (got {short_repr(self.value)})"
        field = f" {self.field}:" if self.field else ""
        return f"{self.file}:{self.where}:{field} {self.why}{shown}"


def short_repr(value: Any, width: int = 80) -> str:
    """repr cut to `width` characters, so huge values do not flood a report."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


class BundleRejected(Exception):
    """The bundle was refused and nothing was written; `problems` says why."""

    def __init__(self, problems: list[Problem], total: int) -> None:
        self.problems = problems
        self.total = total
        more = f" (showing {len(problems)})" if total > len(problems) else ""
        super().__init__(f"bundle refused: {total} problem(s){more}")

    def report(self) -> str:
        """Human-readable report: one line per problem."""
        lines = [str(self), *(f"  {p}" for p in self.problems)]
        if self.total > len(self.problems):
            lines.append(f"  ... and {self.total - len(self.problems)} more")
        return "\n".join(lines)


class ProblemLog:
    """Collects problems up to MAX_REPORTED while counting all of them, and what an import
    left out without refusing the bundle (`keten.ingest.stix.NotKept`)."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.total = 0
        self.not_kept: list[Any] = []

    def add(self, problem: Problem) -> None:
        """Record one problem."""
        self.total += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(problem)

    def __bool__(self) -> bool:
        return self.total > 0

    def rejection(self) -> BundleRejected:
        """The exception that refuses the bundle with what was collected."""
        return BundleRejected(self.problems, self.total)
