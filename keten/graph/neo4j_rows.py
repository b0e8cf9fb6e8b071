"""Rows as native Neo4j property maps and back: pure functions, no server needed.

Every scalar and every list of scalars of one type is a native property under its own name,
so `MATCH (p:VitalProcess {sector: 'Energy'})` works in Neo4j Browser. Neo4j cannot hold
nested values (maps, lists of maps, lists mixing types or holding nulls): such a property
`impact` is kept as canonical JSON in `impact_json`, and the node lists `impact` in
`keten_json`, so reading it back is exact (ints stay ints, floats floats).

Internal properties start with `keten_` (`keten_level`, the marking's rank for clearance
tests; `keten_search`, the lower-cased text search reads; `keten_load`, the bulk load that
created the record). A user property that would collide with one of those, with a column
(`id`, `name`, ...) or with the `_json` name of a nested property is kept, exactly, in the
JSON of `keten_escaped_json`; ordinary data never needs it.

>>> stored = entity_map(EntityRow("vp:gas", "VitalProcess", "Gas", "green",
...     {"sector": "Energy", "impact": {"social": 2}, "level": 3}, "t0", "t1"))
>>> stored["sector"], stored["impact_json"], stored["keten_json"], stored["keten_level"]
('Energy', '{"social":2}', ['impact'], 1)
>>> entity_from_map(stored).props == {"sector": "Energy", "impact": {"social": 2}, "level": 3}
True
"""

from __future__ import annotations

from typing import Any

import orjson

from keten.graph.rows import LEVELS, dump_props, search_text
from keten.graph.store import EntityRow, RelationRow

INTERNAL = "keten_"
LEVEL = "keten_level"
SEARCH = "keten_search"
NESTED = "keten_json"
ESCAPED = "keten_escaped_json"
LOAD = "keten_load"
REPLACED = "keten_replaced_at"
JSON_SUFFIX = "_json"
SCALARS = frozenset({str, int, float, bool})
RESERVED = frozenset(
    {"id", "kind", "name", "marking", "created_at", "updated_at", "key", "source", "type", "target"}
)
"""Column names: a property of that name (only possible outside validation) is escaped."""

EntityParams = tuple[Any, ...]
"""(id, kind, name, marking, props, created_at, updated_at, search, encoded props)."""
RelationParams = tuple[Any, ...]
"""(source, type, target, key, marking, props, created_at, updated_at, encoded props)."""


def is_native(value: Any) -> bool:
    """True when Neo4j can hold `value` as a property: a scalar or a list of one scalar type.

    >>> is_native([1, 2]), is_native([1, 2.5]), is_native([{"a": 1}]), is_native([])
    (True, False, False, True)
    """
    kind = type(value)
    if kind in SCALARS:
        return True
    if kind is not list:
        return False
    if not value:
        return True
    first = type(value[0])
    return first in SCALARS and all(type(item) is first for item in value)


