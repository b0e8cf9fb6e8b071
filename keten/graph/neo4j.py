"""`Neo4jStore`: the `GraphStore` contract on a Neo4j 5 server (5.23 or newer), for shared
deployments.

Selected by `KETEN_STORE=bolt://...` or `neo4j://...` (a `neo4j://` URI routes to a cluster:
reads go to followers, writes to the leader). Semantics are `SqliteStore`'s, checked by the
same contract suite: writes merge through `keten.graph.merge` (`Neo4jWriter`), every write
transaction locks the meta node first and takes a stamp later than any before it, revisions
count per clearance, `source_ids` are redacted, changed and deleted records keep their
before images for `as_of`, and the audit trail is append-only. Every statement comes from
`keten.graph.cypher`; rows map to native properties in `keten.graph.neo4j_rows`.

A server that cannot be reached, refuses our credentials or goes away mid-request raises
`StoreUnavailableError` with one line saying where, what failed and what to check; the
driver reconnects by itself on the next call once the server is back.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from operator import itemgetter
from typing import Any, ParamSpec, TypeVar

from neo4j import READ_ACCESS, WRITE_ACCESS, Driver, GraphDatabase, ManagedTransaction, Session
from neo4j.exceptions import (
    AuthError,
    ConfigurationError,
    DriverError,
    IncompleteCommit,
    ServiceUnavailable,
    SessionExpired,
)

from keten.graph import cypher
from keten.graph.history import AuditContext, AuditEntry, audit_page, reader_detail
from keten.graph.neo4j_rows import entity_from_map, relation_from_map
from keten.graph.neo4j_writer import WRITE_WAIT, Neo4jWriter
from keten.graph.rows import LEVELS, normalise_time
from keten.graph.store import (
    EntityFilter,
    EntityRow,
    HasRelationsError,
    Page,
    Ref,
    RelationFilter,
    RelationRow,
    StoreUnavailableError,
    WriteMode,
    decode_cursor,
    page_of,
    redact_sources,
    walk_neighbourhood,
)
from keten.schema.markings import Tlp

STREAM_PAGE = 10_000
"""Rows per read transaction when streaming the whole graph (export)."""
MINIMUM_VERSION = (5, 23)
"""`CALL (x) { ... }` subqueries, which keten's statements use, came with Neo4j 5.23."""
DRIVER_ERRORS = (DriverError, AuthError)
"""The driver's failures of the connection (AuthError comes from the server)."""
CONNECTION_ERRORS = (*DRIVER_ERRORS, OSError)
"""The same, and socket errors that reach us unwrapped."""
P = ParamSpec("P")
R = TypeVar("R")


def one_line(text: str) -> str:
    """A server message on one line."""
    return re.sub(r"\s+", " ", text).strip()


def _unavailable(method: Callable[P, R]) -> Callable[P, R]:
    """Turn the driver's connection failures into one-line `StoreUnavailableError`s."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except StoreUnavailableError:
            raise
        except CONNECTION_ERRORS as exc:
            store = args[0]
            assert isinstance(store, Neo4jStore)
            raise store.unavailable(exc) from exc

    return guarded


def _unavailable_stream(method: Callable[P, Iterator[R]]) -> Callable[P, Iterator[R]]:
    """`_unavailable` for generators: failures while streaming are caught too."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> Iterator[R]:
        try:
            yield from method(*args, **kwargs)
        except StoreUnavailableError:
            raise
        except CONNECTION_ERRORS as exc:
            store = args[0]
            assert isinstance(store, Neo4jStore)
            raise store.unavailable(exc) from exc

    return guarded


