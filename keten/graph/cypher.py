"""Every Cypher statement `Neo4jStore` sends, built by pure functions so that it can be read
and checked (`tests/graph/test_cypher_lint.py` runs each one through Neo4j's own linter).

Labels and relationship types cannot be query parameters in Cypher 5, so they are formatted
into the text; they come only from the schema's whitelists (`EntityKind`, `RelationType`),
checked by `label` and `relationship_type` before any formatting. Everything else a user
supplies travels as a parameter, and rows travel as lists (`UNWIND $rows`).

Storage layout (see `keten.graph.neo4j_rows` for the property maps):

* an entity is `(:Entity:<Kind> {id, kind, name, marking, created_at, updated_at,
  keten_level, keten_search, ...its properties})`;
* a relation is `[:<TYPE> {key, marking, created_at, updated_at, keten_level, ...}]`;
* `(:KetenMeta {id: 'meta'})` holds the last write stamp, the revision per clearance level,
  the last audit sequence number, the write lease of a running bulk load and the loads not
  yet visible (`keten_hidden`); every write transaction locks it first;
* before images of changed or deleted records are `(:KetenEntityVersion)` and
  `(:KetenRelationVersion)` nodes (never `Entity`), with `keten_replaced_at`;
* the audit trail is `(:KetenAudit {seq, at, actor, action, ...})`;
* a write's changes to stored records wait in `(:KetenPendingEntity)` and
  `(:KetenPendingRelation)` nodes until its last transaction applies them.

Readers leave out records whose `keten_load` names a load in `keten_hidden`: a bulk load
spread over many transactions becomes visible in its last, small one.

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

from keten.schema.kinds import EntityKind
from keten.schema.relations import RelationType

KINDS: tuple[str, ...] = tuple(k.value for k in EntityKind)
TYPES: tuple[str, ...] = tuple(t.value for t in RelationType)
INTERNAL_LABELS = (
    "Entity",
    "KetenMeta",
    "KetenEntityVersion",
    "KetenRelationVersion",
    "KetenAudit",
    "KetenPendingEntity",
    "KetenPendingRelation",
)
SEARCH_INDEX = "keten_entity_search"
LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/\s])')


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


def fulltext_query(text: str) -> str:
    """A Lucene query matching every indexed value that contains `text` (lower-cased).

    The index keeps each search text whole (keyword analyzer), so `*text*` is a substring
    test; every Lucene operator character in the text is escaped.

    >>> fulltext_query("Water (NL)")
    '*water\\\\ \\\\(nl\\\\)*'
    """
    return "*" + LUCENE_SPECIAL.sub(r"\\\1", text.lower()) + "*"


# -- schema and the meta node ---------------------------------------------------------------


def schema_statements() -> tuple[str, ...]:
    """Constraints and indexes, run once at start-up, each on its own."""
    kinds = tuple(
        f"CREATE CONSTRAINT keten_{k.lower()}_id IF NOT EXISTS FOR (n:{label(k)}) "
        "REQUIRE n.id IS UNIQUE"
        for k in KINDS
    )
    return (
        "CREATE CONSTRAINT keten_entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE",
        *kinds,
        "CREATE CONSTRAINT keten_meta_id IF NOT EXISTS FOR (m:KetenMeta) REQUIRE m.id IS UNIQUE",
        "CREATE CONSTRAINT keten_audit_seq IF NOT EXISTS FOR (a:KetenAudit) "
        "REQUIRE a.seq IS UNIQUE",
        "CREATE INDEX keten_entity_level IF NOT EXISTS FOR (n:Entity) ON (n.keten_level)",
        f"CREATE FULLTEXT INDEX {SEARCH_INDEX} IF NOT EXISTS FOR (n:Entity) "
        "ON EACH [n.keten_search] OPTIONS {indexConfig: {`fulltext.analyzer`: 'keyword'}}",
        "CREATE INDEX keten_entity_version_id IF NOT EXISTS FOR (v:KetenEntityVersion) ON (v.id)",
        "CREATE INDEX keten_entity_version_replaced IF NOT EXISTS FOR (v:KetenEntityVersion) "
        "ON (v.keten_replaced_at)",
        "CREATE INDEX keten_relation_version_replaced IF NOT EXISTS "
        "FOR (v:KetenRelationVersion) ON (v.keten_replaced_at)",
        "CREATE INDEX keten_audit_entity IF NOT EXISTS FOR (a:KetenAudit) ON (a.entity)",
        "CREATE INDEX keten_audit_other IF NOT EXISTS FOR (a:KetenAudit) ON (a.other)",
        "CREATE INDEX keten_pending_entity IF NOT EXISTS FOR (p:KetenPendingEntity) "
        "ON (p.keten_load, p.id)",
        "CREATE INDEX keten_pending_relation IF NOT EXISTS FOR (p:KetenPendingRelation) "
        "ON (p.keten_load, p.source)",
    )


META_EXISTS = "MATCH (m:KetenMeta {id: 'meta'}) RETURN count(m) AS found"
ENSURE_META = (
    "MERGE (m:KetenMeta {id: 'meta'}) ON CREATE SET m.keten_revisions = [0, 0, 0, 0, 0], "
    "m.keten_stamp = '', m.keten_audit_seq = 0, m.keten_hidden = [], m.keten_lease = '', "
    "m.keten_lease_until = 0"
)
LOCK_META = (
    "MATCH (m:KetenMeta {id: 'meta'}) SET m.keten_writes = coalesce(m.keten_writes, 0) + 1 "
    "WITH m RETURN m.keten_stamp AS stamp, "
    "m.keten_audit_seq AS seq, m.keten_hidden AS hidden, m.keten_lease AS lease, "
    "m.keten_lease_until < timestamp() AS expired"
)
"""First statement of every write transaction: the meta node's write lock serialises writers;
what it returns is read under that lock."""
READ_LEASE = (
    "MATCH (m:KetenMeta {id: 'meta'}) "
    "RETURN m.keten_lease AS lease, m.keten_lease_until < timestamp() AS expired"
)
"""A writer's look at the lease before it queues for the meta node's lock: while a bulk load
holds it, waiting by reading takes no lock (queued on the lock, a writer held a lock that the
load's next lease renewal needed, and Neo4j ended the load as a deadlock)."""
SET_STAMP = "MATCH (m:KetenMeta {id: 'meta'}) SET m.keten_stamp = $stamp"
TAKE_LEASE = (
    "MATCH (m:KetenMeta {id: 'meta'}) SET m.keten_lease = $owner, "
    "m.keten_lease_until = timestamp() + $millis, "
    "m.keten_hidden = [x IN coalesce(m.keten_hidden, []) WHERE x <> $load] + [$load]"
)
"""Hide a bulk load's records and keep other writers out until it ends (renewed per step)."""
RELEASE_LOAD = (
    "MATCH (m:KetenMeta {id: 'meta'}) "
    "SET m.keten_hidden = [x IN coalesce(m.keten_hidden, []) WHERE x <> $load] "
    "WITH m WHERE m.keten_lease = $owner SET m.keten_lease = '', m.keten_lease_until = 0"
)
"""Show a load (after its last step) or forget it (after its stage is removed)."""
FINISH_WRITE = (
    "MATCH (m:KetenMeta {id: 'meta'}) SET m.keten_revisions = [i IN range(0, 4) | "
    "m.keten_revisions[i] + CASE WHEN i >= $least THEN 1 ELSE 0 END], m.keten_audit_seq = $seq"
)
"""Raise the revisions of every clearance from `$least` up and keep the last audit number."""
READ_REVISION = "MATCH (m:KetenMeta {id: 'meta'}) RETURN m.keten_revisions[$level] AS revision"
READ_HIDDEN = "MATCH (m:KetenMeta {id: 'meta'}) RETURN coalesce(m.keten_hidden, []) AS hidden"
WIPE_RELATIONSHIPS = "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS"
WIPE_NODES = "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS"
"""Empty the database (tests and benchmarks only): auto-commit, in bounded transactions,
relationships first (a batch of hub nodes would drag millions of them into one transaction)."""
SERVER_VERSION = (
    "CALL dbms.components() YIELD name, versions, edition "
    "RETURN name, versions[0] AS version, edition"
)


# -- writing --------------------------------------------------------------------------------


def create_entities(kind: str) -> str:
    """Create new entities of one kind from `$rows` (whole property maps)."""
    return f"UNWIND $rows AS row CREATE (n:Entity:{label(kind)}) SET n = row"


def create_relations(type_: str) -> str:
    """Create new relations of one type; rows whose ends are not stored are left out (the
    count says how many were made)."""
    rel = relationship_type(type_)
    return (
        "UNWIND $rows AS row MATCH (a:Entity {id: row.source}) MATCH (b:Entity {id: row.target}) "
        f"CREATE (a)-[r:{rel}]->(b) SET r = row.props RETURN count(r) AS created"
    )


STAGE_ENTITY_UPDATES = (
    "UNWIND $rows AS row MERGE (p:KetenPendingEntity {keten_load: $load, id: row.id}) "
    "SET p = row, p.keten_load = $load"
)
"""Keep the new images of changed entities until the write's last step applies them."""
STAGE_RELATION_UPDATES = (
    "UNWIND $rows AS row MERGE (p:KetenPendingRelation {keten_load: $load, source: row.source, "
    "type: row.type, target: row.target, key: row.props.key}) SET p = row.props, "
    "p.source = row.source, p.type = row.type, p.target = row.target, p.keten_load = $load"
)
APPLY_ENTITY_UPDATES = (
    "MATCH (p:KetenPendingEntity {keten_load: $load}) MATCH (n:Entity {id: p.id}) "
    "CREATE (v:KetenEntityVersion) SET v = properties(n), v.keten_replaced_at = p.updated_at "
    "REMOVE v.keten_load SET n = properties(p) REMOVE n.keten_load DELETE p "
    "RETURN count(*) AS applied"
)
"""Keep each before image as a version, write the new image, drop the pending node."""
APPLY_RELATION_UPDATES = (
    "MATCH (p:KetenPendingRelation {keten_load: $load}) "
    "MATCH (a:Entity {id: p.source})-[r]->(b:Entity {id: p.target}) "
    "WHERE type(r) = p.type AND r.key = p.key "
    "CREATE (v:KetenRelationVersion) SET v = properties(r), v.source = a.id, v.type = type(r), "
    "v.target = b.id, v.keten_replaced_at = p.updated_at REMOVE v.keten_load "
    "SET r = properties(p) REMOVE r.source, r.type, r.target, r.keten_load DELETE p "
    "RETURN count(*) AS applied"
)
MARK_ENTITIES = "UNWIND $ids AS id MATCH (n:Entity {id: id}) SET n.keten_load = $load"
"""Hide entities a write created before it first committed part of itself."""
MARK_RELATIONS = (
    "UNWIND $refs AS ref MATCH (a:Entity {id: ref[0]})-[r]->(b:Entity {id: ref[2]}) "
    "WHERE type(r) = ref[1] AND r.key = ref[3] SET r.keten_load = $load"
)
STORED_ENTITIES = (
    "UNWIND $ids AS id OPTIONAL MATCH (p:KetenPendingEntity {keten_load: $load, id: id}) "
    "OPTIONAL MATCH (n:Entity {id: id}) WITH coalesce(p, n) AS x WHERE x IS NOT NULL "
    "RETURN properties(x) AS node"
)
"""Entities as the open write sees them: its pending images over the stored nodes."""
STORED_RELATIONS = (
    "UNWIND $refs AS ref OPTIONAL MATCH (p:KetenPendingRelation {keten_load: $load, "
    "source: ref[0], type: ref[1], target: ref[2], key: ref[3]}) "
    "OPTIONAL MATCH (a:Entity {id: ref[0]})-[r]->(b:Entity {id: ref[2]}) "
    "WHERE type(r) = ref[1] AND r.key = ref[3] "
    "WITH ref, coalesce(properties(p), properties(r)) AS rel WHERE rel IS NOT NULL "
    "RETURN ref, rel"
)
KINDS_OF = "UNWIND $ids AS id MATCH (n:Entity {id: id}) RETURN n.id AS id, n.kind AS kind"
STORED_IDS = "UNWIND $ids AS id MATCH (n:Entity {id: id}) RETURN n.id AS id"
LEVELS_OF = (
    "UNWIND $ids AS id MATCH (n:Entity {id: id}) "
    "OPTIONAL MATCH (p:KetenPendingEntity {keten_load: $load, id: id}) "
    "RETURN n.id AS id, coalesce(p.keten_level, n.keten_level) AS level"
)
"""Marking levels of entities as the open write sees them."""
TOUCHING_ENTITY = (
    "MATCH (:Entity {id: $id})-[r]-() WITH DISTINCT r "
    "RETURN startNode(r).id AS source, type(r) AS type, endNode(r).id AS target, "
    "properties(r) AS rel"
)
"""Every relation touching an entity (inside a write: nothing is hidden from it)."""
DELETE_ENTITY = (
    "MATCH (n:Entity {id: $id}) CALL (n) { MATCH (n)-[r]-() WITH DISTINCT r "
    "CREATE (v:KetenRelationVersion) SET v = properties(r), v.source = startNode(r).id, "
    "v.type = type(r), v.target = endNode(r).id, v.keten_replaced_at = $stamp "
    "REMOVE v.keten_load } "
    "CREATE (v:KetenEntityVersion) SET v = properties(n), v.keten_replaced_at = $stamp "
    "REMOVE v.keten_load DETACH DELETE n"
)
"""Delete an entity and its relations, keeping their last images as versions."""
DELETE_RELATION = (
    "MATCH (a:Entity {id: $source})-[r]->(b:Entity {id: $target}) "
    "WHERE type(r) = $type AND r.key = $key "
    "CREATE (v:KetenRelationVersion) SET v = properties(r), v.source = a.id, v.type = type(r), "
    "v.target = b.id, v.keten_replaced_at = $stamp REMOVE v.keten_load DELETE r "
    "RETURN count(*) AS deleted"
)
APPEND_AUDIT = "UNWIND $entries AS entry CREATE (a:KetenAudit) SET a = entry"

DROP_PENDING_ENTITIES = (
    "MATCH (p:KetenPendingEntity {keten_load: $load}) "
    "CALL (p) { DELETE p } IN TRANSACTIONS OF 10000 ROWS"
)
"""Removing an abandoned load's stage: auto-commit statements in bounded transactions."""
DROP_PENDING_RELATIONS = (
    "MATCH (p:KetenPendingRelation {keten_load: $load}) "
    "CALL (p) { DELETE p } IN TRANSACTIONS OF 10000 ROWS"
)
DROP_STAGED_RELATIONS = (
    "MATCH ()-[r]->() WHERE r.keten_load = $load "
    "CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS"
)
DROP_STAGED_ENTITIES = (
    "MATCH (n:Entity) WHERE n.keten_load = $load "
    "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 2000 ROWS"
)


# -- reading --------------------------------------------------------------------------------

HIDDEN = (
    "OPTIONAL MATCH (meta:KetenMeta {id: 'meta'}) WITH coalesce(meta.keten_hidden, []) AS hidden "
)
"""Every read starts here: the loads whose records are not visible yet."""


def shown(var: str) -> str:
    """The record `var` is not part of a load that is still hidden."""
    return f"NOT coalesce({var}.keten_load, '') IN hidden"


RELATION_VISIBLE = (
    "r.keten_level <= $level AND a.keten_level <= $level AND b.keten_level <= $level AND "
    + shown("r")
)
"""A relation is visible when it and both its ends are at or below the clearance level (a
relation outside hidden loads never touches an entity inside one)."""
RELATION_RETURN = "a.id AS source, type(r) AS type, b.id AS target, properties(r) AS rel"

GET_ENTITY = (
    f"{HIDDEN}MATCH (n:Entity {{id: $id}}) WHERE n.keten_level <= $level AND {shown('n')} "
    "RETURN properties(n) AS node"
)


def list_entities(
    kind: str | None = None, text: bool = False, marking: bool = False, after: bool = False
) -> str:
    """One page of entities ordered by id; flags say which filter parameters are present.

    Parameters: `$level`, `$limit`, and `$text` (lower-case) with `$search` (its
    `fulltext_query`), `$marking` (a level), `$after` (the last id of the previous page)
    when their flag is set. Text search asks the full-text index, then checks the exact
    substring.
    """
    where = ["n.keten_level <= $level", shown("n")]
    if kind:
        where.append(f"n:{label(kind)}")
    if text:
        where.append("n.keten_search CONTAINS $text")
    if marking:
        where.append("n.keten_level = $marking")
    if after:
        where.append("n.id > $after")
    if text:
        source = f"CALL db.index.fulltext.queryNodes('{SEARCH_INDEX}', $search) YIELD node AS n "
    else:
        source = f"MATCH (n:{label(kind) if kind else 'Entity'}) "
    return (
        f"{HIDDEN}{source}WITH n, hidden WHERE {' AND '.join(where)} "
        "WITH n ORDER BY n.id LIMIT $limit RETURN properties(n) AS node"
    )


GET_RELATION = (
    f"{HIDDEN}MATCH (a:Entity {{id: $source}})-[r]->(b:Entity {{id: $target}}) "
    f"WHERE type(r) = $type AND r.key = $key AND {RELATION_VISIBLE} RETURN {RELATION_RETURN}"
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
    `$a0`..`$a3` (the last identity of the previous page) when their flag is set. The page is
    chosen on identities alone and only its relations' properties are read (a hub's target
    has 200k relations at 1M / 10M, for a page of 1,000).
    """
    rel = f":{relationship_type(type_)}" if type_ else ""
    start = "(a:Entity {id: $source})" if source else "(a:Entity)"
    end = "(b:Entity {id: $target})" if target else "(b:Entity)"
    where = [RELATION_VISIBLE]
    if marking:
        where.append("r.keten_level = $marking")
    if after:
        where.append(AFTER_RELATION)
    return (
        f"{HIDDEN}MATCH {start}-[r{rel}]->{end} WHERE {' AND '.join(where)} "
        "WITH a, r, b ORDER BY a.id, type(r), b.id, r.key LIMIT $limit "
        f"RETURN {RELATION_RETURN} ORDER BY source, type, target, rel.key"
    )


RELATIONS_TOUCHING = (
    f"{HIDDEN}UNWIND $ids AS id MATCH (:Entity {{id: id}})-[r]-() "
    "WITH DISTINCT r, hidden WITH r, hidden, startNode(r) AS a, endNode(r) AS b "
    f"WHERE {RELATION_VISIBLE} RETURN {RELATION_RETURN}"
)
"""Visible relations with an end among `$ids` (what a projection reads again after a write)."""
UNSEEN_NEIGHBOURS = (
    f"{HIDDEN}UNWIND $ids AS id CALL (id, hidden) {{ "
    "MATCH (a:Entity {id: id})-[r]-(b:Entity) "
    f"WHERE {RELATION_VISIBLE} AND NOT b.id IN $seen "
    "RETURN DISTINCT b.id AS other ORDER BY other LIMIT $most } "
    "RETURN id, collect(other) AS others"
)
"""One hop of `neighbourhood`: for each of `$ids`, its first `$most` visible neighbours
outside `$seen`, by id (ids only; `collect` keeps the subquery's order)."""
RELATIONS_AMONG = (
    f"{HIDDEN}UNWIND $ids AS id MATCH (a:Entity {{id: id}})-[r]->(b:Entity) "
    f"WHERE b.id IN $ids AND {RELATION_VISIBLE} RETURN {RELATION_RETURN}"
)
"""The visible relations with both ends among `$ids` (the relations of a neighbourhood)."""
ENTITIES_BY_ID = (
    f"{HIDDEN}UNWIND $ids AS id MATCH (n:Entity {{id: id}}) WHERE {shown('n')} "
    "WITH n ORDER BY n.id RETURN properties(n) AS node"
)
GREEN_IDS = (
    f"{HIDDEN}UNWIND $ids AS id OPTIONAL MATCH (n:Entity {{id: id}}) WHERE {shown('n')} "
    "CALL (id, n) { OPTIONAL MATCH (v:KetenEntityVersion {id: id}) WHERE n IS NULL "
    "RETURN v.keten_level AS last ORDER BY v.keten_replaced_at DESC LIMIT 1 } "
    "WITH id, coalesce(n.keten_level, last) AS level WHERE level = 1 RETURN id"
)
"""Those of `$ids` that name a green record (redacting for a clear key): marked green now,
or, no longer stored, green when last stored (a deleted green record stays unnamed)."""
LEVELS_OF = (
    f"{HIDDEN}UNWIND $ids AS id MATCH (n:Entity {{id: id}}) WHERE {shown('n')} "
    "RETURN n.id AS id, n.keten_level AS level"
)
"""The marking levels of the stored records among `$ids` (for redaction)."""
ENTITY_IDS_PAGE = (
    f"{HIDDEN}MATCH (a:Entity) WHERE a.id > $after AND a.keten_level <= $level "
    f"AND {shown('a')} WITH a ORDER BY a.id LIMIT $limit RETURN a.id AS id"
)
"""The next ids in order, served from the uniqueness index (streaming the relations)."""
RELATIONS_FROM = (
    f"{HIDDEN}UNWIND $ids AS id MATCH (a:Entity {{id: id}})-[r]->(b:Entity) "
    f"WHERE {RELATION_VISIBLE} RETURN {RELATION_RETURN}"
)
COUNT_ENTITIES = (
    f"{HIDDEN}MATCH (n:Entity) WHERE n.keten_level <= $level AND {shown('n')} "
    "RETURN count(n) AS total"
)
COUNT_RELATIONS = (
    f"{HIDDEN}MATCH (a:Entity)-[r]->(b:Entity) WHERE {RELATION_VISIBLE} RETURN count(r) AS total"
)
ANY_ENTITY = f"{HIDDEN}MATCH (n:Entity) WHERE {shown('n')} RETURN n.id AS id LIMIT 1"
PROJECTION_ENTITIES = (
    f"{HIDDEN}MATCH (n:Entity) WHERE n.keten_level <= $level AND {shown('n')} "
    "RETURN n.id AS id, n.kind AS kind, n.name AS name"
)
PROJECTION_RELATIONS = (
    f"{HIDDEN}MATCH (a:Entity)-[r]->(b:Entity) WHERE {RELATION_VISIBLE} "
    "RETURN a.id AS source, collect([type(r), b.id, r.key, r.buffer_hours, r.strength, "
    "r.redundancy_group, r.reliability, r.credibility, r.updated_at]) AS relations"
)
"""What the analysis projection and the assessment rule read, and nothing more: one record
per source (a tenth of the records to decode on a graph like the generated one)."""

# -- history --------------------------------------------------------------------------------

ENTITY_SNAPSHOT = (
    "CALL (hidden) { MATCH (x:Entity) WHERE x.updated_at <= $as_of AND "
    f"{shown('x')} RETURN x UNION ALL MATCH (x:KetenEntityVersion) "
    "WHERE x.keten_replaced_at > $as_of AND x.updated_at <= $as_of RETURN x } "
)
"""Entities as they were at `$as_of`: current images not newer, and versions valid then."""


def list_entities_as_of(
    kind: bool = False, text: bool = False, marking: bool = False, after: bool = False
) -> str:
    """One page of entities as they were at `$as_of` (parameters as `list_entities`, with
    `$kind` a kind name)."""
    where = ["x.keten_level <= $level"]
    if kind:
        where.append("x.kind = $kind")
    if text:
        where.append("x.keten_search CONTAINS $text")
    if marking:
        where.append("x.keten_level = $marking")
    if after:
        where.append("x.id > $after")
    return (
        f"{HIDDEN}{ENTITY_SNAPSHOT}WITH x WHERE {' AND '.join(where)} "
        "WITH x ORDER BY x.id LIMIT $limit RETURN properties(x) AS node"
    )


RELATION_SNAPSHOT = (
    "CALL (hidden) { MATCH (a:Entity)-[r]->(b:Entity) WHERE r.updated_at <= $as_of AND "
    f"{shown('r')} RETURN a.id AS source, type(r) AS type, b.id AS target, properties(r) AS rel "
    "UNION ALL MATCH (v:KetenRelationVersion) WHERE v.keten_replaced_at > $as_of "
    "AND v.updated_at <= $as_of "
    "RETURN v.source AS source, v.type AS type, v.target AS target, properties(v) AS rel } "
)


def level_then(end: str) -> str:
    """A subquery giving `<end>_level`: the level the entity `end` had at `$as_of`."""
    return (
        f"CALL ({end}, hidden) {{ OPTIONAL MATCH (n:Entity {{id: {end}}}) "
        f"WHERE n.updated_at <= $as_of AND {shown('n')} "
        f"OPTIONAL MATCH (v:KetenEntityVersion {{id: {end}}}) "
        "WHERE v.updated_at <= $as_of AND v.keten_replaced_at > $as_of "
        f"RETURN coalesce(n.keten_level, v.keten_level) AS {end}_level LIMIT 1 }} "
    )


def list_relations_as_of(
    type_: bool = False,
    source: bool = False,
    target: bool = False,
    marking: bool = False,
    after: bool = False,
) -> str:
    """One page of relations as they were at `$as_of`, visible by their ends then too."""
    where = ["rel.keten_level <= $level"]
    for flag, name in ((type_, "type"), (source, "source"), (target, "target")):
        if flag:
            where.append(f"{name} = ${name}")
    if marking:
        where.append("rel.keten_level = $marking")
    if after:
        where.append(
            "(source > $a0 OR (source = $a0 AND (type > $a1 OR (type = $a1 AND "
            "(target > $a2 OR (target = $a2 AND rel.key > $a3))))))"
        )
    return (
        f"{HIDDEN}{RELATION_SNAPSHOT}WITH * WHERE {' AND '.join(where)} "
        f"{level_then('source')}{level_then('target')}"
        "WITH * WHERE source_level <= $level AND target_level <= $level "
        "RETURN source, type, target, rel ORDER BY source, type, target, rel.key LIMIT $limit"
    )


AUDIT_HEAD = (
    "MATCH (a:KetenAudit) WITH a ORDER BY a.seq DESC LIMIT 1 RETURN a.seq AS seq, a.at AS at"
)
"""The last audit entry: where an analysis projection read now stands in the trail."""
AUDIT_FROM = (
    "MATCH (a:KetenAudit) WHERE a.seq >= $after WITH a ORDER BY a.seq LIMIT $limit "
    "RETURN a.seq AS seq, a.at AS at, a.action AS action, a.entity AS entity, "
    "a.other AS other, a.relation AS relation, a.detail_json AS detail"
)
"""Audit entries from number `$after` on, with the records they name (projection updates)."""


def read_audit(entity: bool = False, since: bool = False) -> str:
    """Audit entries in order after `$after`, those `$level` may read; optionally about
    `$entity` (either end of a relation) or at or after `$since`."""
    where = ["a.seq > $after", "a.level <= $level", "$level < coalesce(a.level_max, 5)"]
    if entity:
        where.append("(a.entity = $entity OR a.other = $entity)")
    if since:
        where.append("a.at >= $since")
    return (
        f"MATCH (a:KetenAudit) WHERE {' AND '.join(where)} WITH a ORDER BY a.seq LIMIT $limit "
        "RETURN a.seq AS seq, a.at AS at, a.actor AS actor, a.action AS action, "
        "a.entity AS entity, a.relation AS relation, a.submission AS submission, "
        "a.detail_json AS detail"
    )


# -- the catalogue the lint test checks -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement the store can send, with the parameters it takes (for the linter)."""

    name: str
    cypher: str
    parameters: tuple[str, ...]


def parameters_of(cypher: str) -> tuple[str, ...]:
    """The `$names` a statement uses, in order of first use."""
    return tuple(dict.fromkeys(re.findall(r"\$(\w+)", cypher)))


_VERBS = ("MATCH", "MERGE", "UNWIND", "CREATE", "OPTIONAL", "CALL")
FRAGMENTS = frozenset({"HIDDEN", "ENTITY_SNAPSHOT", "RELATION_SNAPSHOT"})
"""Constants that begin statements rather than being statements of their own."""


def all_statements() -> Iterator[Statement]:
    """Every statement this module can build: each whitelisted label and type, each filter set."""
    for name, value in globals().items():
        if name in FRAGMENTS or not isinstance(value, str) or not name.isupper():
            continue
        if value.lstrip().startswith(_VERBS):
            yield _statement(name, value)
    for i, text in enumerate(schema_statements()):
        yield Statement(f"schema_statements()[{i}]", text, ())
    for kind in KINDS:
        yield _statement(f"create_entities({kind})", create_entities(kind))
    for type_ in TYPES:
        yield _statement(f"create_relations({type_})", create_relations(type_))
    flags4 = list(product((False, True), repeat=4))
    for kind_or_none in (None, *KINDS):
        for flags3 in product((False, True), repeat=3):
            yield _statement(
                f"list_entities({kind_or_none}, {flags3})", list_entities(kind_or_none, *flags3)
            )
    for flags in flags4:
        yield _statement(f"list_entities_as_of{flags}", list_entities_as_of(*flags))
    for type_or_none in (None, *TYPES):
        for flags in flags4:
            yield _statement(
                f"list_relations({type_or_none}, {flags})", list_relations(type_or_none, *flags)
            )
    for flags5 in product((False, True), repeat=5):
        yield _statement(f"list_relations_as_of{flags5}", list_relations_as_of(*flags5))
    for flags2 in product((False, True), repeat=2):
        yield _statement(f"read_audit{flags2}", read_audit(*flags2))


def _statement(name: str, cypher: str) -> Statement:
    return Statement(name, cypher, parameters_of(cypher))


WHITELISTED = re.compile(r":(" + "|".join(KINDS + TYPES) + r")\b")


def shape(cypher: str) -> str:
    """The statement with every whitelisted label and type replaced by `:_`.

    Statements of one shape differ only in identifier tokens taken from the whitelists, so
    the linter needs to see one of each shape to have checked them all.

    >>> shape("MATCH (n:Threat)-[r:POSES]->(m:Entity)")
    'MATCH (n:_)-[r:_]->(m:Entity)'
    """
    return WHITELISTED.sub(":_", cypher)


LIST_PARAMETERS = frozenset({"rows", "ids", "refs", "entries", "hidden"})


def example_parameters(names: tuple[str, ...]) -> dict[str, Any]:
    """Placeholder values for the linter, which refuses statements with undeclared parameters."""
    return {name: [] if name in LIST_PARAMETERS else "" for name in names}