def encode_props(props: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a row's properties (None values must be gone already)."""
    nested = [k for k, v in props.items() if not k.startswith(INTERNAL) and not is_native(v)]
    taken = {k + JSON_SUFFIX for k in nested}
    out: dict[str, Any] = {}
    escaped: dict[str, Any] = {}
    kept_nested: list[str] = []
    for name, value in props.items():
        if name.startswith(INTERNAL) or name in taken or name in RESERVED:
            escaped[name] = value
        elif is_native(value):
            out[name] = value
        else:
            out[name + JSON_SUFFIX] = dump_props(value) if isinstance(value, dict) else _dump(value)
            kept_nested.append(name)
    if kept_nested:
        out[NESTED] = sorted(kept_nested)
    if escaped:
        out[ESCAPED] = dump_props(escaped)
    return out


def _dump(value: Any) -> str:
    """Canonical JSON of a nested value (maps inside it with sorted keys)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def decode_props(stored: dict[str, Any], skip: frozenset[str]) -> dict[str, Any]:
    """A row's properties from a stored property map; `skip` names the map's columns."""
    nested = stored.get(NESTED) or ()
    encoded = {name + JSON_SUFFIX for name in nested}
    props = {
        k: v
        for k, v in stored.items()
        if k not in skip and k not in encoded and not k.startswith(INTERNAL)
    }
    for name in nested:
        props[name] = orjson.loads(stored[name + JSON_SUFFIX])
    escaped = stored.get(ESCAPED)
    if escaped:
        props.update(orjson.loads(escaped))
    return props


ENTITY_COLUMNS = frozenset({"id", "kind", "name", "marking", "created_at", "updated_at"})
RELATION_COLUMNS = frozenset(
    {"source", "type", "target", "key", "marking", "created_at", "updated_at"}
)


def entity_map(
    row: EntityRow, search: str | None = None, encoded: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The whole property map of an entity node (a merged row: marking and times set).

    `search` and `encoded` are what `entity_params` computed for the row, when it did.
    """
    stored = {
        "id": row.id,
        "kind": row.kind,
        "name": row.name,
        "marking": row.marking,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        LEVEL: LEVELS[row.marking],
        SEARCH: search_text(row.name, row.props) if search is None else search,
    }
    stored.update(encode_props(row.props) if encoded is None else encoded)
    return stored


def relation_map(row: RelationRow, encoded: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole property map of a relationship (its ends and type are the graph's)."""
    stored = {
        "key": row.key,
        "marking": row.marking,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        LEVEL: LEVELS[row.marking],
    }
    stored.update(encode_props(row.props) if encoded is None else encoded)
    return stored


def entity_from_map(stored: dict[str, Any]) -> EntityRow:
    """An EntityRow from a node's (or an entity version's) property map."""
    return EntityRow(
        stored["id"],
        stored["kind"],
        stored["name"],
        stored["marking"],
        decode_props(stored, ENTITY_COLUMNS),
        stored["created_at"],
        stored["updated_at"],
    )


def relation_from_map(source: str, type_: str, target: str, stored: dict[str, Any]) -> RelationRow:
    """A RelationRow from a relationship's property map and its ends."""
    return RelationRow(
        source,
        type_,
        target,
        stored["key"],
        stored["marking"],
        decode_props(stored, RELATION_COLUMNS),
        stored["created_at"],
        stored["updated_at"],
    )


def level_of(marking: str) -> int:
    """The rank of a TLP marking (KEEP counts as clear); an unknown one is refused by name."""
    level = LEVELS.get(marking or "clear")
    if level is None:
        raise ValueError(f"unknown marking {marking!r}; expected one of {', '.join(LEVELS)}")
    return level


def kept(props: dict[str, Any]) -> dict[str, Any]:
    """The properties a row sets (those given as None remove, and are not stored)."""
    if None not in props.values():
        return props
    return {k: v for k, v in props.items() if v is not None}


def entity_params(rows: list[EntityRow]) -> list[EntityParams]:
    """Rows as plain tuples with their encoding done: pure, so that the loading pipeline's
    checker process can run it and leave the writing process only the writing."""
    out = []
    for r in rows:
        level_of(r.marking)
        props = kept(r.props)
        fields = (r.id, r.kind, r.name, r.marking, r.props, r.created_at, r.updated_at)
        out.append((*fields, search_text(r.name, props), encode_props(props)))
    return out


def relation_params(rows: list[RelationRow]) -> list[RelationParams]:
    """Relation rows as plain tuples with their encoding done (see `entity_params`)."""
    out = []
    for r in rows:
        level_of(r.marking)
        fields = (r.source, r.type, r.target, r.key, r.marking, r.props, r.created_at)
        out.append((*fields, r.updated_at, encode_props(kept(r.props))))
    return out


def entity_of_params(p: EntityParams) -> EntityRow:
    """The row an `entity_params` tuple was made from."""
    return EntityRow(p[0], p[1], p[2], p[3], p[4], p[5], p[6])


def relation_of_params(p: RelationParams) -> RelationRow:
    """The row a `relation_params` tuple was made from."""
    return RelationRow(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7])
