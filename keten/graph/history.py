"""History of the SQLite store: replaced versions (for `as_of`) and the append-only audit trail.

Versions are kept by triggers that copy a row's *before image* when it is updated or
deleted. Inserts fire nothing, so a first bulk load of a million records costs no more than
before; only changes pay. The graph as it was at time T is then, per record, the current row
if it was last updated at or before T, else the version that was valid at T.

The audit trail records who changed what, when and from which submission. Small writes (the
API, accepted submissions) get one entry per changed record; bulk loads get one entry with
their counts, so that auditing never dominates a million-record load.

Every time here is the stamp of the write transaction (kept in the one-row `clock` table
while it runs), so versions, audit entries and records of one write agree to the
millisecond. Each audit entry carries the least clearance that may read it (`level`); a
bulk entry keeps its counts per level, and a reader sees the sum of the levels it may see.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from keten.graph.rows import MARKINGS, normalise_time
from keten.graph.store import Page, decode_cursor, page_of
from keten.schema.markings import Tlp

HISTORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS clock (one INTEGER PRIMARY KEY CHECK (one = 1), stamp TEXT NOT NULL);
INSERT OR IGNORE INTO clock VALUES (1, '');
CREATE TABLE IF NOT EXISTS entity_versions (
    id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, marking INTEGER NOT NULL,
    props TEXT NOT NULL, search TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, replaced_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entity_versions_id ON entity_versions (id, updated_at);
CREATE TABLE IF NOT EXISTS relation_versions (
    source TEXT NOT NULL, type TEXT NOT NULL, target TEXT NOT NULL, key TEXT NOT NULL,
    marking INTEGER NOT NULL, props TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, replaced_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS relation_versions_ref
    ON relation_versions (source, type, target, key, updated_at);
CREATE TRIGGER IF NOT EXISTS entities_keep_version AFTER UPDATE ON entities BEGIN
    INSERT INTO entity_versions VALUES (old.id, old.kind, old.name, old.marking, old.props,
        old.search, old.created_at, old.updated_at, new.updated_at);
END;
DROP TRIGGER IF EXISTS entities_keep_deleted;
CREATE TRIGGER entities_keep_deleted AFTER DELETE ON entities BEGIN
    INSERT INTO entity_versions VALUES (old.id, old.kind, old.name, old.marking, old.props,
        old.search, old.created_at, old.updated_at, (SELECT stamp FROM clock));
END;
CREATE TRIGGER IF NOT EXISTS relations_keep_version AFTER UPDATE ON relations BEGIN
    INSERT INTO relation_versions VALUES (old.source, old.type, old.target, old.key,
        old.marking, old.props, old.created_at, old.updated_at, new.updated_at);
END;
DROP TRIGGER IF EXISTS relations_keep_deleted;
CREATE TRIGGER relations_keep_deleted AFTER DELETE ON relations BEGIN
    INSERT INTO relation_versions VALUES (old.source, old.type, old.target, old.key,
        old.marking, old.props, old.created_at, old.updated_at, (SELECT stamp FROM clock));
END;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    entity TEXT,
    other TEXT,
    relation TEXT,
    submission TEXT,
    detail TEXT,
    level INTEGER NOT NULL DEFAULT 0,
    level_max INTEGER NOT NULL DEFAULT 5
);
CREATE INDEX IF NOT EXISTS audit_entity ON audit (entity, seq);
CREATE INDEX IF NOT EXISTS audit_other ON audit (other, seq);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
"""

ENTITY_SNAPSHOT = """(
    SELECT id, kind, name, marking, props, search, created_at, updated_at
    FROM entities WHERE updated_at <= :as_of
    UNION ALL
    SELECT id, kind, name, marking, props, search, created_at, updated_at
    FROM entity_versions WHERE updated_at <= :as_of AND replaced_at > :as_of
)"""
"""Entities as they were at :as_of (each id once: validity intervals do not overlap)."""

RELATION_SNAPSHOT = """(
    SELECT source, type, target, key, marking, props, created_at, updated_at
    FROM relations WHERE updated_at <= :as_of
    UNION ALL
    SELECT source, type, target, key, marking, props, created_at, updated_at
    FROM relation_versions WHERE updated_at <= :as_of AND replaced_at > :as_of
)"""
"""Relations as they were at :as_of."""

AUDIT_EACH_UP_TO = 1_000
"""Writes of up to this many records get an audit entry per changed record."""


def upgrade(conn: sqlite3.Connection) -> None:
    """Bring an audit table made by an earlier keten up to this schema (the levels)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(audit)")}
    if "level" not in columns:
        conn.execute("ALTER TABLE audit ADD COLUMN level INTEGER NOT NULL DEFAULT 0")
    if "level_max" not in columns:
        conn.execute("ALTER TABLE audit ADD COLUMN level_max INTEGER NOT NULL DEFAULT 5")


@dataclass(slots=True)
class AuditContext:
    """Who is writing, as what action, on behalf of which submission."""

    actor: str | None = None
    action: str = "write"
    submission: str | None = None


@dataclass(slots=True)
class AuditEntry:
    """One line of the audit trail.

    `seq` orders entries and makes the paging cursor; answers leave it out, since its gaps
    would count the entries a reader may not see.
    """

    seq: int
    at: str
    actor: str | None
    action: str
    entity: str | None
    relation: list[str] | None
    submission: str | None
    detail: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (without `seq`)."""
        return {name: getattr(self, name) for name in self.__slots__ if name != "seq"}


