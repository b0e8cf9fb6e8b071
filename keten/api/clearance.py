"""Writes under a clearance: nobody writes what they could not read, nor learns what exists.

Reads are filtered by the store (every query takes the caller's clearance). A write is
checked here before anything is written, and only against the write itself, never against
the store: a record may not be marked above the key's clearance, and no identity it gives
or refers to (an id, a relation key, an endpoint, a cited source) may lie in the namespace
of a marking above it. Records marked above green carry their marking in their identity
(`keten.schema.markings`), and every key that writes is cleared for green at least, so a
write can never collide with a record its key may not see: the answer to a write is the
same whether or not such a record exists.

>>> checks = identity_problems({"id": "actor:x@red", "kind": "Actor", "name": "X"}, Tlp.AMBER)
>>> [(field, why.split(":")[0]) for field, why in checks]
[('id', 'in the namespace of red')]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from keten.api.bodies import refuse_huge_integers
from keten.api.problems import ApiProblem
from keten.graph.rows import references
from keten.ingest.readers import Item, RawRecord, read_bundle
from keten.schema.markings import WRITER_CLEARANCE, Tlp, namespace_of

MARKINGS = frozenset(m.value for m in Tlp)
IDENTITY_FIELDS = {"entity": ("id",), "relation": ("source", "target", "key")}


def check_bundle_write(clearance: Tlp, bundle: Any, name: str) -> None:
    """Raise a 403 problem when a key of `clearance` may not write `bundle`.

    Decided by the bundle alone, so that the answer says nothing about the store.
    """
    refuse_huge_integers(bundle, name)
    check_items_write(clearance, read_bundle(bundle, name))


def check_items_write(clearance: Tlp, items: Iterable[Item]) -> None:
    """Raise a 403 problem when a record among `items` lies above `clearance` (a key's
    bundle as its reader gives it: keten's own, or a STIX bundle's records)."""
    if clearance.level < WRITER_CLEARANCE.level:
        detail = f"writing needs clearance {WRITER_CLEARANCE.value} or above"
        raise ApiProblem(403, "above-clearance", detail)
    if clearance == Tlp.RED:
        return
    forbidden = [
        {"file": item.file, "where": item.where, "field": field, "why": why}
        for item in items
        if isinstance(item, RawRecord) and isinstance(item.data, dict)
        for field, why in record_problems(item.data, item.side, clearance)
    ]
    if forbidden:
        detail = "the key's clearance does not cover this write"
        raise ApiProblem(403, "above-clearance", detail, forbidden)


def record_problems(record: dict[str, Any], side: str, clearance: Tlp) -> list[tuple[str, str]]:
    """(field, why) for each part of one record above `clearance`."""
    found = []
    marking = record.get("marking")
    if isinstance(marking, str) and marking in MARKINGS and not clearance.allows(marking):
        found.append(("marking", f"marked {marking}, above the key's clearance {clearance}"))
    return found + identity_problems(record, clearance, IDENTITY_FIELDS[side])


def identity_problems(
    record: dict[str, Any], clearance: Tlp, fields: tuple[str, ...] = ("id",)
) -> list[tuple[str, str]]:
    """(field, why) for each identity in `record` that lies above `clearance`."""
    found = []
    for field in fields:
        if above(record.get(field), clearance):
            found.append((field, above_why(str(record[field]), clearance)))
    found += [
        (field, above_why(ref, clearance))
        for field, ref in references(record)
        if above(ref, clearance)
    ]
    return found


def above(identity: Any, clearance: Tlp) -> bool:
    """True when `identity` is a string in the namespace of a marking above `clearance`."""
    namespace = namespace_of(identity) if isinstance(identity, str) else None
    return namespace is not None and not clearance.allows(namespace)


def above_why(identity: str, clearance: Tlp) -> str:
    """Why an identity may not be written by a key of `clearance`."""
    namespace = namespace_of(identity)
    assert namespace is not None
    return f"in the namespace of {namespace}: {identity!r} is above the key's clearance {clearance}"
