"""`SqliteStore`: the embedded default store, one SQLite file in WAL mode.

Entities and relations are rows with their identity, kind or type and marking in columns
(indexed for the filters the API offers) and the remaining properties as a JSON document.
A bulk write is one `BEGIN IMMEDIATE` transaction: a bundle lands whole or not at all, and a
process killed mid-load leaves the file as it was (SQLite's journal rolls it back). Writing
is `keten.graph.sqlite_writer`'s job; this module reads, deletes and keeps the revisions.
The file and its journal are created readable by their owner only.

>>> store = SqliteStore(":memory:")
>>> with store.writer() as w:
...     w.upsert_entities([EntityRow("country:NL", "Country", "Netherlands")])
>>> store.get_entity("country:NL").name, store.revision()
('Netherlands', 1)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from keten.config import private_file
from keten.graph.history import (
    ENTITY_SNAPSHOT,
    HISTORY_SCHEMA,
    RELATION_SNAPSHOT,
    AuditContext,
    AuditEntry,
    audit_page,
    read_audit,
    upgrade,
)
from keten.graph.rows import NOTHING, next_stamp, normalise_time, now
from keten.graph.sqlite_writer import (
    ENTITY_COLUMNS,
    RELATION_COLUMNS,
    RELATION_TARGET_INDEX,
    RELATION_VISIBLE,
    SqliteWriter,
    entity_from_row,
    entity_params,
    json_list,
    relation_from_row,
    relation_params,
)
from keten.graph.store import (
    EntityFilter,
    EntityRow,
    HasRelationsError,
    Page,
    Ref,
    RelationFilter,
    RelationRow,
    WriteMode,
    decode_cursor,
    page_of,
    redact_sources,
    walk_neighbourhood,
)
from keten.schema.markings import Tlp
from keten.schema.relations import RelationType

__all__ = ["SqliteStore", "entity_params", "now", "relation_params"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
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
REVISIONS = """
INSERT OR IGNORE INTO meta (key, value)
SELECT 'revision:' || level, coalesce((SELECT value FROM meta WHERE key = 'revision'), 0)
FROM (SELECT 0 AS level UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
      UNION ALL SELECT 4)
"""
"""One revision counter per clearance level (a store made before them starts from the one)."""

MARKING_LEVELS = {m.value: m.level for m in Tlp}
GREEN_IDS = """
SELECT id FROM entities WHERE id IN (SELECT value FROM json_each(?1)) AND marking = 1
UNION
SELECT v.id FROM entity_versions v
WHERE v.id IN (SELECT value FROM json_each(?1)) AND v.marking = 1
  AND v.replaced_at = (SELECT max(replaced_at) FROM entity_versions w WHERE w.id = v.id)
  AND NOT EXISTS (SELECT 1 FROM entities e WHERE e.id = v.id)
"""
"""Ids of green records among ?1: green now, or gone and green when last stored."""


LEVELS_OF = "SELECT id, marking FROM entities WHERE id IN (SELECT value FROM json_each(?))"
"""The marking levels of the stored records among the ids in ? (for redaction)."""
KNOWN_TYPES = ", ".join(f"'{t.value}'" for t in RelationType)
"""The schema's relation types as SQL literals: with them a relation between two given ids
is found by key seeks, without reading either end's other relations."""


def linked(one: str, other: str, types: str) -> str:
    """EXISTS: a visible relation from `one` to `other` whose type is `types` (SQL)."""
    return (
        f"EXISTS (SELECT 1 FROM relations r WHERE r.source = {one} AND r.type {types} "
        f"AND r.target = {other} AND {RELATION_VISIBLE})"
    )


UNSEEN_NEIGHBOURS = f"""
SELECT other FROM (
  SELECT r.source AS other FROM relations r WHERE r.target = :id
    AND r.source NOT IN (SELECT value FROM json_each(:seen))
  UNION
  SELECT r.target FROM relations r WHERE r.source = :id
    AND r.target NOT IN (SELECT value FROM json_each(:seen))
  ORDER BY other LIMIT -1
) AS c
WHERE {linked("c.other", ":id", f"IN ({KNOWN_TYPES})")}
   OR {linked(":id", "c.other", f"IN ({KNOWN_TYPES})")}
   OR {linked("c.other", ":id", f"NOT IN ({KNOWN_TYPES})")}
   OR {linked(":id", "c.other", f"NOT IN ({KNOWN_TYPES})")}
LIMIT :most
"""
"""The first `:most` visible neighbours of `:id` outside `:seen`, by id (one hop of a
neighbourhood). The candidates come sorted from the indexes alone (a hub's relations are
not read, only their index entries); visibility is then checked in that order by key seeks
on (source, type, target), until `:most` are found. Only a candidate no schema-typed
visible relation links (a hidden one) falls through to the scans for other types. The
inner `LIMIT -1` keeps SQLite from pushing the check below the sort."""
RELATIONS_AMONG = f"""
SELECT {RELATION_COLUMNS} FROM relations r
WHERE r.source IN (SELECT value FROM json_each(:ids))
  AND +r.target IN (SELECT value FROM json_each(:ids)) AND {RELATION_VISIBLE}
ORDER BY r.source, r.type, r.target, r.key
"""
"""The visible relations with both ends among `:ids`, by identity. `+r.target` keeps the
target index out: each source's own relations are read, so a hub that is mostly a target
(a resource every process depends on) is not scanned."""


