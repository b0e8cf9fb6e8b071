"""Turn raw records into store rows, or into problems that say exactly what is wrong.

Validation is the schema's (pydantic); this module only maps its errors onto the
file/place/field/value/why shape of a bundle report and splits records into store columns.
A batch that names nothing unusual (`simple`) is first put to the msgspec types derived from
the schema (`keten.ingest.plain`), which only ever say yes or "ask pydantic"; other batches
are validated in one pydantic call, and only a batch that holds a bad record is gone through
record by record to name every problem.

What a record says is what the write does (see `keten.graph.merge`): a field given as null
(or an empty list) removes that field, a field left out keeps what is stored, and a record
without a marking keeps the stored one, or takes the one its id's namespace implies.
Values that no export could carry are refused: text with control characters other than tab
and line breaks or with lone surrogates, integers beyond signed 64 bits (Neo4j's integers),
and NaN or infinite numbers (JSON has no word for them; kept, they would become nulls and
remove their field).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError

from keten.graph.rows import audit_level, format_time, namespace_level, references
from keten.graph.store import KEEP, EntityRow, RelationRow
from keten.ingest.plain import ENTITIES, RELATIONS, PlainCheck
from keten.ingest.problems import Problem
from keten.ingest.readers import RawRecord
from keten.schema import EntityKind, RelationType
from keten.schema.entities import ENTITY_ADAPTER, AnyEntity
from keten.schema.markings import implied_marking, marking_problem
from keten.schema.relation_record import RELATION_ADAPTER, Relation
from keten.schema.relations import relation_rule_errors, relation_rules_hold

KINDS = ", ".join(EntityKind)
TYPES = ", ".join(RelationType)
KIND_NAMES = frozenset(EntityKind)
R = TypeVar("R", EntityRow, RelationRow)
ENTITY_BATCH: TypeAdapter[list[Any]] = TypeAdapter(list[AnyEntity])
RELATION_BATCH: TypeAdapter[list[Any]] = TypeAdapter(list[Relation])


Checked = tuple[list[RawRecord], list[R], list[Problem]]
"""Records that passed, their rows (aligned), and the problems of those that did not."""

ESCAPED_CONTROL = re.compile(rb"\\u00[01][0-9a-f]|\\[bf]")
"""Control characters as orjson escapes them (tab, CR and LF have other escapes)."""
EMPTY_LIST = re.compile(rb"\[\]")
NULL = re.compile(rb"null")
"""An empty list and a null in a batch's JSON (found by `re` in about half the time of
`in`, whose search slows down on a needle whose first byte is frequent)."""
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
"""Characters refused in text: XML (GraphML, STIX) cannot carry them, nor UTF-8 surrogates."""


def entity_rows(batch: list[RawRecord], consume: bool = False) -> Checked[EntityRow]:
    """Validate a batch of entity records (`consume`: the records may become the rows'
    properties, as nothing else holds them; else they are copied)."""
    data = [item.data for item in batch]
    text = clean(data)
    if text is not None:
        if quick(ENTITIES, text, data, ENTITY_UNUSUAL) is not None:
            return batch, [entity_of(r) for r in owned(data, consume)], []
        try:
            records = ENTITY_BATCH.validate_python(data)
        except ValidationError:
            pass
        else:
            if simple(text):
                return batch, [entity_of(r) for r in records], []
            rows = [to_entity_row(record) for record in records]
            if plain(text) or not any(namespace_problems(r) for r in unusual(rows)):
                return batch, rows, []
    return split(batch, [entity_row(i.data, i.file, i.where) for i in batch])


def relation_rows(batch: list[RawRecord], consume: bool = False) -> Checked[RelationRow]:
    """Validate a batch of relation records (`consume` as for `entity_rows`)."""
    data = [item.data for item in batch]
    text = clean(data)
    if text is not None:
        if plain_relations(text, data):
            return batch, [relation_of(r) for r in owned(data, consume)], []
        try:
            records = RELATION_BATCH.validate_python(data)
        except ValidationError:
            pass
        else:
            if not any(relation_rule_errors(record) for record in records):
                if simple(text) and b'"key"' not in text:
                    return batch, [relation_of(r) for r in records], []
                rows = [to_relation_row(record) for record in records]
                if plain(text) or not any(namespace_problems(r) for r in unusual(rows)):
                    return batch, rows, []
    return split(batch, [relation_row(i.data, i.file, i.where) for i in batch])


def owned(data: list[dict[str, Any]], consume: bool) -> list[dict[str, Any]]:
    """The records themselves when they may be consumed, else copies (a caller's bundle,
    such as an API request's, is left as it was)."""
    return data if consume else [r.copy() for r in data]


def plain_relations(text: bytes, data: list[Any]) -> bool:
    """True when a relation batch is `simple`, gives no keys and passes the derived types
    and the relation rules as given: its rows are then its records' columns and the rest."""
    given = quick(RELATIONS, text, data, RELATION_UNUSUAL)
    return given is not None and relation_rules_hold(data, given)


ENTITY_UNUSUAL = frozenset({"marking", "created_at", "updated_at"})
"""Top-level fields that take a record off the quick way: a marking, times."""
RELATION_UNUSUAL = ENTITY_UNUSUAL | {"key"}
"""The same for relations, and a key."""


def quick(
    check: PlainCheck, text: bytes, data: list[Any], unusual: frozenset[str]
) -> set[str] | None:
    """The fields a batch's records give, when the batch (its JSON from `clean`) names no
    namespace, gives no empty list and no `unusual` field, and passes the derived check;
    else None. What `simple` says, with the fields looked up in the set the check gives
    rather than searched for in the text."""
    if b"@" in text or EMPTY_LIST.search(text):
        return None
    given = check.fields_of(data)
    return given if given is not None and given.isdisjoint(unusual) else None


def entity_of(record: dict[str, Any]) -> EntityRow:
    """The row of a validated entity of a `simple` batch: its columns and the rest as given
    (consumes the record)."""
    return EntityRow(record.pop("id"), record.pop("kind"), record.pop("name"), KEEP, record)


def relation_of(record: dict[str, Any]) -> RelationRow:
    """The row of a validated relation of a `simple` batch without keys (consumes it)."""
    source, type_, target = record.pop("source"), record.pop("type"), record.pop("target")
    return RelationRow(source, type_, target, "", KEEP, record)


PLAIN_MARKINGS = frozenset({KEEP, "clear", "green"})


def plain(text: bytes) -> bool:
    """True when a batch's JSON (from `clean`) names no namespace and gives no marking, so
    that no namespace rule can apply to any of its records (the case of almost every bulk
    load: one search of the text instead of a look at every record's references)."""
    return b"@" not in text and b'"marking"' not in text


def unusual(rows: list[R]) -> list[R]:
    """The rows whose marking, identity or references could break a namespace rule (most
    cannot: they are plain and name no namespaced record)."""
    return [
        r
        for r in rows
        if r.marking not in PLAIN_MARKINGS
        or "@" in (r.id if isinstance(r, EntityRow) else r.key)
        or any("@" in ref for _, ref in references(r.props))
    ]


def namespace_problems(row: EntityRow | RelationRow) -> list[tuple[str, str, Any]]:
    """(field, why, value) for each namespace rule a row breaks.

    Its marking must fit its identity (`marking_problem`), and it may name only records of
    its own namespace or below: whoever may read it may read what it cites, so that a change
    to references a reader cannot see never shows as a change to a record it can.
    """
    if isinstance(row, EntityRow):
        identity, level = row.id, namespace_level(row.id)
    else:
        identity, level = row.key, audit_level(row.ref, namespace_level(row.key))
    found: list[tuple[str, str, Any]] = []
    why = marking_problem(identity, row.marking or None)
    if why:
        found.append(("marking", why, row.marking))
    for field, ref in references(row.props):
        if namespace_level(ref) > level:
            why = (
                f"names {ref!r}, in a namespace above this record's: a record may name only "
                "what its readers may see (cite it from a record of that marking, or with a "
                "CITES relation in that namespace)"
            )
            found.append((field, why, ref))
    return found


def simple(text: bytes) -> bool:
    """True when a batch (as `clean` wrote it) is `plain` and no record gives times or an
    empty list: each record's row is then its columns and the rest, as given (what
    `to_entity_row` and `to_relation_row` would make, with fewer steps)."""
    return plain(text) and not EMPTY_LIST.search(text) and b'_at"' not in text


def clean(data: Any) -> bytes | None:
    """`data` as JSON when it holds no oversized integer, no refused character and no NaN or
    infinity, else None (one orjson call over a whole batch costs a fraction of walking its
    values in Python; orjson writes NaN and infinity as null, so only a batch with a null is
    walked). Integers beyond 53 bits make orjson refuse the batch (`OPT_STRICT_INTEGER`), so
    that the record-by-record way judges them against the signed 64-bit range both stores
    keep (orjson alone writes unsigned 64-bit integers too)."""
    try:
        text = orjson.dumps(data, option=orjson.OPT_STRICT_INTEGER)
    except TypeError:
        return None
    if b"\\" in text and ESCAPED_CONTROL.search(text) is not None:  # every escape has one
        return None
    return text if not NULL.search(text) or finite(data) else None


def finite(data: Any) -> bool:
    """True when no number in `data` is NaN or infinite."""
    if isinstance(data, float):
        return math.isfinite(data)
    if isinstance(data, dict):
        return all(finite(value) for value in data.values())
    if isinstance(data, list):
        return all(finite(value) for value in data)
    return True


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
    kind = data["kind"]
    if not isinstance(kind, str) or kind not in KIND_NAMES:
        return [Problem(file, where, "kind", f"unknown kind; one of {KINDS}", kind)]
    refused = text_problems(data, file, where)
    if refused:
        return refused
    try:
        record = ENTITY_ADAPTER.validate_python(data)
    except ValidationError as exc:
        return problems_of(exc, file, where, skip_first=True)
    row = to_entity_row(record)
    broken = namespace_problems(row)
    return [Problem(file, where, f, why, v) for f, why, v in broken] if broken else row


def to_entity_row(record: dict[str, Any]) -> EntityRow:
    """Split a freshly validated entity into store columns and properties (consumes it)."""
    entity_id, kind, name = record.pop("id"), record.pop("kind"), record.pop("name")
    marking = given_marking(entity_id, record)
    created, updated = timestamps(record)
    return EntityRow(entity_id, kind, name, marking, properties(record), created, updated)


def given_marking(identity: str, record: dict[str, Any]) -> str:
    """The marking a record gives (popped): KEEP when it gives none and its identity's
    namespace implies none; a null marking is the namespace's, or clear."""
    if "marking" not in record:
        return KEEP if "@" not in identity else implied_marking(identity) or KEEP
    marking: str | None = record.pop("marking")
    return marking or implied_marking(identity) or "clear"


def text_problems(data: Any, file: str, where: str, path: str = "") -> list[Problem]:
    """One problem per value holding a refused character or an integer beyond 64 bits."""
    if isinstance(data, dict):
        found = []
        for key, value in data.items():
            inner = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and CONTROL.search(key):
                found.append(Problem(file, where, inner, CONTROL_WHY))
            found += text_problems(value, file, where, inner)
        return found
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in text_problems(v, file, where, f"{path}.{i}")]
    if isinstance(data, str) and CONTROL.search(data):
        return [Problem(file, where, path, CONTROL_WHY, data)]
    if isinstance(data, int) and not -(2**63) <= data < 2**63:
        return [Problem(file, where, path, OVERSIZED_WHY)]
    if isinstance(data, float) and not math.isfinite(data):
        return [Problem(file, where, path, NON_FINITE_WHY, repr(data))]
    return []


