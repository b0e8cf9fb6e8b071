"""Every Cypher statement `Neo4jStore` sends, built by pure functions so that it can be read
and checked (`tests/graph/test_cypher_lint.py` runs each one through Neo4j's own linter).

Labels and relationship types cannot be query parameters in Cypher 5, so they are formatted
into the text; they come only from the schema's whitelists (`EntityKind`, `RelationType`),
checked by `label` and `relationship_type` before any formatting. Everything else a user
supplies travels as a parameter.

Storage layout: an entity is `(:Entity:<Kind> {id, kind, name, marking, level, props,
search, created_at, updated_at})` where `props` is the canonical JSON of the remaining
properties and `level` the marking's rank (so `level <= $level` is the clearance test). A
relation is `[:<TYPE> {key, marking, level, props, created_at, updated_at}]` plus the few
properties analysts filter on (`FLAT_RELATION_PROPS`) copied out of `props` as plain values.
The revision lives on `(:KetenMeta {id: 'meta'})`.

>>> label("VitalProcess")
'VitalProcess'
>>> label("VitalProcess) DETACH DELETE (n")
Traceback (most recent call last):
...
ValueError: unknown entity kind 'VitalProcess) DETACH DELETE (n'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

from keten.schema.entities import EntityKind
from keten.schema.relations import RelationType

KINDS: tuple[str, ...] = tuple(k.value for k in EntityKind)
TYPES: tuple[str, ...] = tuple(t.value for t in RelationType)
FLAT_RELATION_PROPS = ("buffer_hours", "strength", "redundancy_group", "share", "year")
"""Relation properties also stored as plain values, for Cypher that filters or sums on them."""

ENTITY_RETURN = (
    "n.id AS id, n.kind AS kind, n.name AS name, n.marking AS marking, n.props AS props, "
    "n.created_at AS created_at, n.updated_at AS updated_at"
)
RELATION_RETURN = (
    "a.id AS source, type(r) AS type, b.id AS target, r.key AS key, r.marking AS marking, "
    "r.props AS props, r.created_at AS created_at, r.updated_at AS updated_at"
)
RELATION_VISIBLE = "r.level <= $level AND a.level <= $level AND b.level <= $level"
"""A relation is visible when it and both its ends are at or below the clearance level."""


def label(kind: str) -> str:
    """The node label for an entity kind; refuses anything outside `EntityKind`."""
    if kind not in KINDS:
        raise ValueError(f"unknown entity kind {kind!r}")
    return kind


def relationship_type(name: str) -> str:
    """The relationship type for a relation type; refuses anything outside `RelationType`."""
    if name not in TYPES:
        raise ValueError(f"unknown relation type {name!r}")
    return name


# -- schema and revision ------------------------------------------------------------------

SCHEMA_STATEMENTS: tuple[str, ...] = (
    "CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT keten_meta_id IF NOT EXISTS FOR (m:KetenMeta) REQUIRE m.id IS UNIQUE",
    "CREATE INDEX entity_kind IF NOT EXISTS FOR (n:Entity) ON (n.kind, n.id)",
    "CREATE INDEX entity_level IF NOT EXISTS FOR (n:Entity) ON (n.level)",
)
"""Run once at start-up, each on its own (schema commands cannot share a transaction)."""

ENSURE_META = "MERGE (m:KetenMeta {id: 'meta'}) ON CREATE SET m.revision = 0"
READ_REVISION = "MATCH (m:KetenMeta {id: 'meta'}) RETURN m.revision AS revision"
BUMP_REVISION = (
    "MERGE (m:KetenMeta {id: 'meta'}) ON CREATE SET m.revision = 0 "
    "SET m.revision = m.revision + 1 RETURN m.revision AS revision"
)
WIPE = "MATCH (n) DETACH DELETE n"
"""Empty the database: only `open_test_store` uses it."""


# -- writes -------------------------------------------------------------------------------


def upsert_entities(kind: str) -> str:
    """Insert or update entities of one kind from `$rows` (see `neo4j.entity_params`).

    A row identical to the stored node matches no branch and writes nothing, so a re-load
    leaves `updated_at` and the revision alone. A node whose kind changed loses its old
    kind label. Returns the numbers created and updated.
    """
    others = ":".join(k for k in KINDS if k != label(kind))
    return (
        "UNWIND $rows AS row "
        "OPTIONAL MATCH (old:Entity {id: row.id}) "
        "WITH row, old IS NULL AS created, old IS NOT NULL AND (old.kind <> row.kind "
        "OR old.name <> row.name OR old.level <> row.level OR old.props <> row.props) AS changed "
        "WHERE created OR changed "
        "MERGE (n:Entity {id: row.id}) "
        "ON CREATE SET n.created_at = row.created_at "
        "SET n.kind = row.kind, n.name = row.name, n.marking = row.marking, "
        "n.level = row.level, n.props = row.props, n.search = row.search, "
        f"n.updated_at = row.updated_at, n:{kind} "
        f"REMOVE n:{others} "
        "RETURN sum(CASE WHEN created THEN 1 ELSE 0 END) AS created, "
        "sum(CASE WHEN changed THEN 1 ELSE 0 END) AS updated"
    )


def upsert_relations(type_: str) -> str:
    """Insert or update relations of one type from `$rows` (see `neo4j.relation_params`).

    Endpoints must exist (the writer checks first with `MISSING_IDS`).
    """
    rel = relationship_type(type_)
    flat = ", ".join(f"r.{name} = row.{name}" for name in FLAT_RELATION_PROPS)
    return (
        "UNWIND $rows AS row "
        "MATCH (a:Entity {id: row.source}) MATCH (b:Entity {id: row.target}) "
        f"OPTIONAL MATCH (a)-[old:{rel} {{key: row.key}}]->(b) "
        "WITH a, b, row, old IS NULL AS created, "
        "old IS NOT NULL AND (old.level <> row.level OR old.props <> row.props) AS changed "
        "WHERE created OR changed "
        f"MERGE (a)-[r:{rel} {{key: row.key}}]->(b) "
        "ON CREATE SET r.created_at = row.created_at "
        "SET r.marking = row.marking, r.level = row.level, r.props = row.props, "
        f"r.updated_at = row.updated_at, {flat} "
        "RETURN sum(CASE WHEN created THEN 1 ELSE 0 END) AS created, "
        "sum(CASE WHEN changed THEN 1 ELSE 0 END) AS updated"
    )


KINDS_OF = "UNWIND $ids AS id MATCH (n:Entity {id: id}) RETURN n.id AS id, n.kind AS kind"
MISSING_IDS = (
    "UNWIND $ids AS id OPTIONAL MATCH (n:Entity {id: id}) "
    "WITH id, n WHERE n IS NULL RETURN collect(id) AS missing"
)

RELATIONS_OF_ENTITY = (
    "MATCH (n:Entity {id: $id}) OPTIONAL MATCH (n)-[r]-(:Entity) "
    "WITH DISTINCT r WITH r, startNode(r) AS a, endNode(r) AS b "
    f"RETURN {RELATION_RETURN}"
)
"""Every relation touching an entity (one row with null columns when it has none)."""
DELETE_ENTITY = "MATCH (n:Entity {id: $id}) DETACH DELETE n RETURN count(*) AS deleted"


def delete_relation(type_: str) -> str:
    """Delete one relation by identity; returns how many went (0 or 1)."""
    rel = relationship_type(type_)
    return (
        f"MATCH (a:Entity {{id: $source}})-[r:{rel} {{key: $key}}]->(b:Entity {{id: $target}}) "
        "DELETE r RETURN count(*) AS deleted"
    )


# -- reads --------------------------------------------------------------------------------

GET_ENTITY = f"MATCH (n:Entity {{id: $id}}) WHERE n.level <= $level RETURN {ENTITY_RETURN}"


def list_entities(
    kind: str | None = None, text: bool = False, marking: bool = False, after: bool = False
) -> str:
    """One page of entities ordered by id; flags say which filter parameters are present.

    Parameters: `$level`, `$limit`, and `$text` (lower-case), `$marking` (a level), `$after`
    (the last id of the previous page) when their flag is set.
    """
    node = f"(n:{label(kind)})" if kind else "(n:Entity)"
    where = ["n.level <= $level"]
    if text:
        where.append("n.search CONTAINS $text")
    if marking:
        where.append("n.level = $marking")
    if after:
        where.append("n.id > $after")
    return (
        f"MATCH {node} WHERE {' AND '.join(where)} RETURN {ENTITY_RETURN} ORDER BY id LIMIT $limit"
    )


def get_relation(type_: str) -> str:
    """One relation by identity, if it and both ends are within `$level`."""
    rel = relationship_type(type_)
    return (
        f"MATCH (a:Entity {{id: $source}})-[r:{rel} {{key: $key}}]->(b:Entity {{id: $target}}) "
        f"WHERE {RELATION_VISIBLE} RETURN {RELATION_RETURN}"
    )


AFTER_RELATION = (
    "(a.id > $a0 OR (a.id = $a0 AND (type(r) > $a1 OR (type(r) = $a1 AND "
    "(b.id > $a2 OR (b.id = $a2 AND r.key > $a3))))))"
)
"""Keyset paging on (source, type, target, key): Cypher has no row-value comparison."""


def list_relations(
    type_: str | None = None,
    source: bool = False,
    target: bool = False,
    marking: bool = False,
    after: bool = False,
) -> str:
    """One page of visible relations ordered by identity; flags say which filters are set.

    Parameters: `$level`, `$limit`, and `$source`, `$target`, `$marking` (a level) and
    `$a0`..`$a3` (the last identity of the previous page) when their flag is set.
    """
    rel = f":{relationship_type(type_)}" if type_ else ""
    start = "(a:Entity {id: $source})" if source else "(a:Entity)"
    end = "(b:Entity {id: $target})" if target else "(b:Entity)"
    where = [RELATION_VISIBLE]
    if marking:
        where.append("r.level = $marking")
    if after:
        where.append(AFTER_RELATION)
    return (
        f"MATCH {start}-[r{rel}]->{end} WHERE {' AND '.join(where)} "
        f"RETURN {RELATION_RETURN} ORDER BY source, type, target, key LIMIT $limit"
    )


RELATIONS_TOUCHING = (
    "UNWIND $ids AS id MATCH (:Entity {id: id})-[r]-(:Entity) "
    "WITH DISTINCT r WITH r, startNode(r) AS a, endNode(r) AS b "
    f"WHERE {RELATION_VISIBLE} RETURN {RELATION_RETURN}"
)
"""Visible relations with an end among `$ids`: one hop of `neighbourhood`."""
ENTITY_IDS_PAGE = (
    "MATCH (a:Entity) WHERE a.id > $after AND a.level <= $level "
    "RETURN a.id AS id ORDER BY id LIMIT $limit"
)
"""The next ids in order, served from the uniqueness index (streaming the relations)."""
RELATIONS_FROM = (
    "UNWIND $ids AS id MATCH (a:Entity {id: id})-[r]->(b:Entity) "
    f"WHERE {RELATION_VISIBLE} RETURN {RELATION_RETURN}"
)
"""The visible relations leaving these entities."""
ENTITIES_BY_ID = f"UNWIND $ids AS id MATCH (n:Entity {{id: id}}) RETURN {ENTITY_RETURN} ORDER BY id"

COUNT_ENTITIES = "MATCH (n:Entity) WHERE n.level <= $level RETURN count(n) AS total"
COUNT_RELATIONS = (
    f"MATCH (a:Entity)-[r]->(b:Entity) WHERE {RELATION_VISIBLE} RETURN count(r) AS total"
)

PROJECTION_ENTITIES = (
    "MATCH (n:Entity) WHERE n.level <= $level RETURN n.id AS id, n.kind AS kind, "
    "n.name AS name ORDER BY id"
)
PROJECTION_RELATIONS = (
    "MATCH (a:Entity)-[r:DEPENDS_ON|DISRUPTS|SAFEGUARDS]->(b:Entity) "
    f"WHERE {RELATION_VISIBLE} RETURN a.id AS source, type(r) AS type, b.id AS target, "
    "r.key AS key, r.buffer_hours AS buffer_hours, r.strength AS strength, "
    "r.redundancy_group AS redundancy_group"
)
"""What the analysis projection needs and no more: no props documents, no provenance."""


# -- the catalogue the lint test checks -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement the store can send, with the parameters it takes (for the linter)."""

    name: str
    cypher: str
    parameters: tuple[str, ...]


