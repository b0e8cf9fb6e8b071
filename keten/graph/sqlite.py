"""`SqliteStore`: the embedded default store, one SQLite file in WAL mode.

Entities and relations are rows with their identity, kind or type and marking in columns
(indexed for the filters the API offers) and the remaining properties as a JSON document.
A bulk write is one `BEGIN IMMEDIATE` transaction: a bundle lands whole or not at all, and a
process killed mid-load leaves the file as it was (SQLite's journal rolls it back).

>>> store = SqliteStore(":memory:")
>>> with store.writer() as w:
...     w.upsert_entities([EntityRow("country:NL", "Country", "Netherlands")])
>>> store.get_entity("country:NL").name, store.revision()
('Netherlands', 1)
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from keten.graph.history import (
    AUDIT_EACH_UP_TO,
    ENTITY_SNAPSHOT,
    HISTORY_SCHEMA,
    RELATION_SNAPSHOT,
    AuditContext,
    AuditEntry,
    normalise_time,
    read_audit,
    record_change,
)
from keten.graph.store import (
    EntityFilter,
    EntityRow,
    Page,
    RelationFilter,
    RelationRow,
    WriteCounts,
    decode_cursor,
    page_of,
    walk_neighbourhood,
)
from keten.schema.markings import Tlp

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE IF NOT EXISTS entities (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    marking INTEGER NOT NULL,
    props TEXT NOT NULL,
    search TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entities_kind ON entities (kind, id);
CREATE TABLE IF NOT EXISTS relations (
    source TEXT NOT NULL,
    type TEXT NOT NULL,
    target TEXT NOT NULL,
    key TEXT NOT NULL DEFAULT '',
    marking INTEGER NOT NULL,
    props TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source, type, target, key)
) WITHOUT ROWID;
"""
RELATION_TARGET_INDEX = "CREATE INDEX IF NOT EXISTS relations_target ON relations (target, type)"
DEFER_INDEX_BELOW = 100_000
"""A bulk load rebuilds the target index at the end when the table held fewer relations."""

# A write is INSERT OR IGNORE, then UPDATE where something differs. One upsert statement
# would do, but SQLite runs an upsert about 2.5 times slower once the table has an UPDATE
# trigger (the history keeps before images by trigger); these two statements are not slowed.
INSERT_ENTITY = """
INSERT OR IGNORE INTO entities (id, kind, name, marking, props, search, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
"""
UPDATE_ENTITY = """
UPDATE entities SET kind = ?2, name = ?3, marking = ?4, props = ?5, search = ?6, updated_at = ?8
WHERE id = ?1 AND (kind IS NOT ?2 OR name IS NOT ?3 OR marking IS NOT ?4 OR props IS NOT ?5)
"""
INSERT_RELATION = """
INSERT OR IGNORE INTO relations (source, type, target, key, marking, props, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
"""
UPDATE_RELATION = """
UPDATE relations SET marking = ?5, props = ?6, updated_at = ?8
WHERE source = ?1 AND type = ?2 AND target = ?3 AND key = ?4
    AND (marking IS NOT ?5 OR props IS NOT ?6)
"""

ENTITY_COLUMNS = "id, kind, name, marking, props, created_at, updated_at"
RELATION_COLUMNS = "source, type, target, key, marking, props, created_at, updated_at"
MARKINGS = [m.value for m in Tlp]
LEVELS = {m.value: m.level for m in Tlp}
RELATION_VISIBLE = """
    r.marking <= :level
    AND (SELECT marking FROM entities WHERE id = r.source) <= :level
    AND (SELECT marking FROM entities WHERE id = r.target) <= :level
"""
"""A relation is visible when it and both its ends are at or below the clearance level."""