KEYS_FIRST = f"""
SELECT {", ".join(f"r.{c}" for c in RELATION_COLUMNS.split(", "))} FROM (
  SELECT source, type, target, key FROM relations WHERE {{keys}}
  ORDER BY source, type, target, key LIMIT -1
) AS k
JOIN relations r ON r.source = k.source AND r.type = k.type AND r.target = k.target
  AND r.key = k.key
WHERE {{rows}}
LIMIT :limit
"""
"""One page of the relations of a `{keys}` filter on identity columns, checked by `{rows}`.
The identities are sorted from the target index alone (it holds the whole key); rows are
then read and checked for visibility in that order, until the page is full. The inner
`LIMIT -1` keeps SQLite from flattening the subquery, which would sort whole rows after
checking each one (a hub's 200k relations at 1M / 10M, for a page of 1,000)."""


def keys_first(where: list[str]) -> str:
    """`KEYS_FIRST` for the conditions in `where`: those on identity columns (type, source,
    target, the cursor) pick the keys, the others (visibility, marking) check the rows."""
    on_keys = [w for w in where if w.startswith(("type ", "source ", "target ", "(source"))]
    on_rows = [w for w in where if w not in on_keys]
    return KEYS_FIRST.format(keys=" AND ".join(on_keys), rows=" AND ".join(on_rows))


