"""History of the SQLite store: replaced versions (for `as_of`) and the append-only audit trail.

Versions are kept by triggers that copy a row's *before image* when it is updated or
deleted. Inserts fire nothing, so a first bulk load of a million records costs no more than
before; only changes pay. The graph as it was at time T is then, per record, the current row
if it was last updated at or before T, else the version that was valid at T.

The audit trail records who changed what, when and from which submission. Small writes (the
API, accepted submissions) get one entry per changed record; bulk loads get one entry with
their counts, so that auditing never dominates a million-record load.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

HISTORY_SCHEMA = """
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
CREATE TRIGGER IF NOT EXISTS entities_keep_deleted AFTER DELETE ON entities BEGIN
    INSERT INTO entity_versions VALUES (old.id, old.kind, old.name, old.marking, old.props,
        old.search, old.created_at, old.updated_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END;
CREATE TRIGGER IF NOT EXISTS relations_keep_version AFTER UPDATE ON relations BEGIN
    INSERT INTO relation_versions VALUES (old.source, old.type, old.target, old.key,
        old.marking, old.props, old.created_at, old.updated_at, new.updated_at);
END;
CREATE TRIGGER IF NOT EXISTS relations_keep_deleted AFTER DELETE ON relations BEGIN
    INSERT INTO relation_versions VALUES (old.source, old.type, old.target, old.key,
        old.marking, old.props, old.created_at, old.updated_at,
        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
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
    detail TEXT
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


def normalise_time(value: str | datetime) -> str:
    """Any ISO 8601 time (or date) as the store's UTC text format, for comparisons."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


@dataclass(slots=True)
class AuditContext:
    """Who is writing, as what action, on behalf of which submission."""

    actor: str | None = None
    action: str = "write"
    submission: str | None = None


@dataclass(slots=True)
class AuditEntry:
    """One line of the audit trail."""

    seq: int
    at: str
    actor: str | None
    action: str
    entity: str | None
    relation: list[str] | None
    submission: str | None
    detail: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {name: getattr(self, name) for name in self.__slots__}


def record_change(
    conn: sqlite3.Connection,
    context: AuditContext,
    action: str,
    entity: str | None,
    relation: tuple[str, str, str, str] | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry (inside the caller's transaction, so it lands with the change)."""
    conn.execute(
        "INSERT INTO audit (at, actor, action, entity, other, relation, submission, detail) "
        "VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?, ?, ?, ?, ?, ?, ?)",
        (
            context.actor,
            action,
            relation[0] if relation else entity,
            relation[2] if relation else None,
            orjson.dumps(list(relation)).decode() if relation else None,
            context.submission,
            orjson.dumps(detail).decode() if detail else None,
        ),
    )


def read_audit(
    conn: sqlite3.Connection,
    entity: str | None,
    since: str | None,
    after_seq: int,
    limit: int,
) -> list[AuditEntry]:
    """Entries in order, optionally touching `entity` (either end of a relation) or recent."""
    where = ["seq > :after"]
    params: dict[str, Any] = {"after": after_seq, "limit": limit}
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
    return [
        AuditEntry(
            seq,
            at,
            actor,
            action,
            entity_id if relation is None else None,
            orjson.loads(relation) if relation else None,
            submission,
            orjson.loads(detail) if detail else None,
        )
        for seq, at, actor, action, entity_id, relation, submission, detail in rows
    ]