def now() -> str:
    """UTC timestamp in ISO 8601, the format every store writes."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dump_props(props: dict[str, Any]) -> str:
    """Canonical JSON of a property dict: sorted keys, so equal records compare equal."""
    return orjson.dumps(props, option=orjson.OPT_SORT_KEYS).decode()


def search_text(name: str, props: dict[str, Any]) -> str:
    """What text search matches: the name and the aliases, lower-cased."""
    aliases = props.get("aliases") or []
    return "\n".join([name, *map(str, aliases)]).lower()


def escape_like(text: str) -> str:
    """Escape LIKE wildcards so that user text matches literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def entity_from_row(row: tuple[Any, ...]) -> EntityRow:
    """Map a SELECT of ENTITY_COLUMNS to an EntityRow."""
    id_, kind, name, marking, props, created, updated = row
    return EntityRow(id_, kind, name, MARKINGS[marking], orjson.loads(props), created, updated)


def relation_from_row(row: tuple[Any, ...]) -> RelationRow:
    """Map a SELECT of RELATION_COLUMNS to a RelationRow."""
    source, type_, target, key, marking, props, created, updated = row
    return RelationRow(
        source, type_, target, key, MARKINGS[marking], orjson.loads(props), created, updated
    )


def entity_params(rows: list[EntityRow]) -> list[tuple[Any, ...]]:
    """Statement parameters of entity rows: pure, so the loading pipeline can run it elsewhere."""
    stamp = now()
    return [
        (
            r.id,
            r.kind,
            r.name,
            LEVELS[r.marking],
            dump_props(r.props),
            search_text(r.name, r.props),
            r.created_at or stamp,
            r.updated_at or stamp,
        )
        for r in rows
    ]


def relation_params(rows: list[RelationRow]) -> list[tuple[Any, ...]]:
    """INSERT_RELATION / UPDATE_RELATION parameters; a pure function like `entity_params`."""
    stamp = now()
    return [
        (
            r.source,
            r.type,
            r.target,
            r.key,
            LEVELS[r.marking],
            dump_props(r.props),
            r.created_at or stamp,
            r.updated_at or stamp,
        )
        for r in rows
    ]


