"""Check that supplier shares of one resource-year cannot add up to more than the whole.

`Resource -[:SOURCED_FROM {share, year, scope}]-> Country` says which part of a resource's
supply comes from a country. Shares of one resource, one year and one `scope` (what the
share is a share of: EU sourcing, import value, world extraction...) describe parts of the
same whole, so they may sum to less than 1 (the rest is unknown or "other") but not to more.
A sum above 1 + `TOLERANCE` means a typo or two data sets mixed under one scope; the bundle
is refused with a problem naming the resource, the year, the scope, the sum and every record
that went into it.

A relation is identified by (source, type, target, key), so a bundle that repeats one
relation counts it once, with its last share, as the store would keep it.

Shares already stored count too (`add_stored`), as far as the writer may see them: a key
never learns of shares above its clearance from a refusal. A share without a scope is
refused where the same resource and year have scoped shares: the monitor reads the most
complete scope of a year as its headline, and an unscoped share would silently compete
with, and could replace, figures whose scope someone stated.

>>> from keten.graph.store import RelationRow
>>> from keten.ingest.readers import RawRecord
>>> tally = ShareTally()
>>> rows = [RelationRow("resource:x", "SOURCED_FROM", f"country:{c}", props={"share": 0.6,
...         "year": 2023}) for c in ("CN", "RU")]
>>> tally.add([RawRecord("relation", {}, "b.json", f"relations[{i}]") for i in (0, 1)], rows)
>>> [(p.where, p.field, p.value) for p in tally.problems()]
[('relations[0]', 'share', 1.2)]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from keten.graph.store import RelationRow
from keten.ingest.problems import Problem
from keten.ingest.readers import RawRecord

TOLERANCE = 0.01
"""Rounding slack: published shares (71%, 20%, 9.5%...) often add up to a little over 1."""

GroupKey = tuple[str, int | None, str | None]
"""(resource id, year, scope) of a set of shares that must not exceed the whole."""
RelationRef = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class Place:
    """Where a share came from: a bundle record, or the store (`file` "store")."""

    file: str
    where: str
    share: float
    target: str


def group_key(row: RelationRow) -> GroupKey:
    """The resource-year-scope a SOURCED_FROM row belongs to."""
    year = row.props.get("year")
    scope = row.props.get("scope")
    return (row.source, None if year is None else int(year), None if scope is None else str(scope))


@dataclass
class ShareTally:
    """Shares per resource-year-scope across the batches of one bundle; `problems()` at the end.

    Feed rows with `add` as batches pass validation; to count shares already stored in the
    same resource-year-scopes, pass them to `add_stored` afterwards.
    """

    groups: dict[GroupKey, dict[RelationRef, Place]] = field(default_factory=dict)
    scopes: dict[tuple[str, int | None], set[str]] = field(default_factory=dict)
    """Named scopes seen (in the bundle or stored) per resource and year."""

    def add(self, items: Iterable[RawRecord], rows: Iterable[RelationRow]) -> None:
        """Count the SOURCED_FROM rows of a validated batch (`items` aligned with `rows`)."""
        for item, row in zip(items, rows, strict=True):
            if row.type == "SOURCED_FROM":
                self._put(row, Place(item.file, item.where, _share(row), row.target))

    def add_stored(self, rows: Iterable[RelationRow]) -> None:
        """Count stored SOURCED_FROM rows of the groups the bundle has shares in (call after
        `add`); a stored row the bundle replaces (same identity) is not counted.
        """
        for row in rows:
            if row.type != "SOURCED_FROM":
                continue
            key = group_key(row)
            if key[2] is not None:
                self.scopes.setdefault(key[:2], set()).add(key[2])
            group = self.groups.get(key)
            if group is not None and row.ref not in group:
                group[row.ref] = Place("store", row.target, _share(row), row.target)

    def resources(self) -> list[str]:
        """The resources the bundle gives shares of (whose stored shares count too)."""
        return sorted({resource for resource, _, _ in self.groups})

    def _put(self, row: RelationRow, place: Place) -> None:
        key = group_key(row)
        if key[2] is not None:
            self.scopes.setdefault(key[:2], set()).add(key[2])
        self.groups.setdefault(key, {})[row.ref] = place

    def problems(self) -> list[Problem]:
        """One problem per resource-year-scope whose shares sum above 1 + TOLERANCE, and one
        per unscoped share given where the resource-year has scoped ones."""
        found = []
        for (resource, year, scope), places in sorted(self.groups.items(), key=_sort_key):
            total = sum(p.share for p in places.values())
            if total > 1.0 + TOLERANCE:
                found.append(_problem(resource, year, scope, total, list(places.values())))
            named = self.scopes.get((resource, year))
            if scope is None and named:
                found += _unscoped(resource, year, sorted(named), list(places.values()))
        return found


def _share(row: RelationRow) -> float:
    share = row.props.get("share")
    return 0.0 if share is None else float(share)


def _sort_key(item: tuple[GroupKey, object]) -> tuple[str, int, str]:
    (resource, year, scope), _ = item
    return (resource, -1 if year is None else year, scope or "")


def _problem(
    resource: str, year: int | None, scope: str | None, total: float, places: list[Place]
) -> Problem:
    """The problem for one over-full group, placed at its first bundle record."""
    in_bundle = [p for p in places if p.file != "store"] or places
    parts = ", ".join(f"{p.target} {p.share:g}" for p in places)
    stored = sum(1 for p in places if p.file == "store")
    from_store = f"; {stored} of them already in the store" if stored else ""
    scope_text = f"scope {scope!r}" if scope else "no scope"
    when = "no year" if year is None else str(year)
    why = (
        f"SOURCED_FROM shares of {resource} for {when} ({scope_text}) sum to {total:.4g}, "
        f"above 1: {parts}{from_store}; records at {', '.join(p.where for p in in_bundle)}"
    )
    return Problem(in_bundle[0].file, in_bundle[0].where, "share", why, round(total, 6))


def _unscoped(
    resource: str, year: int | None, named: list[str], places: list[Place]
) -> list[Problem]:
    """Problems for the bundle's unscoped shares of a resource-year that has scoped ones."""
    when = "no year" if year is None else str(year)
    scopes = ", ".join(repr(n) for n in named)
    why = (
        f"{resource} has shares for {when} under scope {scopes}; give this share a scope "
        "(the monitor would read an unscoped share as a whole of its own, which could "
        "replace those figures as the headline)"
    )
    return [Problem(p.file, p.where, "scope", why) for p in places if p.file != "store"]