def physical_memory() -> int:
    """Bytes of memory of this machine (0 where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def released_after(rows: Iterator[RelationRow], conn: sqlite3.Connection) -> Iterator[RelationRow]:
    """`rows`, then the connection's page cache given back (`release_memory`).

    Reading every relation for a projection fills the connection's cache to its 256 MiB
    (`_open`) with pages read once, and they stayed while the projection sorted ten million
    relations, where reading a store of 1M entities / 10M relations peaks.
    """
    try:
        yield from rows
    finally:
        release_memory(conn)


def release_memory(conn: sqlite3.Connection) -> None:
    """Free the connection's cached pages and give the freed heap back to the system.

    The pages are small allocations scattered through the C heap: freed, they stayed with
    the process (260 MB after a read at 1M / 10M) until `malloc_trim` returned them
    (glibc; elsewhere only SQLite's own release is done). Later queries read their pages
    from the file cache again.
    """
    conn.execute("PRAGMA shrink_memory")
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def escape_like(text: str) -> str:
    """Escape LIKE wildcards so that user text matches literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqliteStore:
    """The embedded graph store; safe to share between threads (one connection per thread)."""

    name = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            private_file(Path(self.path))
        self._local = threading.local()
        self._shared: sqlite3.Connection | None = None
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self._conn()
        conn.executescript(SCHEMA + HISTORY_SCHEMA)
        conn.execute(REVISIONS)
        upgrade(conn)
        conn.execute(RELATION_TARGET_INDEX)

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

    def revision(self, clearance: Tlp = Tlp.RED) -> int:
        """How many writes changed something a key of `clearance` can see."""
        row = (
            self._conn()
            .execute("SELECT value FROM meta WHERE key = ?", (f"revision:{clearance.level}",))
            .fetchone()
        )
        return int(row[0])

    @contextmanager
    def load_cache(self, input_bytes: int) -> Iterator[None]:
        """A page cache sized for a bulk load of `input_bytes` of input, for its duration.

        A store is about one and a half times its JSONL input; once its tables outgrow the
        cache, each random insert reads and writes a page of the WAL (a load of 1M entities
        and 10M relations moved over 20 GB through it with 256 MiB). So the cache may hold
        twice the input, up to an eighth of the machine's memory.
        """
        conn = self._conn()
        usual = conn.execute("PRAGMA cache_size").fetchone()[0]
        kib = min(2 * input_bytes, physical_memory() // 8) // 1024
        if kib > -usual:
            conn.execute(f"PRAGMA cache_size = -{kib}")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA cache_size = {usual}")

    @contextmanager
    def writer(
        self,
        actor: str | None = None,
        action: str = "write",
        submission: str | None = None,
        mode: WriteMode = WriteMode.MERGE,
    ) -> Iterator[SqliteWriter]:
        """One write transaction: committed on normal exit, rolled back on any exception.

        `actor`, `action` and `submission` go into the audit trail with what changed; the
        revision counters of every clearance that can see a change move by one.
        """
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            last = conn.execute("SELECT stamp FROM clock").fetchone()[0]
            stamp = next_stamp(last)
            conn.execute("UPDATE clock SET stamp = ?", (stamp,))
            writer = SqliteWriter(conn, AuditContext(actor, action, submission), mode, stamp)
            yield writer
            writer.finish()
            if writer.least_level < NOTHING:
                conn.execute(
                    "UPDATE meta SET value = value + 1 WHERE key IN "
                    "(SELECT 'revision:' || value FROM json_each(?))",
                    (json_list(range(writer.least_level, NOTHING)),),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _green_ids(self, ids: set[str]) -> set[str]:
        """Those of `ids` that name a green record: one marked green now, or, for an id no
        longer stored, one whose last version was green (the audit trail below green leaves
        out relations with such an end)."""
        return {row[0] for row in self._conn().execute(GREEN_IDS, (json_list(ids),))}

    def _levels_of(self, ids: set[str]) -> dict[str, int]:
        """The marking levels of the stored records among `ids`."""
        return dict(self._conn().execute(LEVELS_OF, (json_list(ids),)).fetchall())

    def _redact(self, rows: list[Any], clearance: Tlp) -> list[Any]:
        return redact_sources(rows, clearance, self._levels_of)

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
        return self._redact([entity_from_row(row)], clearance)[0] if row else None

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
        return page_of(self._redact(rows, flt.clearance), limit, lambda e: (e.id,))

    def get_relation(self, ref: Ref, clearance: Tlp = Tlp.RED) -> RelationRow | None:
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
        return self._redact([relation_from_row(row)], clearance)[0] if row else None

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
        if flt.target and not (flt.source or flt.type or flt.as_of):
            query = keys_first(where)  # with a type, the target index gives the order
        else:
            query = (
                f"SELECT {RELATION_COLUMNS} FROM {table} r WHERE {' AND '.join(where)} "
                "ORDER BY source, type, target, key LIMIT :limit"
            )
        rows = [relation_from_row(r) for r in self._conn().execute(query, params)]
        return page_of(self._redact(rows, flt.clearance), limit, lambda r: r.ref)

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
            touching = [
                relation_from_row(r)
                for r in w.conn.execute(
                    f"SELECT {RELATION_COLUMNS} FROM relations WHERE source = ?1 OR target = ?1",
                    (entity_id,),
                )
            ]
            visible = self._visible(touching, clearance)
            if visible and not cascade:
                raise HasRelationsError(entity_id, len(visible))
            w.delete_entity(entity, touching)
        return self._redact(visible, clearance)

    def _visible(self, relations: list[RelationRow], clearance: Tlp) -> list[RelationRow]:
        """Those of `relations` a key of `clearance` can see (they and both ends)."""
        if clearance == Tlp.RED:
            return relations
        ends = {end for r in relations for end in (r.source, r.target)}
        query = (
            "SELECT id FROM entities WHERE id IN (SELECT value FROM json_each(?)) AND marking <= ?"
        )
        seen = {row[0] for row in self._conn().execute(query, (json_list(ends), clearance.level))}
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
            relation = self.get_relation(ref, clearance)
            if relation is None:
                return None
            w.delete_relation(relation, self._visible_from(relation))
        return relation

    def _visible_from(self, relation: RelationRow) -> int:
        """The least clearance level that sees a relation: its own and both ends' markings."""
        query = "SELECT max(marking) FROM entities WHERE id IN (?, ?)"
        ends = self._conn().execute(query, (relation.source, relation.target)).fetchone()[0]
        return max(MARKING_LEVELS[relation.marking], ends or 0)

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
        conn = self._conn()

        def read(after: int) -> list[AuditEntry]:
            return read_audit(conn, entity, since, after, limit + 1, clearance.level)

        return audit_page(cursor, limit, clearance, read, self._green_ids)

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
        entities = self._entities(set(kept))
        relations = self._among(kept, clearance)
        return self._redact(entities, clearance), self._redact(relations, clearance)

    def _unseen_neighbours(
        self, ids: list[str], seen: set[str], most: int, clearance: Tlp
    ) -> dict[str, list[str]]:
        """Each id's first `most` visible neighbours outside `seen`, by id: one query an id,
        read from the key and target indexes (no relation is decoded)."""
        conn = self._conn()
        params: dict[str, Any] = {"seen": json_list(sorted(seen)), "most": most}
        params["level"] = clearance.level
        found = {}
        for entity in ids:
            rows = conn.execute(UNSEEN_NEIGHBOURS, {**params, "id": entity})
            found[entity] = [other for (other,) in rows]
        return found

    def _among(self, ids: list[str], clearance: Tlp) -> list[RelationRow]:
        """The visible relations with both ends among `ids`, sorted by identity: read from
        each source's own relations (the target index is not used, so a hub that is
        mostly a target costs nothing extra)."""
        params = {"ids": json_list(sorted(ids)), "level": clearance.level}
        rows = self._conn().execute(RELATIONS_AMONG, params)
        return [relation_from_row(r) for r in rows]

    def _touching(self, ids: set[str], clearance: Tlp) -> list[RelationRow]:
        if not ids:
            return []
        query = (
            f"SELECT {RELATION_COLUMNS} FROM relations r WHERE (source IN ids OR target IN ids) "
            f"AND {RELATION_VISIBLE}"
        )
        query = query.replace("IN ids", "IN (SELECT value FROM json_each(:ids))")
        params = {"ids": json_list(sorted(ids)), "level": clearance.level}
        return [relation_from_row(r) for r in self._conn().execute(query, params)]

    def _entities(self, ids: set[str]) -> list[EntityRow]:
        query = (
            f"SELECT {ENTITY_COLUMNS} FROM entities "
            "WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
        )
        rows = self._conn().execute(query, (json_list(sorted(ids)),))
        return [entity_from_row(r) for r in rows]

    def iter_entities(self, clearance: Tlp = Tlp.RED) -> Iterator[EntityRow]:
        """Every entity at or below `clearance`, ordered by id, streamed."""
        query = f"SELECT {ENTITY_COLUMNS} FROM entities WHERE marking <= ? ORDER BY id"
        rows = self._conn().execute(query, (clearance.level,))
        yield from self._stream(rows, entity_from_row, clearance)

    def iter_relations(self, clearance: Tlp = Tlp.RED) -> Iterator[RelationRow]:
        """Every visible relation (it and both endpoints at or below clearance), streamed."""
        if clearance == Tlp.RED:
            query = f"SELECT {RELATION_COLUMNS} FROM relations r"
        else:
            query = f"SELECT {RELATION_COLUMNS} FROM relations r WHERE {RELATION_VISIBLE}"
        rows = self._conn().execute(query, {"level": clearance.level})
        yield from self._stream(rows, relation_from_row, clearance)

    def _stream(self, cursor: sqlite3.Cursor, convert: Any, clearance: Tlp) -> Iterator[Any]:
        """Rows of a query, converted and redacted a few thousand at a time."""
        while batch := cursor.fetchmany(5_000):
            yield from self._redact([convert(row) for row in batch], clearance)

    def projection_rows(
        self, clearance: Tlp = Tlp.RED
    ) -> tuple[Iterator[EntityRow], Iterator[RelationRow]]:
        """What the analysis projection reads, streamed row by row and not redacted: the
        projection reads no references, and rows it drops at once cost the garbage collector
        nothing (`iter_relations` holds batches for redaction)."""
        conn = self._conn()
        entities = conn.execute(
            "SELECT id, kind, name FROM entities WHERE marking <= ? ORDER BY id",
            (clearance.level,),
        )
        visible = "" if clearance == Tlp.RED else f"WHERE {RELATION_VISIBLE}"
        relations = conn.execute(
            f"SELECT {RELATION_COLUMNS} FROM relations r {visible}", {"level": clearance.level}
        )
        return (EntityRow(*row) for row in entities), released_after(
            map(relation_from_row, relations), conn
        )

    def audit_head(self) -> tuple[int, str]:
        """Number and time of the last audit entry ((0, "") when none): where an analysis
        projection read now stands in the trail (keten.graph.projection_delta)."""
        last = "SELECT seq, at FROM audit ORDER BY seq DESC LIMIT 1"
        row = self._conn().execute(last).fetchone()
        return (int(row[0]), str(row[1])) if row else (0, "")

    def audit_since(self, seq: int, limit: int) -> list[tuple[Any, ...]]:
        """Up to `limit` audit entries from number `seq` on, whatever their level, as
        (seq, at, action, entity, other, relation, detail JSON): what an analysis projection
        reads to follow the writes since it (keten.graph.projection_delta)."""
        query = (
            "SELECT seq, at, action, entity, other, relation, detail FROM audit "
            "WHERE seq >= ? ORDER BY seq LIMIT ?"
        )
        rows = self._conn().execute(query, (seq, limit)).fetchall()
        return [(*r[:5], orjson.loads(r[5]) if r[5] else None, r[6]) for r in rows]

    def relations_touching(self, ids: set[str], clearance: Tlp = Tlp.RED) -> list[RelationRow]:
        """Every visible relation with an end among `ids` (what a projection reads again
        after a write about them)."""
        return self._touching(ids, clearance)

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

    def is_empty(self) -> bool:
        """True when the store holds no entity (a RESTORE is only for an empty store)."""
        return self._conn().execute("SELECT 1 FROM entities LIMIT 1").fetchone() is None

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        if self._shared is not None:
            self._shared.close()
            self._shared = None