class SqliteWriter:
    """The open transaction of `SqliteStore.writer()`."""

    def __init__(self, conn: sqlite3.Connection, context: AuditContext) -> None:
        self.conn = conn
        self.context = context
        self.audited = 0
        self.bulk = False
        self._seen = [0, 0]
        self._created = [0, 0]
        self._updated = [0, 0]
        self.deleted = 0
        self.index_deferred = False

    @property
    def counts(self) -> WriteCounts:
        """Created, updated and unchanged records so far in this transaction."""
        seen, created, updated = self._seen, self._created, self._updated
        return WriteCounts(
            entities_created=created[0],
            entities_updated=updated[0],
            entities_unchanged=seen[0] - created[0] - updated[0],
            relations_created=created[1],
            relations_updated=updated[1],
            relations_unchanged=seen[1] - created[1] - updated[1],
        )

    prepare = (entity_params, relation_params)
    """Pure functions from rows to `write_*_params` input, for `keten.ingest.pipeline`."""

    def upsert_entities(self, rows: list[EntityRow]) -> None:
        """Insert or update; an identical record is left alone (no change, no new revision)."""
        self.write_entity_params(entity_params(rows))

    def upsert_relations(self, rows: list[RelationRow]) -> None:
        """Insert or update; an identical record is left alone."""
        self.write_relation_params(relation_params(rows))

    def write_entity_params(self, params: list[tuple[Any, ...]]) -> None:
        """Write entities already turned into statement parameters by `entity_params`."""
        self._write(0, INSERT_ENTITY, UPDATE_ENTITY, params)

    def write_relation_params(self, params: list[tuple[Any, ...]]) -> None:
        """Write relations already turned into statement parameters by `relation_params`."""
        self._write(1, INSERT_RELATION, UPDATE_RELATION, params)

    def _write(self, side: int, insert: str, update: str, params: list[tuple[Any, ...]]) -> None:
        """Insert the new, update the changed; count both (side 0 entities, 1 relations)."""
        self._seen[side] += len(params)
        if self._audit_each(len(params)):
            self._write_audited(side, insert, update, params)
            return
        created = self.conn.executemany(insert, params).rowcount
        self._created[side] += created
        if created < len(params):  # some existed (or repeat within the batch): update those
            self._updated[side] += self.conn.executemany(update, params).rowcount

    def _audit_each(self, rows: int) -> bool:
        """Small writes are audited record by record; past AUDIT_EACH_UP_TO, in one entry."""
        self.audited += rows
        self.bulk = self.bulk or self.audited > AUDIT_EACH_UP_TO
        return not self.bulk

    def _write_audited(
        self, side: int, insert: str, update: str, params: list[tuple[Any, ...]]
    ) -> None:
        """Row by row, so that each created or changed record gets its audit entry."""
        for row in params:
            if self.conn.execute(insert, row).rowcount:
                self._created[side] += 1
                action = "create"
            elif self.conn.execute(update, row).rowcount:
                self._updated[side] += 1
                action = "update"
            else:
                continue
            if side:
                record_change(self.conn, self.context, action, None, tuple(row[:4]))
            else:
                record_change(self.conn, self.context, action, row[0])

    def finish(self) -> None:
        """Before commit: rebuild a deferred index, note a bulk write in the audit trail."""
        if self.index_deferred:
            self.conn.execute(RELATION_TARGET_INDEX)
        if self.bulk and self.changed:
            counts = {k: v for k, v in self.counts.as_dict().items() if v}
            record_change(
                self.conn, self.context, f"bulk-{self.context.action}", None, None, counts
            )

    def defer_indexes(self) -> None:
        """Before a bulk load into a small table: drop the target index, rebuilt at commit.

        One sorted index build is about a third cheaper than a million random index inserts;
        inside the transaction, so a refused or killed load keeps the index as it was.
        """
        size = self.conn.execute("SELECT count(*) FROM relations").fetchone()[0]
        if size < DEFER_INDEX_BELOW:
            self.conn.execute("DROP INDEX IF EXISTS relations_target")
            self.index_deferred = True

    def kinds_of(self, ids: Iterable[str]) -> dict[str, str]:
        """Kinds of the ids known to the store, as seen inside this transaction."""
        found: dict[str, str] = {}
        batch = list(ids)
        for start in range(0, len(batch), 10_000):
            chunk = orjson.dumps(batch[start : start + 10_000]).decode()
            rows = self.conn.execute(
                "SELECT id, kind FROM entities WHERE id IN (SELECT value FROM json_each(?))",
                (chunk,),
            )
            found.update(rows)
        return found

    @property
    def changed(self) -> bool:
        """True when the transaction created or updated anything."""
        return bool(any(self._created) or any(self._updated) or self.deleted)


