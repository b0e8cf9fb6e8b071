"""Turn raw records into store rows, or into problems that say exactly what is wrong.

Validation is the schema's (pydantic); this module only maps its errors onto the
file/place/field/value/why shape of a bundle report and splits records into store columns.
Batches are validated in one pydantic call (the fast path); only a batch that holds a bad
record is gone through record by record to name every problem.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError

from keten.graph.store import EntityRow, RelationRow
from keten.ingest.problems import Problem
from keten.ingest.readers import RawRecord
from keten.schema import EntityKind, RelationType
from keten.schema.entities import ENTITY_ADAPTER, AnyEntity
from keten.schema.relations import RELATION_ADAPTER, Relation, relation_rule_errors

KINDS = ", ".join(EntityKind)
TYPES = ", ".join(RelationType)
KIND_NAMES = frozenset(EntityKind)
R = TypeVar("R", EntityRow, RelationRow)
ENTITY_BATCH: TypeAdapter[list[Any]] = TypeAdapter(list[AnyEntity])
RELATION_BATCH: TypeAdapter[list[Any]] = TypeAdapter(list[Relation])


Checked = tuple[list[RawRecord], list[R], list[Problem]]
"""Records that passed, their rows (aligned), and the problems of those that did not."""


def entity_rows(batch: list[RawRecord]) -> Checked[EntityRow]:
    """Validate a batch of entity records."""
    try:
        records = ENTITY_BATCH.validate_python([item.data for item in batch])
    except ValidationError:
        return split(batch, [entity_row(i.data, i.file, i.where) for i in batch])
    rows = [to_entity_row(record) for record in records]
    if not storable([row.props for row in rows]):
        return split(batch, [entity_row(i.data, i.file, i.where) for i in batch])
    return batch, rows, []


def relation_rows(batch: list[RawRecord]) -> Checked[RelationRow]:
    """Validate a batch of relation records."""
    try:
        records = RELATION_BATCH.validate_python([item.data for item in batch])
    except ValidationError:
        return split(batch, [relation_row(i.data, i.file, i.where) for i in batch])
    if any(relation_rule_errors(record) for record in records):
        return split(batch, [relation_row(i.data, i.file, i.where) for i in batch])
    rows = [to_relation_row(record) for record in records]
    if not storable([row.props for row in rows]):
        return split(batch, [relation_row(i.data, i.file, i.where) for i in batch])
    return batch, rows, []


def split(batch: list[RawRecord], results: list[R | list[Problem]]) -> Checked[R]:
    """Separate the records that passed from the problems of those that did not."""
    passed: list[RawRecord] = []
    rows: list[R] = []
    problems: list[Problem] = []
    for item, result in zip(batch, results, strict=True):
        if isinstance(result, list):
            problems.extend(result)
        else:
            passed.append(item)
            rows.append(result)
    return passed, rows, problems


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
    row = to_entity_row(record)
    return oversized_problems(row.props, file, where) or row


def to_entity_row(record: dict[str, Any]) -> EntityRow:
    """Split a freshly validated entity into store columns and properties (consumes it)."""
    entity_id, kind, name = record.pop("id"), record.pop("kind"), record.pop("name")
    marking = record.pop("marking", None) or "clear"
    created, updated = timestamps(record)
    return EntityRow(entity_id, kind, name, marking, properties(record), created, updated)


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
    row = to_relation_row(record)
    return oversized_problems(row.props, file, where) or row


def to_relation_row(record: dict[str, Any]) -> RelationRow:
    """Split a freshly validated relation into store columns and properties (consumes it)."""
    source, rel_type, target = record.pop("source"), record.pop("type"), record.pop("target")
    key = record.pop("key", None) or ""
    marking = record.pop("marking", None) or "clear"
    created, updated = timestamps(record)
    return RelationRow(source, rel_type, target, key, marking, properties(record), created, updated)


def properties(rest: dict[str, Any]) -> dict[str, Any]:
    """What goes into the properties document: the rest, without nulls and empty lists."""
    if None in rest.values() or [] in rest.values():
        return {k: v for k, v in rest.items() if v is not None and v != []}
    return rest


def storable(value: Any) -> bool:
    """True when the store can write `value`: orjson refuses integers beyond 64 bits.

    One orjson call over a whole batch costs a fraction of walking the values in Python.
    """
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


def oversized_problems(props: dict[str, Any], file: str, where: str) -> list[Problem]:
    """One problem per property holding an integer too large to store."""
    why = "holds an integer outside the 64-bit range the store keeps"
    if storable(props):
        return []
    return [Problem(file, where, k, why) for k, v in props.items() if not storable(v)]


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
    """Take created_at and updated_at out of a record, as ISO 8601 strings."""
    if "created_at" not in record and "updated_at" not in record:
        return None, None
    return iso(record.pop("created_at", None)), iso(record.pop("updated_at", None))


def iso(value: Any) -> str | None:
    """A timestamp as an ISO 8601 string."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
