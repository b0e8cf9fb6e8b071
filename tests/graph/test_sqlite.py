"""The SQLite store's projection stream: the rows it gives, and the store after it let go of
its page cache."""

from __future__ import annotations

from keten.graph.projection import build_projection
from keten.graph.sqlite import SqliteStore
from keten.graph.store import EntityRow
from keten.schema.markings import Tlp
from tests.graph.test_projection import fill


def triples(rows: object) -> list[tuple[str, str, str, str]]:
    return sorted((r.source, r.type, r.target, r.key) for r in rows)  # type: ignore[attr-defined]


def test_projection_rows_are_those_of_the_full_streams(sqlite_store: SqliteStore) -> None:
    fill(sqlite_store)
    for clearance in (Tlp.GREEN, Tlp.RED):
        entities, relations = sqlite_store.projection_rows(clearance)
        assert [e.id for e in entities] == [e.id for e in sqlite_store.iter_entities(clearance)]
        assert triples(relations) == triples(sqlite_store.iter_relations(clearance))
    green = {r.target for r in sqlite_store.projection_rows(Tlp.GREEN)[1]}
    assert "r:gas@amber" not in green  # a hidden end hides the relation


def test_the_store_goes_on_after_a_stream_gave_its_cache_back(sqlite_store: SqliteStore) -> None:
    """Reading every relation gives the connection's cached pages back at the end (and when
    the stream is dropped half read); the same connection then reads and writes as before."""
    fill(sqlite_store)
    before = build_projection(sqlite_store, Tlp.RED)
    _, relations = sqlite_store.projection_rows(Tlp.RED)
    next(relations)
    del relations  # dropped half read (the generator closes)
    with sqlite_store.writer() as w:
        w.upsert_entities([EntityRow("r:oil", "Resource", "Oil")])
    after = build_projection(sqlite_store, Tlp.RED)
    assert list(after.ids) == sorted([*before.ids, "r:oil"])
    assert after.successors("r:power") == before.successors("r:power")
