"""The GraphStore contract, run against every backend (see conftest: sqlite, neo4j)."""

from __future__ import annotations

from typing import Any

import pytest

from keten.graph.store import EntityFilter, EntityRow, RelationFilter, RelationRow
from keten.schema.markings import Tlp


def fill(store: Any) -> None:
    """A small graph: power <- water <- hospital, an amber entity and an amber relation."""
    with store.writer() as w:
        w.upsert_entities(
            [
                EntityRow("vp:power", "VitalProcess", "Electricity", props={"aliases": ["Stroom"]}),
                EntityRow("vp:water", "VitalProcess", "Drinking water"),
                EntityRow("org:hospital", "Organisation", "Hospital"),
                EntityRow("org:secret", "Organisation", "Secret site", marking="amber"),
            ]
        )
        w.upsert_relations(
            [
                RelationRow("vp:water", "DEPENDS_ON", "vp:power", props={"buffer_hours": 4.0}),
                RelationRow("org:hospital", "DEPENDS_ON", "vp:water"),
                RelationRow("org:hospital", "DEPENDS_ON", "vp:power", marking="amber"),
                RelationRow("org:secret", "DEPENDS_ON", "vp:power"),
            ]
        )


def test_upsert_get_and_revision(store: Any) -> None:
    assert store.revision() == 0
    fill(store)
    assert store.revision() == 1
    entity = store.get_entity("vp:power")
    assert entity is not None
    assert (entity.kind, entity.name, entity.props["aliases"]) == (
        "VitalProcess",
        "Electricity",
        ["Stroom"],
    )
    assert entity.created_at and entity.updated_at
    rel = store.get_relation(("vp:water", "DEPENDS_ON", "vp:power", ""))
    assert rel is not None and rel.props == {"buffer_hours": 4.0}


def test_identical_write_changes_nothing(store: Any) -> None:
    fill(store)
    before = store.get_entity("vp:power")
    with store.writer() as w:
        w.upsert_entities(
            [EntityRow("vp:power", "VitalProcess", "Electricity", props={"aliases": ["Stroom"]})]
        )
        counts = w.counts
    assert counts.entities_unchanged == 1 and counts.entities_updated == 0
    assert store.revision() == 1
    assert store.get_entity("vp:power") == before


def test_update_keeps_created_at(store: Any) -> None:
    fill(store)
    before = store.get_entity("vp:water")
    with store.writer() as w:
        w.upsert_entities([EntityRow("vp:water", "VitalProcess", "Water supply")])
        assert w.counts.entities_updated == 1
    after = store.get_entity("vp:water")
    assert after.name == "Water supply" and after.created_at == before.created_at
    assert store.revision() == 2


def test_error_inside_writer_keeps_nothing(store: Any) -> None:
    fill(store)
    with pytest.raises(RuntimeError), store.writer() as w:
        w.upsert_entities([EntityRow("vp:new", "VitalProcess", "New")])
        raise RuntimeError("crash mid-load")
    assert store.get_entity("vp:new") is None
    assert store.revision() == 1


def test_clearance_hides_entities_and_their_relations(store: Any) -> None:
    fill(store)
    assert store.get_entity("org:secret", Tlp.GREEN) is None
    assert store.get_entity("org:secret", Tlp.AMBER) is not None
    green = {r.ref for r in store.iter_relations(Tlp.GREEN)}
    assert green == {
        ("vp:water", "DEPENDS_ON", "vp:power", ""),
        ("org:hospital", "DEPENDS_ON", "vp:water", ""),
    }
    assert len(list(store.iter_relations(Tlp.AMBER))) == 4
    assert [e.id for e in store.iter_entities(Tlp.CLEAR)] == [
        "org:hospital",
        "vp:power",
        "vp:water",
    ]


def test_list_entities_filters_and_pages(store: Any) -> None:
    fill(store)
    page = store.list_entities(EntityFilter(kind="VitalProcess"), limit=1)
    assert [e.id for e in page.items] == ["vp:power"]
    page2 = store.list_entities(EntityFilter(kind="VitalProcess"), page.next_cursor, limit=1)
    assert [e.id for e in page2.items] == ["vp:water"] and page2.next_cursor is None
    assert [e.id for e in store.list_entities(EntityFilter(text="stroom")).items] == ["vp:power"]
    assert [e.id for e in store.list_entities(EntityFilter(text="%")).items] == []
    assert store.list_entities(EntityFilter(marking="amber", clearance=Tlp.GREEN)).items == []


def test_bad_cursor_is_refused(store: Any) -> None:
    with pytest.raises(ValueError, match="cursor"):
        store.list_entities(EntityFilter(), cursor="not-a-cursor")


def test_list_relations_filters_and_pages(store: Any) -> None:
    fill(store)
    refs = []
    cursor = None
    while True:
        page = store.list_relations(RelationFilter(target="vp:power"), cursor, limit=1)
        refs += [r.ref for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert refs == sorted(refs) and len(refs) == 3
    visible = store.list_relations(RelationFilter(target="vp:power", clearance=Tlp.GREEN))
    assert [r.source for r in visible.items] == ["vp:water"]


def test_delete_entity_reports_its_relations(store: Any) -> None:
    fill(store)
    gone = store.delete_entity("vp:water")
    assert gone is not None
    assert sorted(r.ref for r in gone) == [
        ("org:hospital", "DEPENDS_ON", "vp:water", ""),
        ("vp:water", "DEPENDS_ON", "vp:power", ""),
    ]
    assert store.get_entity("vp:water") is None
    assert store.delete_entity("vp:water") is None
    assert store.revision() == 2


def test_delete_relation(store: Any) -> None:
    fill(store)
    ref = ("org:hospital", "DEPENDS_ON", "vp:water", "")
    assert store.delete_relation(ref) is True
    assert store.delete_relation(ref) is False
    assert store.get_relation(ref) is None


def test_neighbourhood_depth_and_clearance(store: Any) -> None:
    fill(store)
    entities, relations = store.neighbourhood("org:hospital", depth=1, clearance=Tlp.GREEN)
    assert {e.id for e in entities} == {"org:hospital", "vp:water"}
    assert [r.ref for r in relations] == [("org:hospital", "DEPENDS_ON", "vp:water", "")]
    entities, _ = store.neighbourhood("org:hospital", depth=2, clearance=Tlp.RED)
    assert {e.id for e in entities} == {"org:hospital", "vp:water", "vp:power", "org:secret"}
    assert store.neighbourhood("org:secret", 1, Tlp.GREEN) == ([], [])


def test_kinds_of_inside_a_write(store: Any) -> None:
    fill(store)
    with store.writer() as w:
        w.upsert_entities([EntityRow("country:NL", "Country", "Netherlands")])
        assert w.kinds_of(["country:NL", "vp:power", "nope"]) == {
            "country:NL": "Country",
            "vp:power": "VitalProcess",
        }
