"""Turn raw records into store rows, or into problems that say exactly what is wrong.

Validation is the schema's (pydantic); this module only maps its errors onto the
file/place/field/value/why shape of a bundle report and splits records into store columns.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from keten.graph.store import EntityRow, RelationRow
from keten.ingest.problems import Problem
from keten.schema import CORE_ENTITY_FIELDS, CORE_RELATION_FIELDS, EntityKind, RelationType
from keten.schema.entities import ENTITY_ADAPTER
from keten.schema.relations import RELATION_ADAPTER, relation_rule_errors

KINDS = ", ".join(EntityKind)
TYPES = ", ".join(RelationType)
KIND_NAMES = frozenset(EntityKind)


def entity_row(data: Any, file: str, where: str) -> EntityRow | list[Problem]:
    """Validate an entity record; the row to store, or every problem with it."""
    if not isinstance(data, dict):
        return [Problem(file, where, "", "an entity must be an object", data)]
    if "kind" not in data:
        return [Problem(file, where, "kind", f"missing; one of {KINDS}")]
    if data["kind"] not in KIND_NAMES:
        return [Problem(file, where, "kind", f"unknown kind; one of {KINDS}", data["kind"])]
    try:
        record = ENTITY_ADAPTER.validate_python(data)
    except ValidationError as exc:
        return problems_of(exc, file, where, skip_first=True)
    return EntityRow(
        record["id"],
        record["kind"],
        record["name"],
        record.get("marking") or "clear",
        properties(record, CORE_ENTITY_FIELDS),
        *timestamps(record),
    )


def relation_row(data: Any, file: str, where: str) -> RelationRow | list[Problem]:
    """Validate a relation record; the row to store, or every problem with it."""
    if not isinstance(data, dict):
        return [Problem(file, where, "", "a relation must be an object", data)]
    try:
        record = RELATION_ADAPTER.validate_python(data)
    except ValidationError as exc:
        return problems_of(exc, file, where, skip_first=False)
    broken = relation_rule_errors(record)
    if broken:
        return [Problem(file, where, f, why, record.get(f)) for f, why in broken]
    return RelationRow(
        record["source"],
        record["type"],
        record["target"],
        record.get("key") or "",
        record.get("marking") or "clear",
        properties(record, CORE_RELATION_FIELDS),
        *timestamps(record),
    )


def properties(record: dict[str, Any], columns: frozenset[str]) -> dict[str, Any]:
    """What goes into the properties document: not a column, not null, not an empty list."""
    props = {k: v for k, v in record.items() if k not in columns}
    if None in props.values() or [] in props.values():
        props = {k: v for k, v in props.items() if v is not None and v != []}
    return props


def problems_of(exc: ValidationError, file: str, where: str, skip_first: bool) -> list[Problem]:
    """One problem per pydantic error; `skip_first` drops the union tag from the field path."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = error["loc"][1:] if skip_first else error["loc"]
        field = ".".join(str(part) for part in loc)
        value = error.get("input") if loc else None
        why = error["msg"]
        if field == "type" and error["type"] == "literal_error":
            why = f"unknown relation type; one of {TYPES}"
        problems.append(Problem(file, where, field, why, value))
    return problems


def timestamps(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """created_at and updated_at as ISO 8601 strings (the store's format), when given."""
    if "created_at" not in record and "updated_at" not in record:
        return None, None
    return iso(record.get("created_at")), iso(record.get("updated_at"))


def iso(value: Any) -> str | None:
    """A timestamp as an ISO 8601 string."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