class Neo4jStore:
    """`GraphStore` on Neo4j; thread-safe (the driver pools connections, sessions are per call).

    Creates its constraints and indexes on start.
    """

    name = "neo4j"

    def __init__(
        self,
        uri: str,
        user: str = "neo4j",
        password: str = "",
        *,
        database: str | None = None,
        tx_rows: int | None = None,
    ) -> None:
        self.uri = uri
        self.user = user
        self.database = database
        self.tx_rows = tx_rows
        try:
            self._driver: Driver = GraphDatabase.driver(
                uri,
                auth=(user, password),
                connection_timeout=5.0,
                connection_acquisition_timeout=10.0,
                max_transaction_retry_time=5.0,
                notifications_disabled_classifications=["UNRECOGNIZED"],
            )
        except (ConfigurationError, ValueError) as exc:
            raise StoreUnavailableError(
                f"cannot use Neo4j at {uri}: {one_line(str(exc))}; check KETEN_STORE"
            ) from exc
        try:
            self._prepare()
        except (*CONNECTION_ERRORS, ValueError) as exc:  # ValueError: an address unresolved
            self._driver.close()
            raise self.unavailable(exc) from exc

    def _prepare(self) -> None:
        """Check the server version, create the schema and the meta node."""
        with self._session(WRITE_ACCESS) as session:
            record = session.run(cypher.SERVER_VERSION).single(strict=True)
            version = tuple(int(p) for p in re.findall(r"\d+", record["version"])[:2])
            if version < MINIMUM_VERSION:
                raise StoreUnavailableError(
                    f"Neo4j at {self.uri} is version {record['version']}; keten needs 5.23 "
                    "or newer (its Cypher uses CALL (x) { ... } subqueries)"
                )
            for statement in cypher.schema_statements():
                session.run(statement).consume()
            if not session.run(cypher.META_EXISTS).single(strict=True)["found"]:
                session.execute_write(lambda tx: tx.run(cypher.ENSURE_META).consume())

    def unavailable(self, exc: BaseException) -> StoreUnavailableError:
        """One line for a person: where, what failed, what to check."""
        reason = one_line(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
        if isinstance(exc, ValueError):
            return StoreUnavailableError(
                f"cannot use Neo4j at {self.uri}: {reason}; check KETEN_STORE"
            )
        if isinstance(exc, AuthError):
            return StoreUnavailableError(
                f"Neo4j at {self.uri} refused user {self.user!r} ({reason}); "
                "check KETEN_NEO4J_USER and KETEN_NEO4J_PASSWORD"
            )
        if isinstance(exc, IncompleteCommit):
            return StoreUnavailableError(
                f"lost Neo4j at {self.uri} while committing ({reason}); the write may or may "
                "not have landed: check it, then try again"
            )
        if isinstance(exc, SessionExpired | ServiceUnavailable | OSError):
            return StoreUnavailableError(
                f"cannot reach Neo4j at {self.uri} ({reason}); check that the server runs "
                "and that KETEN_STORE names it"
            )
        return StoreUnavailableError(f"Neo4j at {self.uri} failed: {reason}")

    def _session(self, access_mode: str, fetch_size: int = 1000) -> Session:
        """A session sharing the driver's bookmarks: on a cluster, a read in this process
        waits until the follower it goes to has every write this process made."""
        return self._driver.session(
            database=self.database,
            default_access_mode=access_mode,
            fetch_size=fetch_size,
            bookmark_manager=self._driver.execute_query_bookmark_manager,
        )

    def _read(self, work: Callable[[ManagedTransaction], R], fetch_size: int = 1000) -> R:
        session = self._session(READ_ACCESS, fetch_size)
        with session:
            return session.execute_read(work)

    def _records(self, statement: str, **params: Any) -> list[Any]:
        return self._read(lambda tx: list(tx.run(statement, **params)))

    # -- revisions and writes ------------------------------------------------------------

    @_unavailable
    def revision(self, clearance: Tlp = Tlp.RED) -> int:
        """How many writes changed something a key of `clearance` can see."""
        records = self._records(cypher.READ_REVISION, level=Tlp(clearance).level)
        return int(records[0]["revision"] or 0) if records else 0

    @contextmanager
    def writer(
        self,
        actor: str | None = None,
        action: str = "write",
        submission: str | None = None,
        mode: WriteMode = WriteMode.MERGE,
    ) -> Iterator[Neo4jWriter]:
        """One write: committed on normal exit, nothing kept on any exception.

        Small writes are one transaction; a bulk load goes on in bounded transactions and
        becomes visible in its last (see `keten.graph.neo4j_writer`).
        """
        with self._session(WRITE_ACCESS) as session:
            context = AuditContext(actor, action, submission)
            if self.tx_rows:
                writer = Neo4jWriter(session, context, mode, self.tx_rows)
            else:
                writer = Neo4jWriter(session, context, mode)
            self._guarded(writer.begin, WRITE_WAIT)
            try:
                yield writer
            except DRIVER_ERRORS as exc:  # the writer's own statements lost the server
                self._abort(writer)
                raise self.unavailable(exc) from exc
            except BaseException:
                self._abort(writer)
                raise
            self._guarded(writer.commit)

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        """Run a step of the writer; a lost connection becomes StoreUnavailableError."""
        try:
            step(*args)
        except StoreUnavailableError:
            raise
        except CONNECTION_ERRORS as exc:
            raise self.unavailable(exc) from exc

    @staticmethod
    def _abort(writer: Neo4jWriter) -> None:
        """Roll back; a server gone meanwhile leaves a hidden stage for the next writer."""
        with suppress(*CONNECTION_ERRORS):
            writer.abort()

    # -- reading ---------------------------------------------------------------------------

    def _green_ids(self, ids: set[str]) -> set[str]:
        return {r["id"] for r in self._records(cypher.GREEN_IDS, ids=sorted(ids))}

    def _levels_of(self, ids: set[str]) -> dict[str, int]:
        records = self._records(cypher.LEVELS_OF, ids=sorted(ids))
        return {r["id"]: int(r["level"]) for r in records}

    def _redact(self, rows: list[Any], clearance: Tlp) -> list[Any]:
        return redact_sources(rows, clearance, self._levels_of)

    @_unavailable
    def get_entity(self, entity_id: str, clearance: Tlp = Tlp.RED) -> EntityRow | None:
        """One entity, or None when absent or above `clearance`."""
        records = self._records(cypher.GET_ENTITY, id=entity_id, level=clearance.level)
        if not records:
            return None
        return self._redact([entity_from_map(records[0]["node"])], clearance)[0]

    @_unavailable
    def list_entities(
        self, flt: EntityFilter, cursor: str | None = None, limit: int = 100
    ) -> Page[EntityRow]:
        """Entities ordered by id; `cursor` continues after the previous page."""
        params: dict[str, Any] = {"level": flt.clearance.level, "limit": limit + 1}
        if flt.text:
            params["text"] = flt.text.lower()
            params["search"] = cypher.fulltext_query(flt.text)
        if flt.marking:
            params["marking"] = Tlp(flt.marking).level
        if cursor:
            (params["after"],) = decode_cursor(cursor, 1)
        if flt.kind and flt.kind not in cypher.KINDS:
            return Page([], None)
        flags = (bool(flt.text), bool(flt.marking), bool(cursor))
        if flt.as_of:
            params["as_of"] = normalise_time(flt.as_of)
            if flt.kind:
                params["kind"] = flt.kind
            statement = cypher.list_entities_as_of(bool(flt.kind), *flags)
        else:
            statement = cypher.list_entities(flt.kind, *flags)
        rows = [entity_from_map(r["node"]) for r in self._records(statement, **params)]
        return page_of(self._redact(rows, flt.clearance), limit, lambda e: (e.id,))

    @_unavailable
    def get_relation(self, ref: Ref, clearance: Tlp = Tlp.RED) -> RelationRow | None:
        """One relation by identity, or None when absent or not visible."""
        source, type_, target, key = ref
        records = self._records(
            cypher.GET_RELATION,
            source=source,
            type=type_,
            target=target,
            key=key,
            level=clearance.level,
        )
        if not records:
            return None
        return self._redact([self._relation(records[0])], clearance)[0]

    @staticmethod
    def _relation(record: Any) -> RelationRow:
        return relation_from_map(record["source"], record["type"], record["target"], record["rel"])

    @_unavailable
    def list_relations(
        self, flt: RelationFilter, cursor: str | None = None, limit: int = 100
    ) -> Page[RelationRow]:
        """Relations ordered by identity; hidden if they or an endpoint are above clearance."""
        if flt.type and flt.type not in cypher.TYPES:
            return Page([], None)
        params: dict[str, Any] = {"level": flt.clearance.level, "limit": limit + 1}
        for name in ("type", "source", "target"):
            if getattr(flt, name):
                params[name] = getattr(flt, name)
        if flt.marking:
            params["marking"] = Tlp(flt.marking).level
        if cursor:
            params.update(zip(("a0", "a1", "a2", "a3"), decode_cursor(cursor, 4), strict=True))
        flags = (bool(flt.source), bool(flt.target), bool(flt.marking), bool(cursor))
        if flt.as_of:
            params["as_of"] = normalise_time(flt.as_of)
            statement = cypher.list_relations_as_of(bool(flt.type), *flags)
        else:
            params.pop("type", None)
            statement = cypher.list_relations(flt.type, *flags)
        rows = [self._relation(r) for r in self._records(statement, **params)]
        return page_of(self._redact(rows, flt.clearance), limit, lambda r: r.ref)

    # -- deleting --------------------------------------------------------------------------

    def delete_entity(
        self,
        entity_id: str,
        clearance: Tlp = Tlp.RED,
        cascade: bool = False,
        actor: str | None = None,
    ) -> list[RelationRow] | None:
        """Delete an entity (see `GraphStore.delete_entity`); the visible relations that went."""
        with self.writer(actor, "delete") as w:
            entity = w.stored_entities([entity_id]).get(entity_id)
            if entity is None or not clearance.allows(entity.marking):
                return None
            touching = w.touching(entity_id)
            visible = self._visible(w, touching, clearance)
            if visible and not cascade:
                raise HasRelationsError(entity_id, len(visible))
            w.delete_entity(entity, touching)
        return self._redact(visible, clearance)

    @staticmethod
    def _visible(w: Neo4jWriter, relations: list[RelationRow], clearance: Tlp) -> list[RelationRow]:
        """Those of `relations` a key of `clearance` can see (they and both ends)."""
        if clearance == Tlp.RED:
            return relations
        ends = w.levels_of({end for r in relations for end in (r.source, r.target)})
        seen = {i for i, level in ends.items() if level <= clearance.level}
        return [
            r
            for r in relations
            if clearance.allows(r.marking) and r.source in seen and r.target in seen
        ]

    def delete_relation(
        self, ref: Ref, clearance: Tlp = Tlp.RED, actor: str | None = None
    ) -> RelationRow | None:
        """Delete one visible relation; the row deleted, or None when it was not there."""
        with self.writer(actor, "delete") as w:
            relation = w.stored_relations([ref]).get(ref)
            if relation is None or not self._visible(w, [relation], clearance):
                return None
            ends = w.levels_of([relation.source, relation.target]).values()
            w.delete_relation(relation, max([LEVELS[relation.marking], *ends]))
        return self._redact([relation], clearance)[0]

    # -- history ---------------------------------------------------------------------------

    @_unavailable
    def audit(
        self,
        entity: str | None = None,
        since: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
        clearance: Tlp = Tlp.RED,
    ) -> Page[AuditEntry]:
        """The audit trail in order: entries `clearance` may read, optionally for one entity
        (and its relations) or since a time."""

        def read(after: int) -> list[AuditEntry]:
            return self._audit_page(entity, since, after, limit, clearance)

        return audit_page(cursor, limit, clearance, read, self._green_ids)

    def _audit_page(
        self, entity: str | None, since: str | None, after: int, limit: int, clearance: Tlp
    ) -> list[AuditEntry]:
        """Up to `limit + 1` entries after `after` that `clearance` may read."""
        params: dict[str, Any] = {"after": after, "level": clearance.level, "limit": limit + 1}
        if entity:
            params["entity"] = entity
        if since:
            params["since"] = normalise_time(since)
        records = self._records(cypher.read_audit(bool(entity), bool(since)), **params)
        return [self._entry(r, clearance.level) for r in records]

    @staticmethod
    def _entry(record: Any, level: int) -> AuditEntry:
        """An audit node as an entry, bulk counts summed over the levels the reader may see."""
        detail = reader_detail(record["detail"], level)
        relation = record["relation"]
        return AuditEntry(
            record["seq"],
            record["at"],
            record["actor"],
            record["action"],
            record["entity"] if relation is None else None,
            list(relation) if relation is not None else None,
            record["submission"],
            detail,
        )

    # -- neighbourhoods and streams --------------------------------------------------------

    @_unavailable
    def neighbourhood(
        self, entity_id: str, depth: int = 1, clearance: Tlp = Tlp.RED, limit: int = 500
    ) -> tuple[list[EntityRow], list[RelationRow]]:
        """Entities within `depth` hops either way (at most `limit`) and relations among them."""
        if self.get_entity(entity_id, clearance) is None:
            return [], []
        kept = walk_neighbourhood(
            entity_id,
            depth,
            limit,
            lambda ids, seen, most: self._unseen_neighbours(ids, seen, most, clearance),
        )
        records = self._records(cypher.ENTITIES_BY_ID, ids=sorted(kept))
        entities = [entity_from_map(r["node"]) for r in records]
        found = self._records(cypher.RELATIONS_AMONG, ids=sorted(kept), level=clearance.level)
        relations = sorted((self._relation(r) for r in found), key=lambda r: r.ref)
        return self._redact(entities, clearance), self._redact(relations, clearance)

    def _unseen_neighbours(
        self, ids: list[str], seen: set[str], most: int, clearance: Tlp
    ) -> dict[str, list[str]]:
        """Each id's first `most` visible neighbours outside `seen`, by id: one round trip."""
        records = self._records(
            cypher.UNSEEN_NEIGHBOURS,
            ids=ids,
            seen=sorted(seen),
            most=most,
            level=clearance.level,
        )
        return {r["id"]: list(r["others"]) for r in records}

    def _touching(self, ids: set[str], clearance: Tlp) -> list[RelationRow]:
        if not ids:
            return []
        records = self._records(cypher.RELATIONS_TOUCHING, ids=sorted(ids), level=clearance.level)
        return sorted((self._relation(r) for r in records), key=lambda r: r.ref)

    @_unavailable_stream
    def iter_entities(self, clearance: Tlp = Tlp.RED) -> Iterator[EntityRow]:
        """Every entity at or below `clearance`, ordered by id, one read transaction a page."""
        cursor: str | None = None
        while True:
            page = self.list_entities(EntityFilter(clearance=clearance), cursor, STREAM_PAGE)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    @_unavailable_stream
    def iter_relations(self, clearance: Tlp = Tlp.RED) -> Iterator[RelationRow]:
        """Every visible relation, streamed a page of source ids at a time (each read
        transaction touches only its own sources' relations)."""
        after = ""
        level = clearance.level

        def page(tx: ManagedTransaction) -> tuple[list[str], list[RelationRow]]:
            records = tx.run(cypher.ENTITY_IDS_PAGE, after=after, level=level, limit=STREAM_PAGE)
            ids = [r["id"] for r in records]
            rows = [self._relation(r) for r in tx.run(cypher.RELATIONS_FROM, ids=ids, level=level)]
            return ids, sorted(rows, key=lambda r: r.ref)

        while True:
            ids, rows = self._read(page)
            yield from self._redact(rows, clearance)
            if len(ids) < STREAM_PAGE:
                return
            after = ids[-1]

    @_unavailable
    def projection_rows(
        self, clearance: Tlp = Tlp.RED
    ) -> tuple[list[EntityRow], list[RelationRow]]:
        """Just what the analysis projection reads: entities' id, kind and name, and every
        visible relation with the numbers the cascade and the assessment rule use."""
        level = clearance.level

        def entities(tx: ManagedTransaction) -> list[EntityRow]:
            result = tx.run(cypher.PROJECTION_ENTITIES, level=level)
            return [EntityRow(i, k, n) for i, k, n in result]

        def relations(tx: ManagedTransaction) -> list[RelationRow]:
            groups = sorted(tx.run(cypher.PROJECTION_RELATIONS, level=level), key=itemgetter(0))
            return [row for source, items in groups for row in projected(source, items)]

        return self._read(entities, -1), self._read(relations, -1)

    @_unavailable
    def audit_head(self) -> tuple[int, str]:
        """Number and time of the last audit entry ((0, "") when none): where an analysis
        projection read now stands in the trail (keten.graph.projection_delta)."""
        records = self._records(cypher.AUDIT_HEAD)
        return (int(records[0]["seq"]), str(records[0]["at"])) if records else (0, "")

    @_unavailable
    def audit_since(self, seq: int, limit: int) -> list[tuple[Any, ...]]:
        """Up to `limit` audit entries from number `seq` on, whatever their level, as
        (seq, at, action, entity, other, relation, detail JSON): what an analysis projection
        reads to follow the writes since it (keten.graph.projection_delta)."""
        records = self._records(cypher.AUDIT_FROM, after=seq, limit=limit)
        return [
            (r["seq"], r["at"], r["action"], r["entity"], r["other"], r["relation"], r["detail"])
            for r in records
        ]

    @_unavailable
    def relations_touching(self, ids: set[str], clearance: Tlp = Tlp.RED) -> list[RelationRow]:
        """Every visible relation with an end among `ids` (what a projection reads again
        after a write about them)."""
        return self._touching(ids, clearance)

    @_unavailable
    def counts(self, clearance: Tlp = Tlp.RED) -> dict[str, int]:
        """Numbers of visible entities and relations."""
        level = clearance.level
        entities = self._records(cypher.COUNT_ENTITIES, level=level)[0]["total"]
        relations = self._records(cypher.COUNT_RELATIONS, level=level)[0]["total"]
        return {"entities": int(entities), "relations": int(relations)}

    @_unavailable
    def is_empty(self) -> bool:
        """True when the store holds no visible entity (a RESTORE is only for an empty store)."""
        return not self._records(cypher.ANY_ENTITY)

    @_unavailable
    def hidden_loads(self) -> list[str]:
        """Loads whose records are not visible yet (named queries leave them out)."""
        return list(self._records(cypher.READ_HIDDEN)[0]["hidden"])

    @_unavailable
    def run_read(
        self, statement: str, params: dict[str, Any], limit: int, timeout: float = 30.0
    ) -> tuple[list[str], list[list[Any]], bool]:
        """Run Cypher in a READ transaction: (columns, at most `limit` rows, truncated).

        The session's READ access mode makes the server refuse any write, whatever the text.
        """
        from neo4j import unit_of_work

        @unit_of_work(timeout=timeout)
        def work(tx: ManagedTransaction) -> tuple[list[str], list[list[Any]], bool]:
            result = tx.run(statement, params)
            columns = list(result.keys())
            rows = [list(record.values()) for record in result.fetch(limit + 1)]
            result.consume()
            return columns, rows[:limit], len(rows) > limit

        return self._read(work)

    @_unavailable
    def clear_abandoned_loads(self) -> None:
        """Remove the stages of bulk loads whose process died (the next writer does it too)."""
        with self._session(WRITE_ACCESS) as session:
            writer = Neo4jWriter(session, AuditContext(), WriteMode.MERGE)
            writer.begin(0)
            assert writer.tx is not None
            writer.tx.rollback()

    @_unavailable
    def wipe(self) -> None:
        """Delete everything, revisions and history included (tests and benchmarks only)."""
        with self._session(WRITE_ACCESS) as session:
            session.run(cypher.WIPE_RELATIONSHIPS).consume()
            session.run(cypher.WIPE_NODES).consume()
            session.execute_write(lambda tx: tx.run(cypher.ENSURE_META).consume())

    def close(self) -> None:
        """Close the driver and its connection pool."""
        self._driver.close()


NUMBERS = ("buffer_hours", "strength", "redundancy_group", "reliability", "credibility")


def projected(source: str, items: list[list[Any]]) -> list[RelationRow]:
    """The relations of one source as `PROJECTION_RELATIONS` gives them, ordered by identity
    (as `iter_relations` streams them, so that both make the same projection)."""
    rows = []
    for type_, target, key, *numbers, updated in sorted(items, key=itemgetter(0, 1, 2)):
        props = {k: v for k, v in zip(NUMBERS, numbers, strict=True) if v is not None}
        rows.append(RelationRow(source, type_, target, key, props=props, updated_at=updated))
    return rows


def open_test_store(**options: Any) -> Neo4jStore:
    """An empty `Neo4jStore` on the server in NEO4J_URI (NEO4J_USER, NEO4J_PASSWORD).

    For the tests: it wipes the database, so point it at a throwaway server.
    """
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        raise RuntimeError("NEO4J_URI is not set: the Neo4j tests need a throwaway server")
    store = Neo4jStore(
        uri,
        os.environ.get("NEO4J_USER", "neo4j"),
        os.environ.get("NEO4J_PASSWORD", ""),
        database=os.environ.get("NEO4J_DATABASE") or None,
        **options,
    )
    store.wipe()
    return store


__all__ = ["Neo4jStore", "open_test_store"]
