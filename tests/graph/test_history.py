"""The SQLite store's history: listings as of a past time, and the append-only audit trail."""

from __future__ import annotations

import sqlite3
import time

import pytest

from keten.graph.history import AUDIT_EACH_UP_TO, normalise_time
from keten.graph.sqlite import SqliteStore, now
from keten.graph.store import EntityFilter, EntityRow, RelationFilter, RelationRow


def tick() -> str:
    """A timestamp strictly between two writes."""
    time.sleep(0.01)
    stamp = now()
    time.sleep(0.01)
    return stamp


def test_listings_as_of_a_past_time(sqlite_store: SqliteStore) -> None:
    before_all = tick()
    with sqlite_store.writer(actor="alice") as w:
        w.upsert_entities(
            [
                EntityRow("vp:a", "VitalProcess", "First name"),
                EntityRow("vp:b", "VitalProcess", "B"),
            ]
        )
        w.upsert_relations([RelationRow("vp:a", "DEPENDS_ON", "vp:b", props={"strength": 0.5})])
    first = tick()
    with sqlite_store.writer(actor="bob") as w:
        w.upsert_entities([EntityRow("vp:a", "VitalProcess", "Second name")])
        w.upsert_relations([RelationRow("vp:a", "DEPENDS_ON", "vp:b", props={"strength": 0.9})])
    second = tick()
    sqlite_store.delete_entity("vp:b", actor="carol")

    def names(as_of: str | None) -> dict[str, str]:
        page = sqlite_store.list_entities(EntityFilter(as_of=as_of))
        return {e.id: e.name for e in page.items}

    def strengths(as_of: str | None) -> list[float]:
        page = sqlite_store.list_relations(RelationFilter(as_of=as_of))
        return [r.props["strength"] for r in page.items]

    assert names(before_all) == {}
    assert names(first) == {"vp:a": "First name", "vp:b": "B"}
    assert names(second) == {"vp:a": "Second name", "vp:b": "B"}
    assert names(None) == {"vp:a": "Second name"}
    assert strengths(first) == [0.5] and strengths(second) == [0.9] and strengths(None) == []
    assert names("2000-01-01") == {}
    assert names(normalise_time(first)) == names(first)


def test_audit_names_who_changed_what(sqlite_store: SqliteStore) -> None:
    with sqlite_store.writer(actor="alice", action="load", submission="sub-1") as w:
        w.upsert_entities(
            [EntityRow("vp:a", "VitalProcess", "A"), EntityRow("vp:b", "VitalProcess", "B")]
        )
        w.upsert_relations([RelationRow("vp:a", "DEPENDS_ON", "vp:b")])
    with sqlite_store.writer(actor="bob") as w:  # identical: no entry
        w.upsert_entities([EntityRow("vp:a", "VitalProcess", "A")])
    middle = tick()
    with sqlite_store.writer(actor="bob") as w:
        w.upsert_entities([EntityRow("vp:a", "VitalProcess", "A2")])
    sqlite_store.delete_relation(("vp:a", "DEPENDS_ON", "vp:b", ""), actor="carol")
    trail = sqlite_store.audit().items
    assert [(e.actor, e.action, e.entity, e.relation, e.submission) for e in trail] == [
        ("alice", "create", "vp:a", None, "sub-1"),
        ("alice", "create", "vp:b", None, "sub-1"),
        ("alice", "create", None, ["vp:a", "DEPENDS_ON", "vp:b", ""], "sub-1"),
        ("bob", "update", "vp:a", None, None),
        ("carol", "delete", None, ["vp:a", "DEPENDS_ON", "vp:b", ""], None),
    ]
    assert len(sqlite_store.audit(entity="vp:b").items) == 3
    assert [e.actor for e in sqlite_store.audit(since=middle).items] == ["bob", "carol"]
    page = sqlite_store.audit(limit=2)
    assert len(page.items) == 2 and page.next_cursor
    assert sqlite_store.audit(cursor=page.next_cursor).items[0].relation == [
        "vp:a",
        "DEPENDS_ON",
        "vp:b",
        "",
    ]


def test_audit_is_append_only(sqlite_store: SqliteStore) -> None:
    with sqlite_store.writer(actor="alice") as w:
        w.upsert_entities([EntityRow("vp:a", "VitalProcess", "A")])
    conn = sqlite_store._conn()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit SET actor = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit")


def test_bulk_writes_get_one_entry(sqlite_store: SqliteStore) -> None:
    rows = [EntityRow(f"r:{i}", "Resource", f"R{i}") for i in range(AUDIT_EACH_UP_TO + 1)]
    with sqlite_store.writer(actor="loader", action="load") as w:
        w.upsert_entities(rows)
    (entry,) = sqlite_store.audit().items
    assert (entry.actor, entry.action) == ("loader", "bulk-load")
    assert entry.detail == {"entities_created": AUDIT_EACH_UP_TO + 1}
