"""Projection arrays from the real SQLite store, clearance filtering and the revision cache."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from keten.graph.projection import (
    RELATION_TYPES,
    TYPE_CODE,
    AuditPosition,
    Edges,
    Entities,
    Projection,
    ProjectionCache,
    RelationTable,
    _read_entities,
    assemble,
    build_projection,
    read_relations,
)
from keten.graph.projection_files import ARRAYS
from keten.graph.projection_strings import Codes, Strings
from keten.graph.sqlite import SqliteStore
from keten.graph.store import EntityRow, RelationRow
from keten.schema.markings import Tlp
from tests.conftest import resident_kb
from tests.graph.test_projection_delta import assert_same


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


def assembled_from_lists(store: SqliteStore, clearance: Tlp) -> Projection:
    """The projection as it was made before entities were kept compact while reading: lists,
    a dict, and the table sorted by `canonical`."""
    rows = sorted(store.iter_entities(clearance), key=lambda row: row.id)
    ids = [row.id for row in rows]
    index = {entity_id: i for i, entity_id in enumerate(ids)}
    entities = Entities(ids, index, [row.kind for row in rows], [row.name for row in rows])
    codes: dict[str, int] = {}
    table = read_relations(store.iter_relations(clearance), index, codes)
    position = AuditPosition(*store.audit_head())
    return assemble(
        store.revision(clearance), clearance, "all", entities, table, list(codes), position
    )


@pytest.mark.parametrize("clearance", [Tlp.RED, Tlp.GREEN])
def test_a_read_afresh_equals_one_assembled_from_lists(
    sqlite_store: SqliteStore, clearance: Tlp
) -> None:
    fill(sqlite_store)
    with sqlite_store.writer() as w:  # a name that is not ASCII, a second group name
        w.upsert_entities([EntityRow("r:heat", "Resource", "Wärme")])
        w.upsert_relations(
            [RelationRow("vp:water", "DEPENDS_ON", "r:heat", props={"redundancy_group": "a"})]
        )
    built = build_projection(sqlite_store, clearance)
    assert isinstance(built.ids, Strings) and isinstance(built.kinds, Codes)
    assert_same(built, assembled_from_lists(sqlite_store, clearance))
    assert built.names[built.index["r:heat"]] == "Wärme"


def test_a_low_clearance_read_afresh_equals_a_store_of_what_it_sees(tmp_path: Path) -> None:
    full = SqliteStore(tmp_path / "full.sqlite")
    fill(full)
    seen = SqliteStore(tmp_path / "seen.sqlite")
    with seen.writer() as w:
        w.upsert_entities(list(full.iter_entities(Tlp.GREEN)))
        w.upsert_relations(list(full.iter_relations(Tlp.GREEN)))
    low, only = build_projection(full, Tlp.GREEN), build_projection(seen, Tlp.RED)
    assert "r:gas@amber" not in low.index
    assert list(low.ids) == list(only.ids) and list(low.names) == list(only.names)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(low, name), getattr(only, name), err_msg=name)


def test_entities_read_out_of_order_are_sorted() -> None:
    rows = [EntityRow("b:2", "Threat", "Zwei"), EntityRow("a:1", "Resource", "Eins ä")]
    rows.append(EntityRow("c:3", "Interest", "Drei"))
    ids, kinds, names = _read_entities(iter(rows))
    assert ids == ["a:1", "b:2", "c:3"]
    assert list(kinds) == ["Resource", "Threat", "Interest"]
    assert kinds.vocabulary == sorted(kinds.vocabulary)
    assert list(names) == ["Eins ä", "Zwei", "Drei"]


def test_edges_sorted_of_equal_edges_sorted_after_they_are_made() -> None:
    """The edges gathered once in sorted order equal those made in table order and then
    sorted stably by (tail, head), as they were made before."""
    rng = np.random.default_rng(3)
    rows, n, names = 5000, 300, 3
    table = RelationTable(
        rng.integers(0, n, rows).astype(np.int32),
        rng.integers(0, n, rows).astype(np.int32),
        rng.integers(0, len(RELATION_TYPES), rows).astype(np.int8),
        rng.choice([0.0, 6.0, 12.0], rows),
        rng.random(rows),
        rng.integers(-1, names, rows).astype(np.int32),
    )
    edges = Edges.sorted_of(table, names, n)
    w = np.flatnonzero(
        (table.type == TYPE_CODE["DEPENDS_ON"]) | (table.type == TYPE_CODE["DISRUPTS"])
    )
    dep = table.type[w] == TYPE_CODE["DEPENDS_ON"]
    tails = np.where(dep, table.target[w], table.source[w]).astype(np.int64)
    heads = np.where(dep, table.source[w], table.target[w]).astype(np.int64)
    codes = table.group[w]
    made = {
        "tails": tails,
        "heads": heads,
        "buffer_hours": table.buffer_hours[w],
        "strength": table.strength[w],
        "key": np.where(dep & (codes >= 0), heads * names + codes, -1),
        "kind": np.where(dep, 0, 1).astype(np.int8),
    }
    order = np.argsort(tails * n + heads, kind="stable")
    assert (made["key"] >= 0).any() and (made["kind"] == 1).any()
    for name, column in made.items():
        np.testing.assert_array_equal(getattr(edges, name), column[order], err_msg=name)


def test_a_refresh_lets_go_of_the_pages_of_kept_projections(tmp_path: Path) -> None:
    """Before a projection is brought forward, the mapped pages of those kept leave the
    process's resident memory and their spare workspaces go; they are read again from the
    file cache, the same."""
    from keten.queries.cascade import cascade

    store = SqliteStore(tmp_path / "keten.sqlite")
    fill(store)
    directory = tmp_path / "projection"
    ProjectionCache(store, directory).get(Tlp.GREEN)  # saved beside the store
    cache = ProjectionCache(store, directory)
    green = cache.get(Tlp.GREEN)
    assert isinstance(green.targets, np.memmap)
    before = [green.successors(i) for i in green.ids]
    answer = cascade(green, ["r:power"])
    (folder,) = directory.glob("*/green.all")
    assert resident_kb(folder) > 0 and green.workspaces
    cache.get(Tlp.RED)  # read afresh: the green pages and workspaces go first
    assert resident_kb(folder) == 0 and green.workspaces == []
    assert [green.successors(i) for i in green.ids] == before
    assert cascade(green, ["r:power"]) == answer
    assert resident_kb(folder) > 0
    store.close()
