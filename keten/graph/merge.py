"""How a write meets what is stored: merge, replace or restore, one rule for every store.

Stores fetch the stored rows of a batch and hand both to `merge_entities` or
`merge_relations`; what comes back says which rows to insert, which to update (with the
fields that changed) and which identities were written twice in one transaction with
different values. Both stores call these same functions, so they cannot disagree on what
a write means.

A row conflicts when it would change what an earlier row of the same identity in the same
transaction made of the record: created, changed, or left as it was. So a write that is
accepted makes every row in it true. A record the transaction created or changed is
recognised by its `updated_at`, since every write transaction has a stamp of its own, later
than any before it (see `rows.next_stamp`). The others leave no stamp: a row that changed
nothing, and any row of a restore (which keeps the times it brings). The writer keeps the
hashes of their identities across its batches in `seen` (a collision can only refuse a
write, never let a conflict through).

>>> stored = {"vp:gas": EntityRow("vp:gas", "VitalProcess", "Gas", "clear",
...           {"sector": "Energy"}, "t0", "t0")}
>>> patch = EntityRow("vp:gas", "VitalProcess", "Gas supply", KEEP, {"note": None})
>>> result = merge_entities([patch], stored, WriteMode.MERGE, "t1")
>>> [(after.name, after.props, fields) for _, after, fields in result.updated]
[('Gas supply', {'sector': 'Energy'}, ['name'])]
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson

from keten.graph.store import (
    KEEP,
    EntityRow,
    KindChangeError,
    RelationRow,
    WriteMode,
)

Row = TypeVar("Row", EntityRow, RelationRow)
Key = TypeVar("Key", bound=Hashable)


@dataclass(slots=True)
class Merged(Generic[Row]):
    """What a batch does to the store."""

    created: list[Row] = field(default_factory=list)
    updated: list[tuple[Row, Row, list[str]]] = field(default_factory=list)
    """(stored row, row to store, names of the fields that changed)."""
    unchanged: int = 0
    conflicts: list[tuple[Row, list[str]]] = field(default_factory=list)
    """Rows that disagree with a row of the same identity written earlier in the transaction."""


def same(a: Any, b: Any) -> bool:
    """Equal as stored: 1 and 1.0, or True and 1, are different values."""
    if a is b:
        return True
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        b, option=orjson.OPT_SORT_KEYS
    )


def apply_props(stored: dict[str, Any], given: dict[str, Any], mode: WriteMode) -> dict[str, Any]:
    """The properties after a write: merged (None removes) or replaced."""
    merged = {**stored, **given} if mode is WriteMode.MERGE else dict(given)
    return {k: v for k, v in merged.items() if v is not None}


def changed_fields(before: Row, after: Row, columns: tuple[str, ...]) -> list[str]:
    """Names of the columns and properties whose values differ, sorted."""
    fields = [c for c in columns if getattr(before, c) != getattr(after, c)]
    props_before, props_after = before.props, after.props
    for name in props_before.keys() | props_after.keys():
        if (
            name not in props_before
            or name not in props_after
            or not same(props_before[name], props_after[name])
        ):
            fields.append(name)
    return sorted(fields)


def fresh(row: Row, mode: WriteMode, stamp: str) -> Row:
    """A row for an identity not stored yet: no None properties, a marking, the stamp.

    A restore keeps the times a row brings and stamps only the ones it lacks: `created_at`
    defaults to `updated_at`, and `updated_at` to the stamp.
    """
    row.props = {k: v for k, v in row.props.items() if v is not None}
    if row.marking == KEEP:
        row.marking = "clear"
    if mode is WriteMode.RESTORE:
        row.created_at = row.created_at or row.updated_at or stamp
        row.updated_at = row.updated_at or stamp
    else:
        row.created_at = row.updated_at = stamp
    return row


def merge_rows(
    rows: list[Row],
    stored: dict[Key, Row],
    key: Callable[[Row], Key],
    rebuild: Callable[[Row, Row, WriteMode], Row],
    columns: tuple[str, ...],
    mode: WriteMode,
    stamp: str,
    seen: set[int] | None = None,
) -> Merged[Row]:
    """Apply a batch, in order, to the stored rows of its identities (see module doc).

    `seen`, kept by the writer across the batches of one transaction, holds the hashes of
    identities written earlier that left no stamp; this adds the batch's own. Without it,
    only rows that stamped their record are recognised as written earlier.
    """
    result: Merged[Row] = Merged()
    current = dict(stored)
    restore = mode is WriteMode.RESTORE
    for row in rows:
        identity = key(row)
        before = current.get(identity)
        if before is None:
            after = fresh(row, mode, stamp)
            result.created.append(after)
            current[identity] = after
            if seen is not None and restore:
                seen.add(hash(identity))
            continue
        after = rebuild(before, row, mode)
        fields = changed_fields(before, after, columns)
        written = before.updated_at == stamp or (seen is not None and hash(identity) in seen)
        if not fields:
            result.unchanged += 1
            if seen is not None:
                seen.add(hash(identity))
        elif written:
            result.conflicts.append((row, fields))
        else:
            if not restore or not row.updated_at:
                after.updated_at = stamp
            result.updated.append((before, after, fields))
            current[identity] = after
            if seen is not None and restore:
                seen.add(hash(identity))
    return result


def rebuild_entity(before: EntityRow, row: EntityRow, mode: WriteMode) -> EntityRow:
    """The stored entity with a written row applied."""
    if row.kind != before.kind:
        raise KindChangeError(
            f"{row.id} is a {before.kind}; a record cannot change its kind to {row.kind}"
        )
    marking = row.marking or (before.marking if mode is WriteMode.MERGE else "clear")
    props = apply_props(before.props, row.props, mode)
    created = row.created_at if mode is WriteMode.RESTORE and row.created_at else before.created_at
    updated = row.updated_at if mode is WriteMode.RESTORE and row.updated_at else before.updated_at
    return EntityRow(row.id, row.kind, row.name, marking, props, created, updated)


def rebuild_relation(before: RelationRow, row: RelationRow, mode: WriteMode) -> RelationRow:
    """The stored relation with a written row applied."""
    marking = row.marking or (before.marking if mode is WriteMode.MERGE else "clear")
    props = apply_props(before.props, row.props, mode)
    created = row.created_at if mode is WriteMode.RESTORE and row.created_at else before.created_at
    updated = row.updated_at if mode is WriteMode.RESTORE and row.updated_at else before.updated_at
    return RelationRow(row.source, row.type, row.target, row.key, marking, props, created, updated)


def merge_entities(
    rows: list[EntityRow],
    stored: dict[str, EntityRow],
    mode: WriteMode,
    stamp: str,
    seen: set[int] | None = None,
) -> Merged[EntityRow]:
    """Apply entity rows to the stored entities of their ids."""
    columns = ("name", "marking")
    return merge_rows(rows, stored, entity_key, rebuild_entity, columns, mode, stamp, seen)


def merge_relations(
    rows: list[RelationRow],
    stored: dict[tuple[str, str, str, str], RelationRow],
    mode: WriteMode,
    stamp: str,
    seen: set[int] | None = None,
) -> Merged[RelationRow]:
    """Apply relation rows to the stored relations of their identities."""
    columns = ("marking",)
    return merge_rows(rows, stored, relation_key, rebuild_relation, columns, mode, stamp, seen)


def entity_key(row: EntityRow) -> str:
    """An entity's identity."""
    return row.id


def relation_key(row: RelationRow) -> tuple[str, str, str, str]:
    """A relation's identity."""
    return row.ref
