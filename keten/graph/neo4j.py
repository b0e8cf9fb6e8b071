"""`Neo4jStore`: the `GraphStore` contract on a Neo4j 5 server, for shared deployments.

Selected by `KETEN_STORE=bolt://...` or `neo4j://...`. Semantics mirror `SqliteStore`:
idempotent upserts (an identical record changes nothing and raises no revision), a
`writer()` that is one explicit transaction (a bundle lands whole or not at all), a revision
counter on `(:KetenMeta {id: 'meta'})` raised in the same transaction as the write, and
clearance filtering inside every query. Single-record writes and all reads run as managed
transactions (`execute_write` / `execute_read`), which the driver retries on transient
errors. Every statement comes from `keten.graph.cypher`.

Neo4j keeps no history, so `as_of` listings and the audit trail need the SQLite store.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
from neo4j import READ_ACCESS, WRITE_ACCESS, Driver, GraphDatabase, ManagedTransaction, Session
from neo4j.exceptions import Neo4jError, ServiceUnavailable

from keten.graph import cypher
from keten.graph.rows import dump_props, now, search_text
from keten.graph.store import (
    EntityFilter,
    EntityRow,
    HistoryUnavailableError,
    Page,
    RelationFilter,
    RelationRow,
    WriteCounts,
    decode_cursor,
    page_of,
    walk_neighbourhood,
)
from keten.schema.markings import Tlp

BATCH = 5_000
"""Rows per UNWIND: large enough to amortise round trips, small enough for the heap."""
STREAM_PAGE = 10_000
"""Rows per read transaction when streaming the whole graph (export, projection)."""
R = TypeVar("R")
LEVELS = {m.value: m.level for m in Tlp}
SCALARS = frozenset({str, int, float, bool})


# -- rows <-> Cypher parameters (pure functions) ------------------------------------------


def entity_params(rows: Iterable[EntityRow]) -> list[dict[str, Any]]:
    """`cypher.upsert_entities` rows: canonical props JSON, marking level, search text."""
    stamp = now()
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "name": r.name,
            "marking": r.marking,
            "level": level_of(r.marking),
            "props": dump_props(r.props),
            "search": search_text(r.name, r.props),
            "created_at": r.created_at or stamp,
            "updated_at": r.updated_at or stamp,
        }
        for r in rows
    ]


def level_of(marking: str) -> int:
    """The rank of a TLP marking; an unknown marking is refused by name."""
    level = LEVELS.get(marking)
    if level is None:
        raise ValueError(f"unknown marking {marking!r}; expected one of {', '.join(LEVELS)}")
    return level


def scalar(value: Any) -> Any:
    """A value Neo4j can hold as a plain property, or None (which clears the property)."""
    return value if type(value) in SCALARS else None


def relation_params(rows: Iterable[RelationRow]) -> list[dict[str, Any]]:
    """`cypher.upsert_relations` rows, with `FLAT_RELATION_PROPS` as top-level keys."""
    stamp = now()
    return [
        {
            "source": r.source,
            "type": r.type,
            "target": r.target,
            "key": r.key,
            "marking": r.marking,
            "level": level_of(r.marking),
            "props": dump_props(r.props),
            "created_at": r.created_at or stamp,
            "updated_at": r.updated_at or stamp,
            "buffer_hours": scalar(r.props.get("buffer_hours")),
            "strength": scalar(r.props.get("strength")),
            "redundancy_group": scalar(r.props.get("redundancy_group")),
            "share": scalar(r.props.get("share")),
            "year": scalar(r.props.get("year")),
        }
        for r in rows
    ]


def entity_from_record(record: Any) -> EntityRow:
    """An EntityRow from a record with `cypher.ENTITY_RETURN` columns."""
    return EntityRow(
        record["id"],
        record["kind"],
        record["name"],
        record["marking"],
        orjson.loads(record["props"]),
        record["created_at"],
        record["updated_at"],
    )


def relation_from_record(record: Any) -> RelationRow:
    """A RelationRow from a record with `cypher.RELATION_RETURN` columns."""
    return RelationRow(
        record["source"],
        record["type"],
        record["target"],
        record["key"],
        record["marking"],
        orjson.loads(record["props"]),
        record["created_at"],
        record["updated_at"],
    )


def _chunks(rows: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# -- the bulk writer ----------------------------------------------------------------------


class Neo4jWriter:
    """The open explicit transaction of `Neo4jStore.writer()`."""

    def __init__(self, tx: Any) -> None:
        self.tx = tx
        self.counts = WriteCounts()
        self.deleted = 0

    prepare = (entity_params, relation_params)
    """Pure functions from rows to `write_*_params` input, for `keten.ingest.pipeline`."""

    def upsert_entities(self, rows: list[EntityRow]) -> None:
        """Insert or update; identical records are left alone."""
        self.write_entity_params(entity_params(rows))

    def upsert_relations(self, rows: list[RelationRow]) -> None:
        """Insert or update; refuses relations whose ends do not exist."""
        self.write_relation_params(relation_params(rows))

    def write_entity_params(self, params: list[dict[str, Any]]) -> None:
        """Write rows made by `entity_params`, one UNWIND per kind (a label) and batch."""
        by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in params:
            by_kind[cypher.label(row["kind"])].append(row)
        for kind, group in by_kind.items():
            statement = cypher.upsert_entities(kind)
            for batch in _chunks(group):
                created, updated = self._run_upsert(statement, batch)
                self.counts.entities_created += created
                self.counts.entities_updated += updated
                self.counts.entities_unchanged += len(batch) - created - updated

    def write_relation_params(self, params: list[dict[str, Any]]) -> None:
        """Write rows made by `relation_params`, one UNWIND per type and batch."""
        ends = sorted({p["source"] for p in params} | {p["target"] for p in params})
        missing: list[str] = []
        for batch in _chunks(ends):
            missing += self.tx.run(cypher.MISSING_IDS, ids=batch).single()["missing"]
        if missing:
            raise ValueError(f"relations refer to unknown entities: {', '.join(missing[:20])}")
        by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in params:
            by_type[cypher.relationship_type(row["type"])].append(row)
        for type_, group in by_type.items():
            statement = cypher.upsert_relations(type_)
            for batch in _chunks(group):
                created, updated = self._run_upsert(statement, batch)
                self.counts.relations_created += created
                self.counts.relations_updated += updated
                self.counts.relations_unchanged += len(batch) - created - updated

    def _run_upsert(self, statement: str, batch: list[dict[str, Any]]) -> tuple[int, int]:
        record = self.tx.run(statement, rows=batch).single()
        return int(record["created"]), int(record["updated"])

    def kinds_of(self, ids: Iterable[str]) -> dict[str, str]:
        """Kinds of the ids the store holds, as seen inside this transaction."""
        found: dict[str, str] = {}
        for batch in _chunks(list(ids)):
            for record in self.tx.run(cypher.KINDS_OF, ids=batch):
                found[record["id"]] = record["kind"]
        return found

    @property
    def changed(self) -> bool:
        """True when the transaction created, updated or deleted anything."""
        c = self.counts
        return bool(
            c.entities_created
            or c.entities_updated
            or c.relations_created
            or c.relations_updated
            or self.deleted
        )


# -- the store ----------------------------------------------------------------------------


class Neo4jStore:
    """`GraphStore` on Neo4j 5; thread-safe (the driver pools connections, sessions are per call).

    Creates its constraints and indexes on start; a server that cannot be reached is
    reported with its URI.
    """

    name = "neo4j"

    def __init__(
        self, uri: str, user: str = "neo4j", password: str = "", *, database: str | None = None
    ) -> None:
        self.uri = uri
        self.database = database
        self._driver: Driver = GraphDatabase.driver(uri, auth=(user, password))
        try:
            with self._session(WRITE_ACCESS) as session:
                for statement in cypher.SCHEMA_STATEMENTS:
                    session.run(statement).consume()
                session.execute_write(lambda tx: tx.run(cypher.ENSURE_META).consume())
        except (ServiceUnavailable, Neo4jError, OSError) as exc:
            self._driver.close()
            raise ConnectionError(f"cannot use Neo4j at {uri}: {exc}") from exc

    def _session(self, access_mode: str) -> Session:
        return self._driver.session(database=self.database, default_access_mode=access_mode)

    def _read(self, work: Callable[[ManagedTransaction], R]) -> R:
        with self._session(READ_ACCESS) as session:
            return session.execute_read(work)

    def _write(self, work: Callable[[ManagedTransaction], R]) -> R:
        with self._session(WRITE_ACCESS) as session:
            return session.execute_write(work)

    def _records(self, statement: str, **params: Any) -> list[Any]:
        return self._read(lambda tx: list(tx.run(statement, **params)))

    def revision(self) -> int:
        """Monotonic counter raised by each write that changed something."""
        records = self._records(cypher.READ_REVISION)
        return int(records[0]["revision"]) if records else 0

    @contextmanager
    def writer(
        self, actor: str | None = None, action: str = "write", submission: str | None = None
    ) -> Iterator[Neo4jWriter]:
        """One explicit write transaction: committed on normal exit, rolled back on error.

        Explicit rather than managed: a bundle is all-or-nothing, and replaying a caller's
        block on a transient error is not ours to decide. (Neo4j keeps no audit trail, so
        actor, action and submission are accepted for the contract and not stored.)
        """
        with self._session(WRITE_ACCESS) as session:
            tx = session.begin_transaction()
            try:
                writer = Neo4jWriter(tx)
                yield writer
                if writer.changed:
                    tx.run(cypher.BUMP_REVISION).consume()
                tx.commit()
            finally:
                if not tx.closed():
                    tx.rollback()

    def get_entity(self, entity_id: str, clearance: Tlp = Tlp.RED) -> EntityRow | None:
        """One entity, or None when absent or above `clearance`."""
        records = self._records(cypher.GET_ENTITY, id=entity_id, level=clearance.level)
        return entity_from_record(records[0]) if records else None

    def list_entities(
        self, flt: EntityFilter, cursor: str | None = None, limit: int = 100
    ) -> Page[EntityRow]:
        """Entities ordered by id; `cursor` continues after the previous page."""
        if flt.as_of:
            raise HistoryUnavailableError("as_of listings need the SQLite store's history")
        if flt.kind and flt.kind not in cypher.KINDS:
            return Page([], None)
        params: dict[str, Any] = {"level": flt.clearance.level, "limit": limit + 1}
        if flt.text:
            params["text"] = flt.text.lower()
        if flt.marking:
            params["marking"] = Tlp(flt.marking).level
        if cursor:
            (params["after"],) = decode_cursor(cursor, 1)
        statement = cypher.list_entities(flt.kind, bool(flt.text), bool(flt.marking), bool(cursor))
        rows = [entity_from_record(r) for r in self._records(statement, **params)]
        return page_of(rows, limit, lambda e: (e.id,))

    def get_relation(
        self, ref: tuple[str, str, str, str], clearance: Tlp = Tlp.RED
    ) -> RelationRow | None:
        """One relation by identity, or None when absent or not visible."""
        source, type_, target, key = ref
        if type_ not in cypher.TYPES:
            return None
        records = self._records(
            cypher.get_relation(type_),
            source=source,
            target=target,
            key=key,
            level=clearance.level,
        )
        return relation_from_record(records[0]) if records else None

    def list_relations(
        self, flt: RelationFilter, cursor: str | None = None, limit: int = 100
    ) -> Page[RelationRow]:
        """Relations ordered by identity; hidden if they or an endpoint are above clearance."""
        if flt.as_of:
            raise HistoryUnavailableError("as_of listings need the SQLite store's history")
        if flt.type and flt.type not in cypher.TYPES:
            return Page([], None)
        params: dict[str, Any] = {"level": flt.clearance.level, "limit": limit + 1}
        if flt.source:
            params["source"] = flt.source
        if flt.target:
            params["target"] = flt.target
        if flt.marking:
            params["marking"] = Tlp(flt.marking).level
        if cursor:
            after = decode_cursor(cursor, 4)
            params.update({f"a{i}": value for i, value in enumerate(after)})
        statement = cypher.list_relations(
            flt.type, bool(flt.source), bool(flt.target), bool(flt.marking), bool(cursor)
        )
        rows = [relation_from_record(r) for r in self._records(statement, **params)]
        return page_of(rows, limit, lambda r: r.ref)

    def delete_entity(self, entity_id: str, actor: str | None = None) -> list[RelationRow] | None:
        """Delete an entity with its relations; returns those relations, None if absent."""

        def work(tx: ManagedTransaction) -> list[RelationRow] | None:
            records = list(tx.run(cypher.RELATIONS_OF_ENTITY, id=entity_id))
            if not records:
                return None
            gone = [relation_from_record(r) for r in records if r["source"] is not None]
            tx.run(cypher.DELETE_ENTITY, id=entity_id).consume()
            tx.run(cypher.BUMP_REVISION).consume()
            return gone

        return self._write(work)

    def delete_relation(self, ref: tuple[str, str, str, str], actor: str | None = None) -> bool:
        """Delete one relation; False when it was not there."""
        source, type_, target, key = ref
        if type_ not in cypher.TYPES:
            return False

        def work(tx: ManagedTransaction) -> bool:
            record = tx.run(
                cypher.delete_relation(type_), source=source, target=target, key=key
            ).single()
            if record is None or not record["deleted"]:
                return False
            tx.run(cypher.BUMP_REVISION).consume()
            return True

        return self._write(work)

    def audit(self, *args: Any, **kwargs: Any) -> Page[Any]:
        """Neo4j keeps no audit trail: refused with a clear error."""
        raise HistoryUnavailableError("the audit trail needs the SQLite store")

    def neighbourhood(
        self, entity_id: str, depth: int = 1, clearance: Tlp = Tlp.RED, limit: int = 500
    ) -> tuple[list[EntityRow], list[RelationRow]]:
        """Entities within `depth` hops either way (at most `limit`) and relations among them.

        Breadth first, one query per hop, with the same rules as `SqliteStore.neighbourhood`.
        """
        if self.get_entity(entity_id, clearance) is None:
            return [], []
        seen, relations = walk_neighbourhood(
            entity_id, depth, limit, lambda ids: self._touching(ids, clearance)
        )
        records = self._records(cypher.ENTITIES_BY_ID, ids=sorted(seen))
        entities = [entity_from_record(r) for r in records]
        return entities, relations

    def _touching(self, ids: set[str], clearance: Tlp) -> list[RelationRow]:
        if not ids:
            return []
        records = self._records(cypher.RELATIONS_TOUCHING, ids=sorted(ids), level=clearance.level)
        return sorted((relation_from_record(r) for r in records), key=lambda r: r.ref)

    def iter_entities(self, clearance: Tlp = Tlp.RED) -> Iterator[EntityRow]:
        """Every entity at or below `clearance`, ordered by id, one read transaction a page."""
        cursor: str | None = None
        while True:
            page = self.list_entities(EntityFilter(clearance=clearance), cursor, STREAM_PAGE)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def iter_relations(self, clearance: Tlp = Tlp.RED) -> Iterator[RelationRow]:
        """Every visible relation, ordered by identity, streamed a page of sources at a time.

        Pages follow the source ids through the uniqueness index, so each read transaction
        touches only its own sources' relations (keyset paging on the relation identity
        would sort every relation for every page).
        """
        after = ""
        level = clearance.level

        def page(tx: ManagedTransaction) -> tuple[list[str], list[RelationRow]]:
            records = tx.run(cypher.ENTITY_IDS_PAGE, after=after, level=level, limit=STREAM_PAGE)
            ids = [r["id"] for r in records]
            rows = [
                relation_from_record(r) for r in tx.run(cypher.RELATIONS_FROM, ids=ids, level=level)
            ]
            return ids, sorted(rows, key=lambda r: r.ref)

        while True:
            ids, rows = self._read(page)
            yield from rows
            if len(ids) < STREAM_PAGE:
                return
            after = ids[-1]

    def projection_rows(
        self, clearance: Tlp = Tlp.RED
    ) -> tuple[list[tuple[str, str, str]], list[dict[str, Any]]]:
        """Just what the analysis projection reads: (id, kind, name) and the cascade edges'
        numbers, without the property documents or provenance."""
        level = clearance.level
        entities = [
            (r["id"], r["kind"], r["name"])
            for r in self._records(cypher.PROJECTION_ENTITIES, level=level)
        ]
        relations = [r.data() for r in self._records(cypher.PROJECTION_RELATIONS, level=level)]
        return entities, relations

    def counts(self, clearance: Tlp = Tlp.RED) -> dict[str, int]:
        """Numbers of visible entities and relations."""
        level = clearance.level
        entities = self._records(cypher.COUNT_ENTITIES, level=level)[0]["total"]
        relations = self._records(cypher.COUNT_RELATIONS, level=level)[0]["total"]
        return {"entities": int(entities), "relations": int(relations)}

    def run_read(
        self, statement: str, params: dict[str, Any], limit: int, timeout: float = 30.0
    ) -> tuple[list[str], list[list[Any]], bool]:
        """Run Cypher in a READ transaction: (columns, at most `limit` rows, truncated).

        The session's READ access mode makes the server refuse any write, whatever the text.
        """

        def work(tx: ManagedTransaction) -> tuple[list[str], list[list[Any]], bool]:
            result = tx.run(statement, params)
            columns = list(result.keys())
            rows = [list(record.values()) for record in result.fetch(limit + 1)]
            result.consume()
            return columns, rows[:limit], len(rows) > limit

        work_with_timeout = _with_timeout(work, timeout)
        return self._read(work_with_timeout)

    def wipe(self) -> None:
        """Delete everything, revision included (tests only)."""
        self._write(lambda tx: tx.run(cypher.WIPE).consume())
        self._write(lambda tx: tx.run(cypher.ENSURE_META).consume())

    def close(self) -> None:
        """Close the driver and its connection pool."""
        self._driver.close()


def _with_timeout(
    work: Callable[[ManagedTransaction], R], seconds: float
) -> Callable[[ManagedTransaction], R]:
    from neo4j import unit_of_work

    return unit_of_work(timeout=seconds)(work)


def open_test_store() -> Neo4jStore:
    """An empty `Neo4jStore` on the server in NEO4J_URI (NEO4J_USER, NEO4J_PASSWORD).

    For the contract suite: it wipes the database, so point it at a throwaway server.
    """
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        raise RuntimeError("NEO4J_URI is not set: the Neo4j tests need a throwaway server")
    store = Neo4jStore(
        uri,
        os.environ.get("NEO4J_USER", "neo4j"),
        os.environ.get("NEO4J_PASSWORD", ""),
        database=os.environ.get("NEO4J_DATABASE") or None,
    )
    store.wipe()
    return store