def _params(cypher: str, *candidates: str) -> tuple[str, ...]:
    used = set(re.findall(r"\$(\w+)", cypher))
    return tuple(p for p in candidates if p in used)


ALL_PARAMETERS = (
    "rows",
    "ids",
    "id",
    "level",
    "limit",
    "text",
    "marking",
    "after",
    "source",
    "target",
    "key",
    "a0",
    "a1",
    "a2",
    "a3",
)


def all_statements() -> Iterator[Statement]:
    """Every statement this module can build: each whitelisted label and type, each filter set."""
    fixed = {
        name: value
        for name, value in globals().items()
        if name.isupper() and isinstance(value, str) and value.lstrip().startswith(_VERBS)
    }
    for name, text in fixed.items():
        yield Statement(name, text, _params(text, *ALL_PARAMETERS))
    for i, text in enumerate(SCHEMA_STATEMENTS):
        yield Statement(f"SCHEMA_STATEMENTS[{i}]", text, ())
    for kind in KINDS:
        yield _statement(f"upsert_entities({kind})", upsert_entities(kind))
    for type_ in TYPES:
        yield _statement(f"upsert_relations({type_})", upsert_relations(type_))
        yield _statement(f"delete_relation({type_})", delete_relation(type_))
        yield _statement(f"get_relation({type_})", get_relation(type_))
    flag_sets = list(product((False, True), repeat=4))
    for kind_or_none in (None, *KINDS):
        for has_text, marking, after, _ in flag_sets[::2]:
            yield _statement(
                f"list_entities({kind_or_none}, text={has_text}, marking={marking}, after={after})",
                list_entities(kind_or_none, has_text, marking, after),
            )
    for type_or_none in (None, *TYPES):
        for source, target, marking, after in flag_sets:
            yield _statement(
                f"list_relations({type_or_none}, source={source}, target={target}, "
                f"marking={marking}, after={after})",
                list_relations(type_or_none, source, target, marking, after),
            )


_VERBS = ("MATCH", "MERGE", "UNWIND", "CREATE", "OPTIONAL")


def _statement(name: str, cypher: str) -> Statement:
    return Statement(name, cypher, _params(cypher, *ALL_PARAMETERS))


WHITELISTED = re.compile(r":(" + "|".join(KINDS + TYPES) + r")\b")


def shape(cypher: str) -> str:
    """The statement with every whitelisted label and type replaced by `:_`.

    Statements of one shape differ only in identifier tokens taken from the whitelists, so
    the linter needs to see one of each shape to have checked them all.

    >>> shape("MATCH (n:Threat)-[r:POSES]->(m:Entity)")
    'MATCH (n:_)-[r:_]->(m:Entity)'
    """
    return WHITELISTED.sub(":_", cypher)


def example_parameters(names: tuple[str, ...]) -> dict[str, Any]:
    """Placeholder values for the linter, which refuses statements with undeclared parameters."""
    return {name: [] if name in {"rows", "ids"} else "" for name in names}