def record_change(
    conn: sqlite3.Connection,
    context: AuditContext,
    action: str,
    entity: str | None,
    relation: tuple[str, str, str, str] | None = None,
    detail: dict[str, Any] | None = None,
    level: int = 0,
    level_max: int = len(MARKINGS),
) -> None:
    """Append one entry (inside the caller's transaction, so it lands with the change).

    Readers of clearance levels `level` (that of the record it is about) up to but not
    including `level_max` may read it (see `keten.graph.sqlite_writer` for why a record's
    entry can stop at some level: above it, the record is counted in a bulk entry).
    """
    conn.execute(
        "INSERT INTO audit (at, actor, action, entity, other, relation, submission, detail, "
        "level, level_max) VALUES ((SELECT stamp FROM clock), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            context.actor,
            action,
            relation[0] if relation else entity,
            relation[2] if relation else None,
            orjson.dumps(list(relation)).decode() if relation else None,
            context.submission,
            orjson.dumps(detail).decode() if detail else None,
            level,
            level_max,
        ),
    )


def reader_detail(detail: str | None, clearance_level: int) -> dict[str, Any] | None:
    """An entry's detail as a reader of `clearance_level` gets it: a bulk entry's counts are
    those of what that reader can see.

    >>> reader_detail('{"by_clearance": {"green": {"entities_created": 2}}}', 1)
    {'counts': {'entities_created': 2}}
    """
    details: dict[str, Any] | None = orjson.loads(detail) if detail else None
    if details and "by_clearance" in details:
        counts = details.pop("by_clearance").get(MARKINGS[clearance_level], {})
        details = {"counts": counts, **details}
    return details


def read_audit(
    conn: sqlite3.Connection,
    entity: str | None,
    since: str | None,
    after_seq: int,
    limit: int,
    clearance_level: int = len(MARKINGS) - 1,
) -> list[AuditEntry]:
    """Entries in order that `clearance_level` may read, optionally about `entity` (either
    end of a relation) or since a time."""
    where = ["seq > :after", "level <= :level", ":level < level_max"]
    params: dict[str, Any] = {"after": after_seq, "limit": limit, "level": clearance_level}
    if entity:
        where.append("(entity = :entity OR other = :entity)")
        params["entity"] = entity
    if since:
        where.append("at >= :since")
        params["since"] = normalise_time(since)
    rows = conn.execute(
        "SELECT seq, at, actor, action, entity, relation, submission, detail FROM audit "
        f"WHERE {' AND '.join(where)} ORDER BY seq LIMIT :limit",
        params,
    )
    return [entry_of(row, clearance_level) for row in rows]


def audit_page(
    cursor: str | None,
    limit: int,
    clearance: Tlp,
    read: Callable[[int], list[AuditEntry]],
    green_ids: Callable[[set[str]], set[str]],
) -> Page[AuditEntry]:
    """One page of the audit trail, for either store.

    `read(after)` gives up to `limit + 1` entries after sequence number `after` that
    `clearance` may read; an entry's level comes from the relation's marking and its ends'
    namespaces, which covers every reader from green up (plain ids are clear or green).
    Below green, an entry about a relation with a green end (`green_ids` names those stored
    green) is about a relation the reader cannot see: it is left out, and the trail read on
    until the page is full.
    """
    after = 0
    if cursor:
        (text,) = decode_cursor(cursor, 1)
        if not text.isdigit():
            raise ValueError("invalid cursor")
        after = int(text)
    rows = read(after)
    if clearance.level < Tlp.GREEN.level:
        kept: list[AuditEntry] = []
        while rows:
            ends = {end for row in rows if row.relation for end in row.relation[::2]}
            green = green_ids(ends) if ends else set()
            kept += [r for r in rows if not (r.relation and green.intersection(r.relation[::2]))]
            if len(kept) > limit or len(rows) <= limit:
                break
            rows = read(rows[-1].seq)
        rows = kept[: limit + 1]
    return page_of(rows, limit, lambda e: (str(e.seq),))


def entry_of(row: Iterable[Any], clearance_level: int) -> AuditEntry:
    """An audit row as an entry, bulk counts summed over the levels the reader may see."""
    seq, at, actor, action, entity_id, relation, submission, detail = row
    details = reader_detail(detail, clearance_level)
    return AuditEntry(
        seq,
        at,
        actor,
        action,
        entity_id if relation is None else None,
        orjson.loads(relation) if relation else None,
        submission,
        details,
    )
