"""What only the SQLite store's history does: its triggers refuse to rewrite the audit trail,
and a store made by an earlier keten gains the audit levels it lacks. (The behaviour both
stores share, `as_of` listings and the audit trail, is in the contract suite.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from keten.graph.sqlite import SqliteStore
from keten.graph.store import EntityRow
from keten.schema.markings import Tlp


def test_audit_is_append_only(sqlite_store: SqliteStore) -> None:
    with sqlite_store.writer(actor="alice") as w:
        w.upsert_entities([EntityRow("vp:a", "VitalProcess", "A")])
    conn = sqlite_store._conn()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit SET actor = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit")


def test_an_older_store_gains_levels_and_revisions(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "INSERT INTO meta VALUES ('revision', 7);"
        "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT,"
        " action TEXT NOT NULL, entity TEXT, other TEXT, relation TEXT, submission TEXT,"
        " detail TEXT);"
        "INSERT INTO audit (at, action, entity) VALUES ('2026-01-01T00:00:00.000Z', 'create', 'x');"
    )
    old.commit()
    old.close()
    store = SqliteStore(path)
    assert [store.revision(level) for level in Tlp] == [7] * 5
    assert [e.entity for e in store.audit(clearance=Tlp.GREEN).items] == ["x"]
    store.close()


def test_store_files_are_private(sqlite_store: SqliteStore) -> None:
    with sqlite_store.writer() as w:
        w.upsert_entities([EntityRow("vp:a", "VitalProcess", "A")])
    for path in Path(sqlite_store.path).parent.glob("keten.sqlite*"):
        assert path.stat().st_mode & 0o077 == 0, path