class SqliteStore:
    """The embedded graph store; safe to share between threads (one connection per thread)."""

    name = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._shared: sqlite3.Connection | None = None
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn().executescript(SCHEMA + HISTORY_SCHEMA)
        self._conn().execute(RELATION_TARGET_INDEX)

    def _conn(self) -> sqlite3.Connection:
        if self.path == ":memory:":  # one connection: an in-memory database is per connection
            if self._shared is None:
                self._shared = self._open()
            return self._shared
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=60.0
        )
        conn.execute("PRAGMA page_size = 16384")  # new files only: fewer splits on bulk loads
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA cache_size = -262144")  # up to 256 MiB: big loads stay in cache
        conn.execute("PRAGMA temp_store = MEMORY")
        return conn

    def revision(self) -> int:
        """Monotonic counter raised by each write that changed something."""
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        return int(row[0])

    @contextmanager
    def writer(
        self, actor: str | None = None, action: str = "write", submission: str | None = None
    ) -> Iterator[SqliteWriter]:
        """One write transaction: committed on normal exit, rolled back on any exception.

        `actor`, `action` and `submission` go into the audit trail with what changed.
        """
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        writer = SqliteWriter(conn, AuditContext(actor, action, submission))
        try:
            yield writer
            writer.finish()
            if writer.changed:
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'revision'")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def get_entity(self, entity_id: str, clearance: Tlp = Tlp.RED) -> EntityRow | None:
        """One entity, or None when absent or above `clearance`."""
        row = (
            self._conn()
            .execute(
                f"SELECT {ENTITY_COLUMNS} FROM entities WHERE id = ? AND marking <= ?",
                (entity_id, clearance.level),
            )
            .fetchone()
        )
        return entity_from_row(row) if row else None

    def list_entities(
        self, flt: EntityFilter, cursor: str | None = None, limit: int = 100
    ) -> Page[EntityRow]:
        """Entities ordered by id; `cursor` continues after the previous page."""
        where = ["marking <= :level"]
        params: dict[str, Any] = {"level": flt.clearance.level, "limit": limit + 1}
        if flt.kind:
            where.append("kind = :kind")
            params["kind"] = flt.kind
        if flt.marking:
            where.append("marking = :marking")
            params["marking"] = Tlp(flt.marking).level
        if flt.text:
            where.append("search LIKE :text ESCAPE '\\'")
            params["text"] = f"%{escape_like(flt.text.lower())}%"
        if cursor:
            where.append("id > :after")
            (params["after"],) = decode_cursor(cursor, 1)
        table = "entities"
        if flt.as_of:
            table = ENTITY_SNAPSHOT
            params["as_of"] = normalise_time(flt.as_of)
        query = (
            f"SELECT {ENTITY_COLUMNS} FROM {table} WHERE {' AND '.join(where)} "
            "ORDER BY id LIMIT :limit"
        )
        rows = [entity_from_row(r) for r in self._conn().execute(query, params)]
        return page_of(rows, limit, lambda e: (e.id,))

    def get_relation(
        self, ref: tuple[str, str, str, str], clearance: Tlp = Tlp.RED
    ) -> RelationRow | None:
        """One relation by identity, or None when absent or not visible."""
        query = (
            f"SELECT {RELATION_COLUMNS} FROM relations r WHERE source = :s AND type = :t "
            f"AND target = :g AND key = :k AND {RELATION_VISIBLE}"
        )
        s, t, g, k = ref
        row = (
            self._conn()
            .execute(query, {"s": s, "t": t, "g": g, "k": k, "level": clearance.level})
            .fetchone()
        )
        return relation_from_row(row) if row else None

    def list_relations(
        self, flt: RelationFilter, cursor: str | None = None, limit: int = 100
    ) -> Page[RelationRow]:
        """Relations ordered by identity; hidden if they or an endpoint are above clearance."""
        where = [RELATION_VISIBLE]
        params: dict[str, Any] = {"level": flt.clearance.level, "limit": limit + 1}
        for column in ("type", "source", "target"):
            value = getattr(flt, column)
            if value:
                where.append(f"{column} = :{column}")
                params[column] = value
        if flt.marking:
            where.append("marking = :marking")
            params["marking"] = Tlp(flt.marking).level
        if cursor:
            where.append("(source, type, target, key) > (:a0, :a1, :a2, :a3)")
            params.update(zip(("a0", "a1", "a2", "a3"), decode_cursor(cursor, 4), strict=True))
        table = "relations"
        if flt.as_of:  # endpoints as they were then, too
            table = RELATION_SNAPSHOT
            where[0] = RELATION_VISIBLE.replace("FROM entities", f"FROM {ENTITY_SNAPSHOT}")
            params["as_of"] = normalise_time(flt.as_of)
        query = (
            f"SELECT {RELATION_COLUMNS} FROM {table} r WHERE {' AND '.join(where)} "
            "ORDER BY source, type, target, key LIMIT :limit"
        )
        rows = [relation_from_row(r) for r in self._conn().execute(query, params)]
        return page_of(rows, limit, lambda r: r.ref)

    def delete_entity(self, entity_id: str, actor: str | None = None) -> list[RelationRow] | None:
        """Delete an entity with its relations; returns those relations, None if absent."""
        with self.writer(actor, "delete") as w:
            conn = w.conn
            if conn.execute("SELECT 1 FROM entities WHERE id = ?", (entity_id,)).fetchone() is None:
                return None
            gone = [
                relation_from_row(r)
                for r in conn.execute(
                    f"SELECT {RELATION_COLUMNS} FROM relations WHERE source = ?1 OR target = ?1",
                    (entity_id,),
                )
            ]
            conn.execute("DELETE FROM relations WHERE source = ?1 OR target = ?1", (entity_id,))
            conn.execute("DELETE FROM entities WHERE id = ?", (entity_id,))
            for rel in gone:
                record_change(conn, w.context, "delete", None, rel.ref)
            record_change(conn, w.context, "delete", entity_id)
            w.deleted += 1
        return gone

    def delete_relation(self, ref: tuple[str, str, str, str], actor: str | None = None) -> bool:
        """Delete one relation; False when it was not there."""
        with self.writer(actor, "delete") as w:
            cur = w.conn.execute(
                "DELETE FROM relations WHERE source = ? AND type = ? AND target = ? AND key = ?",
                ref,
            )
            if cur.rowcount:
                record_change(w.conn, w.context, "delete", None, ref)
            w.deleted += cur.rowcount
        return cur.rowcount > 0

    def audit(
        self,
        entity: str | None = None,
        since: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[AuditEntry]:
        """The audit trail in order, optionally for one entity (and its relations) or since."""
        after = 0
        if cursor:
            (text,) = decode_cursor(cursor, 1)
            if not text.isdigit():
                raise ValueError("invalid cursor")
            after = int(text)
        rows = read_audit(self._conn(), entity, since, after, limit + 1)
        return page_of(rows, limit, lambda e: (str(e.seq),))

    def neighbourhood(
        self, entity_id: str, depth: int = 1, clearance: Tlp = Tlp.RED, limit: int = 500
    ) -> tuple[list[EntityRow], list[RelationRow]]:
        """Entities within `depth` hops either way (at most `limit`) and relations among them."""
        if self.get_entity(entity_id, clearance) is None:
            return [], []
        seen, relations = walk_neighbourhood(
            entity_id, depth, limit, lambda ids: self._touching(ids, clearance)
        )
        entities = self._entities(seen)
        return entities, relations

    def _touching(self, ids: set[str], clearance: Tlp) -> list[RelationRow]:
        if not ids:
            return []
        query = (
            f"SELECT {RELATION_COLUMNS} FROM relations r WHERE (source IN ids OR target IN ids) "
            f"AND {RELATION_VISIBLE}"
        )
        query = query.replace("IN ids", "IN (SELECT value FROM json_each(:ids))")
        params = {"ids": orjson.dumps(sorted(ids)).decode(), "level": clearance.level}
        return [relation_from_row(r) for r in self._conn().execute(query, params)]

    def _entities(self, ids: set[str]) -> list[EntityRow]:
        query = (
            f"SELECT {ENTITY_COLUMNS} FROM entities "
            "WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
        )
        rows = self._conn().execute(query, (orjson.dumps(sorted(ids)).decode(),))
        return [entity_from_row(r) for r in rows]

    def iter_entities(self, clearance: Tlp = Tlp.RED) -> Iterator[EntityRow]:
        """Every entity at or below `clearance`, ordered by id, streamed."""
        query = f"SELECT {ENTITY_COLUMNS} FROM entities WHERE marking <= ? ORDER BY id"
        for row in self._conn().execute(query, (clearance.level,)):
            yield entity_from_row(row)

    def iter_relations(self, clearance: Tlp = Tlp.RED) -> Iterator[RelationRow]:
        """Every visible relation (it and both endpoints at or below clearance), streamed."""
        if clearance == Tlp.RED:
            query = f"SELECT {RELATION_COLUMNS} FROM relations r"
        else:
            query = f"SELECT {RELATION_COLUMNS} FROM relations r WHERE {RELATION_VISIBLE}"
        for row in self._conn().execute(query, {"level": clearance.level}):
            yield relation_from_row(row)

    def counts(self, clearance: Tlp = Tlp.RED) -> dict[str, int]:
        """Numbers of visible entities and relations."""
        conn = self._conn()
        entities = conn.execute(
            "SELECT count(*) FROM entities WHERE marking <= ?", (clearance.level,)
        ).fetchone()[0]
        relations = conn.execute(
            f"SELECT count(*) FROM relations r WHERE {RELATION_VISIBLE}",
            {"level": clearance.level},
        ).fetchone()[0]
        return {"entities": int(entities), "relations": int(relations)}

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        if self._shared is not None:
            self._shared.close()
            self._shared = None
