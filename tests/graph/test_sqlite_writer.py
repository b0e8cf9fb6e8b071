"""SqliteWriter's quick way (one executemany of new rows, stopped at the first stored
identity) writes, counts and refuses what the exact way does."""

from __future__ import annotations

from pathlib import Path

from keten.graph.history import AUDIT_EACH_UP_TO
from keten.graph.sqlite import SqliteStore
from keten.graph.sqlite_writer import (
    NEW_PARAMS,
    quick_relation_values,
    relation_audit_level,
    relation_params,
    split_props,
)
from keten.graph.store import EntityRow, RelationRow, WriteCounts

SIZE = AUDIT_EACH_UP_TO + 50
"""Past the audit threshold, so that batches go the quick way."""


def entities(start: int, stop: int, **props: object) -> list[EntityRow]:
    return [
        EntityRow(f"r:{i:05d}", "Resource", f"R{i}", props=dict(props)) for i in range(start, stop)
    ]


def relations(start: int, stop: int, **props: object) -> list[RelationRow]:
    return [
        RelationRow(f"r:{i:05d}", "INPUT_TO", "r:00000", props=dict(props))
        for i in range(start, stop)
    ]


def stored(store: SqliteStore) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """What the store holds, without times (each write has its own stamp)."""
    ents = [(r.id, r.kind, r.name, r.marking, r.props) for r in store.iter_entities()]
    rels = [(r.ref, r.marking, r.props) for r in store.iter_relations()]
    return sorted(ents), sorted(rels)  # type: ignore[type-var]


def test_a_stored_identity_midway_stops_the_quick_way_at_its_row(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    with store.writer() as w:
        w.upsert_entities(entities(0, 10) + entities(SIZE, SIZE + 10))
        w.upsert_relations(relations(1, 3))
    batch = entities(10, SIZE) + entities(SIZE, SIZE + 2, a=1) + entities(SIZE + 20, SIZE + 30)
    rel_batch = relations(3, SIZE) + relations(1, 2, a=1) + relations(SIZE, SIZE + 5)
    with store.writer() as w:
        w.upsert_entities(batch)
        w.upsert_relations(rel_batch)
        counts = w.counts
    assert counts == WriteCounts(
        entities_created=SIZE - 10 + 10,
        entities_updated=2,
        relations_created=SIZE - 3 + 5,
        relations_updated=1,
    )
    assert store.get_entity(f"r:{SIZE:05d}").props == {"a": 1}  # type: ignore[union-attr]
    assert store.get_entity(f"r:{SIZE + 25:05d}") is not None

    exact = SqliteStore(tmp_path / "exact.sqlite")
    with exact.writer() as w:
        w.upsert_entities(entities(0, 10) + entities(SIZE, SIZE + 10))
        w.upsert_relations(relations(1, 3))
    for start in range(0, len(batch), 100):  # writes of 100: the exact way, record by record
        with exact.writer() as w:
            w.upsert_entities(batch[start : start + 100])
    for start in range(0, len(rel_batch), 100):
        with exact.writer() as w:
            w.upsert_relations(rel_batch[start : start + 100])
    assert stored(store) == stored(exact)
    conn = store._conn()
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_one_identity_twice_in_a_quick_batch(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    same = entities(0, SIZE) + entities(5, 6)
    with store.writer() as w:
        w.upsert_entities(same)
        assert (w.counts.entities_created, w.counts.entities_unchanged) == (SIZE, 1)
        assert not w.conflicts
    other = SqliteStore(tmp_path / "other.sqlite")
    with other.writer() as w:
        w.upsert_entities(entities(0, SIZE) + entities(5, 6, a=2))
        assert [(c.entity, c.fields) for c in w.conflicts] == [("r:00005", ["a"])]


def test_split_props_tells_a_null_from_the_text_null() -> None:
    """The JSON is searched for `null` before the values are: text holding "null" is kept,
    a None is a removal."""
    assert split_props({"note": "null", "a": 1}) == ('{"a":1,"note":"null"}', None)
    assert split_props({"note": "null", "gone": None, "x": [None]}) == (
        '{"note":"null","x":[null]}',
        '["gone"]',
    )
    assert split_props({"a": 1}) == ('{"a":1}', None)


def test_quick_values_are_what_the_parameters_say() -> None:
    """The quick way's values, made straight from rows, hold what `relation_params` makes
    for the insert, and the audit levels it ends with (ends in a namespace, markings)."""
    rows = [
        RelationRow("r:a", "INPUT_TO", "r:b"),
        RelationRow("r:a", "INPUT_TO", "r:b@amber", "k", props={"x": None, "y": "null"}),
        RelationRow("r:a@red", "CITES", "r:b", marking="green"),
        RelationRow("r:a", "INPUT_TO", "r:b", marking="amber", props={"n": 1}),
    ]
    values = quick_relation_values(rows, "stamp")
    params = relation_params(rows)
    assert [v[:NEW_PARAMS] for v in values] == [p[:NEW_PARAMS] for p in params]
    assert {v[-1] for v in values} == {"stamp"}
    assert [relation_audit_level(v, v[4]) for v in values] == [p[-1] for p in params]
    assert [p[-1] for p in params] == [0, 2, 4, 2]  # clear, amber (an end), red (an end), amber