CONTROL_WHY = "holds a control character or lone surrogate that no export format can carry"
OVERSIZED_WHY = "holds an integer outside the signed 64-bit range both stores keep"
NON_FINITE_WHY = "holds NaN or an infinite number, which no JSON export can carry"


def relation_row(data: Any, file: str, where: str) -> RelationRow | list[Problem]:
    """Validate a relation record; the row to store, or every problem with it."""
    if not isinstance(data, dict):
        return [Problem(file, where, "", "a relation must be an object", data)]
    refused = text_problems(data, file, where)
    if refused:
        return refused
    try:
        record = RELATION_ADAPTER.validate_python(data)
    except ValidationError as exc:
        return problems_of(exc, file, where, skip_first=False)
    rules = relation_rule_errors(record)
    if rules:
        return [Problem(file, where, f, why, record.get(f)) for f, why in rules]
    row = to_relation_row(record)
    broken = namespace_problems(row)
    return [Problem(file, where, f, why, v) for f, why, v in broken] if broken else row


def to_relation_row(record: dict[str, Any]) -> RelationRow:
    """Split a freshly validated relation into store columns and properties (consumes it)."""
    source, rel_type, target = record.pop("source"), record.pop("type"), record.pop("target")
    key = record.pop("key", None) or ""
    marking = given_marking(key, record)
    created, updated = timestamps(record)
    return RelationRow(source, rel_type, target, key, marking, properties(record), created, updated)


def properties(rest: dict[str, Any]) -> dict[str, Any]:
    """The remaining fields as properties; an empty list removes its field like a null."""
    if [] in rest.values():
        return {k: None if v == [] else v for k, v in rest.items()}
    return rest


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
    """Take created_at and updated_at out of a record, in the one format stores keep."""
    if "created_at" not in record and "updated_at" not in record:
        return None, None
    return iso(record.pop("created_at", None)), iso(record.pop("updated_at", None))


def iso(value: datetime | None) -> str | None:
    """A validated time in the store format (`2026-12-02T04:09:53.123Z`: UTC, milliseconds;
    a time without a zone counts as UTC), so that a restore keeps times as an export wrote
    them and stores compare times as text."""
    return format_time(value) if value is not None else None
