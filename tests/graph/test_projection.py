"""Projection arrays from the real SQLite store, clearance filtering and the revision cache."""

from __future__ import annotations

import threading

import pytest

from keten.graph.projection import ProjectionCache, build_projection
from keten.graph.sqlite import SqliteStore
from keten.graph.store import EntityRow, RelationRow
from keten.schema.markings import Tlp


def fill(store: SqliteStore) -> None:
    with store.writer() as w:
        w.upsert_entities(
            [
                EntityRow("r:power", "Resource", "Power"),
                EntityRow("r:gas@amber", "Resource", "Gas", marking="amber"),
                EntityRow("vp:water", "VitalProcess", "Water"),
                EntityRow("t:storm", "Threat", "Storm"),
                EntityRow("i:social", "Interest", "Social"),
            ]
        )
        w.upsert_relations(
            [
                RelationRow(
                    "vp:water",
                    "DEPENDS_ON",
                    "r:power",
                    props={"buffer_hours": 6, "redundancy_group": "energy"},
                ),
                RelationRow(
                    "vp:water", "DEPENDS_ON", "r:gas@amber", props={"redundancy_group": "energy"}
                ),
                RelationRow("t:storm", "DISRUPTS", "r:power", props={"strength": 0.5}),
                RelationRow("vp:water", "SAFEGUARDS", "i:social"),
                RelationRow("r:power", "LOCATED_IN", "vp:water", "@red", marking="red"),
            ]
        )


def test_arrays_follow_the_propagation_direction(sqlite_store: SqliteStore) -> None:
    fill(sqlite_store)
    p = build_projection(sqlite_store, Tlp.RED)
    assert p.ids == sorted(p.ids)
    assert p.successors("r:power") == ["vp:water"]
    assert p.successors("t:storm") == ["r:power"]
    assert p.successors("vp:water") == []
    storm = p.indptr[p.index["t:storm"]]
    assert (p.strength[storm], p.buffer_hours[storm], p.group[storm]) == (0.5, 0.0, -1)
    power = p.indptr[p.index["r:power"]]
    assert p.buffer_hours[power] == 6.0
    # both water edges share one group of two members
    gas = p.indptr[p.index["r:gas@amber"]]
    assert p.group[power] == p.group[gas] >= 0
    assert p.group_size.tolist() == [2]
    assert [p.ids[i] for i in p.interests_of(p.index["vp:water"])] == ["i:social"]
    assert p.safeguards_map == {"vp:water": ["i:social"]}
    both = p.effect_edges.types_between(p.index["r:power"], p.index["vp:water"])
    assert both == {"DEPENDS_ON", "LOCATED_IN"}  # turned around, and as stored
    edge = p.propagation_graph.edges[p.index["r:power"], p.index["vp:water"]]
    assert edge == {"buffer_hours": 6.0, "strength": 1.0}
    assert p.revision == sqlite_store.revision()


def test_clearance_hides_entities_and_their_edges(sqlite_store: SqliteStore) -> None:
    fill(sqlite_store)
    p = build_projection(sqlite_store, Tlp.GREEN)
    assert "r:gas@amber" not in p.index
    # the hidden member no longer counts: the group has one visible member
    assert p.group_size.tolist() == [1]
    assert p.effect_edges.heads.shape[0] == 3


def test_cache_rebuilds_only_when_the_revision_moves(sqlite_store: SqliteStore) -> None:
    fill(sqlite_store)
    cache = ProjectionCache(sqlite_store)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(Tlp.RED))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.builds == 1 and len({id(r) for r in results}) == 1
    first = cache.get(Tlp.RED)
    with sqlite_store.writer() as w:
        w.upsert_entities([EntityRow("r:oil", "Resource", "Oil")])
    second = cache.get(Tlp.RED)
    # the write is followed, not the whole store read again
    assert second is not first and "r:oil" in second.index
    assert (cache.builds, cache.updates) == (1, 1)
    assert cache.get(Tlp.RED) is second
    assert cache.get(Tlp.CLEAR) is not second and cache.builds == 2


def test_arrays_are_read_only(sqlite_store: SqliteStore) -> None:
    fill(sqlite_store)
    p = build_projection(sqlite_store, Tlp.RED)
    for array in (p.indptr, p.targets, p.buffer_hours, p.strength, p.group, p.rel_type):
        with pytest.raises(ValueError, match="read-only"):
            array[:1] = 0
