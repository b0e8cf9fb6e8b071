"""The GraphStore contract, run against every backend (see conftest: sqlite, neo4j)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from keten.graph.history import AUDIT_EACH_UP_TO
from keten.graph.projection import build_projection
from keten.graph.rows import normalise_time, now
from keten.graph.store import (
    KEEP,
    EntityFilter,
    EntityRow,
    HasRelationsError,
    KindChangeError,
    RelationFilter,
    RelationRow,
    WriteMode,
)
from keten.schema.markings import Tlp

SECRET_DEPENDENCY = ("org:hospital", "DEPENDS_ON", "vp:power", "@amber")


def fill(store: Any) -> None:
    """A small graph: power <- water <- hospital, an amber entity and an amber relation."""
    with store.writer() as w:
        w.upsert_entities(
            [
                EntityRow("vp:power", "VitalProcess", "Electricity", props={"aliases": ["Stroom"]}),
                EntityRow("vp:water", "VitalProcess", "Drinking water"),
                EntityRow("org:hospital", "Organisation", "Hospital"),
                EntityRow("org:secret@amber", "Organisation", "Secret site", marking="amber"),
            ]
        )
        w.upsert_relations(
            [
                RelationRow("vp:water", "DEPENDS_ON", "vp:power", props={"buffer_hours": 4.0}),
                RelationRow("org:hospital", "DEPENDS_ON", "vp:water"),
                RelationRow(*SECRET_DEPENDENCY, marking="amber"),
                RelationRow("org:secret@amber", "DEPENDS_ON", "vp:power"),
            ]
        )


def tick() -> str:
    """A time strictly between two writes."""
    time.sleep(0.01)
    stamp = now()
    time.sleep(0.01)
    return stamp


def write_entities(store: Any, *rows: EntityRow, **how: Any) -> Any:
    """Write entity rows in one transaction; the writer (for its counts and changes)."""
    with store.writer(**how) as w:
        w.upsert_entities(list(rows))
    return w


# -- writing ------------------------------------------------------------------------------


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
    assert entity.created_at == entity.updated_at
    assert normalise_time(entity.created_at) == entity.created_at
    rel = store.get_relation(("vp:water", "DEPENDS_ON", "vp:power", ""))
    assert rel is not None and rel.props == {"buffer_hours": 4.0}


def test_identical_write_changes_nothing(store: Any) -> None:
    fill(store)
    before = store.get_entity("vp:power")
    w = write_entities(
        store, EntityRow("vp:power", "VitalProcess", "Electricity", props={"aliases": ["Stroom"]})
    )
    assert w.counts.entities_unchanged == 1 and w.counts.entities_updated == 0
    assert store.revision() == 1
    assert store.get_entity("vp:power") == before


def test_update_keeps_created_at_and_lists_the_changed_fields(store: Any) -> None:
    fill(store)
    before = store.get_entity("vp:water")
    w = write_entities(store, EntityRow("vp:water", "VitalProcess", "Water supply"))
    assert w.counts.entities_updated == 1
    assert [c.as_dict() for c in w.changes] == [{"entity": "vp:water", "fields": ["name"]}]
    after = store.get_entity("vp:water")
    assert after.name == "Water supply" and after.created_at == before.created_at
    assert after.updated_at > before.updated_at
    assert store.revision() == 2


def test_a_partial_record_merges_and_null_removes(store: Any) -> None:
    write_entities(
        store,
        EntityRow(
            "vp:gas",
            "VitalProcess",
            "Gas",
            marking="green",
            props={"sector": "Energy", "ministry": "EZK", "source_ids": ["src:a"]},
        ),
    )
    w = write_entities(
        store, EntityRow("vp:gas", "VitalProcess", "Gas", KEEP, {"category": "A", "ministry": None})
    )
    assert [c.fields for c in w.changes] == [["category", "ministry"]]
    gas = store.get_entity("vp:gas")
    assert gas.marking == "green"
    assert gas.props == {"sector": "Energy", "category": "A", "source_ids": ["src:a"]}


def test_replace_mode_replaces_the_whole_record(store: Any) -> None:
    write_entities(
        store,
        EntityRow("vp:gas", "VitalProcess", "Gas", "green", {"sector": "Energy"}),
    )
    write_entities(
        store,
        EntityRow("vp:gas", "VitalProcess", "Gas", KEEP, {"category": "A"}),
        mode=WriteMode.REPLACE,
    )
    gas = store.get_entity("vp:gas")
    assert (gas.marking, gas.props) == ("clear", {"category": "A"})


def test_relations_merge_too(store: Any) -> None:
    fill(store)
    ref = ("vp:water", "DEPENDS_ON", "vp:power", "")
    with store.writer() as w:
        w.upsert_relations([RelationRow(*ref, props={"strength": 0.5})])
    assert [c.as_dict() for c in w.changes] == [{"relation": list(ref), "fields": ["strength"]}]
    assert store.get_relation(ref).props == {"buffer_hours": 4.0, "strength": 0.5}
    with store.writer() as w:
        w.upsert_relations([RelationRow(*ref, props={"buffer_hours": None})])
    assert store.get_relation(ref).props == {"strength": 0.5}


def test_an_id_keeps_its_kind(store: Any) -> None:
    fill(store)
    with pytest.raises(KindChangeError, match="VitalProcess"), store.writer() as w:
        w.upsert_entities([EntityRow("vp:new", "VitalProcess", "New")])
        w.upsert_entities([EntityRow("vp:water", "Resource", "Water")])
    assert store.get_entity("vp:water").kind == "VitalProcess"
    assert store.get_entity("vp:new") is None


def test_two_different_records_of_one_identity_in_one_write_conflict(store: Any) -> None:
    with store.writer() as w:
        w.upsert_entities([EntityRow("vp:a", "VitalProcess", "A", props={"sector": "x"})])
        w.upsert_entities([EntityRow("vp:a", "VitalProcess", "A", props={"sector": "x"})])
        assert w.conflicts == []
        w.upsert_entities([EntityRow("vp:a", "VitalProcess", "A", props={"sector": "y"})])
        w.upsert_entities(
            [EntityRow("vp:b", "VitalProcess", "B"), EntityRow("vp:b", "VitalProcess", "B2")]
        )
    assert [(c.entity, c.fields) for c in w.conflicts] == [("vp:a", ["sector"]), ("vp:b", ["name"])]


def test_times_belong_to_the_store(store: Any) -> None:
    past = "2001-01-01T00:00:00.000Z"
    write_entities(store, EntityRow("vp:a", "VitalProcess", "A", created_at=past, updated_at=past))
    assert store.get_entity("vp:a").created_at > past
    first = store.get_entity("vp:a").updated_at
    write_entities(store, EntityRow("vp:a", "VitalProcess", "A2", updated_at=past))
    assert store.get_entity("vp:a").updated_at > first


def test_restore_keeps_the_times_it_is_given(store: Any) -> None:
    past, later = "2001-01-01T00:00:00.000Z", "2002-01-01T00:00:00.000Z"
    write_entities(
        store,
        EntityRow("vp:a", "VitalProcess", "A", created_at=past, updated_at=later),
        mode=WriteMode.RESTORE,
    )
    stored = store.get_entity("vp:a")
    assert (stored.created_at, stored.updated_at) == (past, later)


def test_error_inside_writer_keeps_nothing(store: Any) -> None:
    fill(store)
    with pytest.raises(RuntimeError), store.writer() as w:
        w.upsert_entities([EntityRow("vp:new", "VitalProcess", "New")])
        raise RuntimeError("crash mid-load")
    assert store.get_entity("vp:new") is None
    assert store.revision() == 1


def test_bulk_writes_merge_like_small_ones(store: Any) -> None:
    size = AUDIT_EACH_UP_TO + 10
    write_entities(
        store, *[EntityRow(f"r:{i}", "Resource", "R", props={"a": i}) for i in range(size)]
    )
    rows = [EntityRow(f"r:{i}", "Resource", "R", props={"b": 1}) for i in range(size)]
    w = write_entities(store, *rows, EntityRow("r:new", "Resource", "New"))
    assert (w.counts.entities_updated, w.counts.entities_created) == (size, 1)
    assert store.get_entity("r:7").props == {"a": 7, "b": 1}


def test_kinds_of_inside_a_write(store: Any) -> None:
    fill(store)
    with store.writer() as w:
        w.upsert_entities([EntityRow("country:NL", "Country", "Netherlands")])
        assert w.kinds_of(["country:NL", "vp:power", "nope"]) == {
            "country:NL": "Country",
            "vp:power": "VitalProcess",
        }


# -- reading under a clearance ------------------------------------------------------------


def test_clearance_hides_entities_and_their_relations(store: Any) -> None:
    fill(store)
    assert store.get_entity("org:secret@amber", Tlp.GREEN) is None
    assert store.get_entity("org:secret@amber", Tlp.AMBER) is not None
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


def test_source_ids_never_name_what_the_clearance_hides(store: Any) -> None:
    cites = ["src:open", "src:green", "src:secret@red", "src:unknown"]
    with store.writer() as w:
        w.upsert_entities(
            [
                EntityRow("src:open", "Source", "Open"),
                EntityRow("src:green", "Source", "Green", marking="green"),
                EntityRow("src:secret@red", "Source", "Secret", marking="red"),
                EntityRow("vp:a", "VitalProcess", "A", props={"source_ids": cites}),
                EntityRow("vp:b", "VitalProcess", "B", props={"source_ids": ["src:secret@red"]}),
            ]
        )
        w.upsert_relations([RelationRow("vp:a", "DEPENDS_ON", "vp:b", props={"source_ids": cites})])
    assert store.get_entity("vp:a").props["source_ids"] == cites
    green = ["src:open", "src:green", "src:unknown"]
    assert store.get_entity("vp:a", Tlp.GREEN).props["source_ids"] == green
    assert store.get_entity("vp:a", Tlp.CLEAR).props["source_ids"] == ["src:open"]
    assert "source_ids" not in store.get_entity("vp:b", Tlp.AMBER).props
    listed = {e.id: e.props.get("source_ids") for e in store.iter_entities(Tlp.GREEN)}
    assert listed["vp:a"] == green and listed["vp:b"] is None
    (rel,) = store.list_relations(RelationFilter(clearance=Tlp.GREEN)).items
    assert rel.props["source_ids"] == green
    entities, relations = store.neighbourhood("vp:a", 1, Tlp.GREEN)
    assert relations[0].props["source_ids"] == green
    assert all("src:secret@red" not in (e.props.get("source_ids") or []) for e in entities)


def test_impact_never_rates_an_interest_the_clearance_hides(store: Any) -> None:
    impact = {"interest:open": "C", "interest:green": "D", "interest:hidden@amber": "E"}
    write_entities(
        store,
        EntityRow("interest:open", "Interest", "Open"),
        EntityRow("interest:green", "Interest", "Green", "green"),
        EntityRow("interest:hidden@amber", "Interest", "Hidden", "amber"),
        EntityRow("threat:t", "Threat", "T", props={"impact": impact}),
    )
    assert store.get_entity("threat:t").props["impact"] == impact
    assert store.get_entity("threat:t", Tlp.AMBER).props["impact"] == impact
    assert store.get_entity("threat:t", Tlp.GREEN).props["impact"] == {
        "interest:open": "C",
        "interest:green": "D",
    }
    assert store.get_entity("threat:t", Tlp.CLEAR).props["impact"] == {"interest:open": "C"}


def test_revisions_count_only_what_a_clearance_can_see(store: Any) -> None:
    fill(store)
    assert [store.revision(level) for level in Tlp] == [1, 1, 1, 1, 1]
    write_entities(store, EntityRow("actor:x@red", "Actor", "X", marking="red"))
    assert [store.revision(level) for level in Tlp] == [1, 1, 1, 1, 2]
    with store.writer() as w:  # a clear relation with a red end is seen where the end is
        w.upsert_relations([RelationRow("actor:x@red", "DEPENDS_ON", "vp:power")])
    assert [store.revision(level) for level in Tlp] == [1, 1, 1, 1, 3]
    write_entities(store, EntityRow("vp:g", "VitalProcess", "G", marking="green"))
    with store.writer() as w:  # a clear relation with a green end: not seen by clear
        w.upsert_relations([RelationRow("vp:g", "DEPENDS_ON", "vp:power")])
    assert [store.revision(level) for level in Tlp] == [1, 3, 3, 3, 5]
    write_entities(store, EntityRow("vp:g", "VitalProcess", "G", marking="clear"))
    assert [store.revision(level) for level in Tlp] == [2, 4, 4, 4, 6]


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


def listed(store: Any, flt: RelationFilter, limit: int) -> list[Any]:
    """Every relation `flt` lists, page by page of `limit`."""
    refs, cursor = [], None
    while True:
        page = store.list_relations(flt, cursor, limit=limit)
        refs += [r.ref for r in page.items]
        if (cursor := page.next_cursor) is None:
            return refs


def test_a_targets_relations_page_by_identity_with_the_hidden_ones_left_out(store: Any) -> None:
    fill_star(store)
    with store.writer() as w:  # hidden ones between visible ones, in the order of identity
        w.upsert_entities([EntityRow("vp:m0@red", "VitalProcess", "M0", marking="red")])
        w.upsert_relations(
            [
                RelationRow("vp:m0@red", "DEPENDS_ON", "vp:hub"),
                RelationRow("vp:m1", "DEPENDS_ON", "vp:hub", marking="amber"),
                RelationRow("vp:m1", "DISRUPTS", "vp:hub", marking="green"),
                RelationRow("vp:m2", "DISRUPTS", "vp:hub"),
                RelationRow("vp:n3", "DEPENDS_ON", "vp:hub", "second", marking="amber"),
            ]
        )
    for clearance in Tlp:
        visible = [r for r in store.iter_relations(clearance) if r.target == "vp:hub"]
        for type_, marking in [(None, None), ("DISRUPTS", None), (None, "green"), (None, "clear")]:
            expected = sorted(
                r.ref for r in visible if type_ in (None, r.type) and marking in (None, r.marking)
            )
            flt = RelationFilter(type_, target="vp:hub", marking=marking, clearance=clearance)
            for limit in (1, 2, 100):
                assert listed(store, flt, limit) == expected, (clearance, type_, marking, limit)


def test_neighbourhood_depth_and_clearance(store: Any) -> None:
    fill(store)
    entities, relations = store.neighbourhood("org:hospital", depth=1, clearance=Tlp.GREEN)
    assert {e.id for e in entities} == {"org:hospital", "vp:water"}
    assert [r.ref for r in relations] == [("org:hospital", "DEPENDS_ON", "vp:water", "")]
    entities, _ = store.neighbourhood("org:hospital", depth=2, clearance=Tlp.RED)
    assert {e.id for e in entities} == {"org:hospital", "vp:water", "vp:power", "org:secret@amber"}
    assert store.neighbourhood("org:secret@amber", 1, Tlp.GREEN) == ([], [])


def fill_star(store: Any) -> None:
    """A hub with six green neighbours (either direction, one linked twice), an amber one,
    one reached only by an amber relation, and a second hop behind the first neighbours."""
    green = ["vp:hub", *(f"vp:n{i}" for i in range(7)), *(f"vp:m{i}" for i in range(1, 5))]
    with store.writer() as w:
        w.upsert_entities([EntityRow(i, "VitalProcess", i) for i in green])
        w.upsert_entities([EntityRow("org:a@amber", "Organisation", "A", marking="amber")])
        w.upsert_relations(
            [
                *(RelationRow(f"vp:n{i}", "DEPENDS_ON", "vp:hub") for i in (1, 3, 5)),
                *(RelationRow("vp:hub", "DEPENDS_ON", f"vp:n{i}") for i in (2, 4, 6)),
                RelationRow("vp:hub", "DEPENDS_ON", "vp:n2", "second"),
                RelationRow("vp:hub", "DEPENDS_ON", "vp:n0", marking="amber"),
                RelationRow("org:a@amber", "DEPENDS_ON", "vp:hub"),
                RelationRow("vp:n1", "DEPENDS_ON", "vp:n2"),
                RelationRow("vp:n1", "DEPENDS_ON", "vp:m4"),
                RelationRow("vp:m2", "DEPENDS_ON", "vp:n1"),
                RelationRow("vp:n2", "DEPENDS_ON", "vp:m3"),
                RelationRow("vp:n3", "DEPENDS_ON", "vp:m1"),
            ]
        )


def ids_and_refs(answer: Any) -> tuple[list[str], list[Any]]:
    """An answer's entity ids and relation identities, in the order the store gave them."""
    entities, relations = answer
    return [e.id for e in entities], [r.ref for r in relations]


def test_neighbourhood_cap_keeps_closest_hops_then_frontier_order_then_id(store: Any) -> None:
    fill_star(store)
    ids, refs = ids_and_refs(store.neighbourhood("vp:hub", 1, Tlp.RED, limit=4))
    assert ids == ["org:a@amber", "vp:hub", "vp:n0", "vp:n1"]
    assert all(s in ids and t in ids for s, _, t, _ in refs) and len(refs) == 3
    ids, refs = ids_and_refs(store.neighbourhood("vp:hub", 2, Tlp.RED, limit=11))
    assert ids == sorted(
        ["org:a@amber", "vp:hub", *(f"vp:n{i}" for i in range(7)), "vp:m2", "vp:m4"]
    )
    # Hop 2 has room for three: n1's neighbours first (m2, m4), then n2's (m3), never n3's m1.
    ids, refs = ids_and_refs(store.neighbourhood("vp:hub", 2, Tlp.GREEN, limit=10))
    assert ids == sorted(["vp:hub", *(f"vp:n{i}" for i in range(1, 7)), "vp:m2", "vp:m3", "vp:m4"])
    assert ("vp:n1", "DEPENDS_ON", "vp:n2", "") in refs
    assert ("vp:hub", "DEPENDS_ON", "vp:n2", "second") in refs
    assert refs == sorted(refs) and all(s in ids and t in ids for s, _, t, _ in refs)


def test_neighbourhood_cap_is_what_a_store_without_the_hidden_records_gives(store: Any) -> None:
    fill_star(store)
    asked = [(depth, limit) for depth in (1, 2, 3) for limit in (1, 2, 3, 5, 8, 12, 500)]
    green = {a: ids_and_refs(store.neighbourhood("vp:hub", a[0], Tlp.GREEN, a[1])) for a in asked}
    store.delete_entity("org:a@amber", cascade=True)
    store.delete_relation(("vp:hub", "DEPENDS_ON", "vp:n0", ""))
    for (depth, limit), answer in green.items():
        assert ids_and_refs(store.neighbourhood("vp:hub", depth, Tlp.RED, limit)) == answer
        assert len(answer[0]) == min(limit, 7 if depth == 1 else 11)


# -- deleting -----------------------------------------------------------------------------


def test_deleting_an_entity_with_relations_needs_cascade(store: Any) -> None:
    fill(store)
    with pytest.raises(HasRelationsError, match="2 relation"):
        store.delete_entity("vp:water")
    assert store.get_entity("vp:water") is not None and store.revision() == 1
    gone = store.delete_entity("vp:water", cascade=True)
    assert sorted(r.ref for r in gone) == [
        ("org:hospital", "DEPENDS_ON", "vp:water", ""),
        ("vp:water", "DEPENDS_ON", "vp:power", ""),
    ]
    assert store.get_entity("vp:water") is None
    assert store.delete_entity("vp:water") is None
    assert store.revision() == 2


def test_hidden_relations_go_with_their_entity_unreported(store: Any) -> None:
    fill(store)
    with store.writer() as w:
        w.upsert_relations([RelationRow("org:hospital", "OPERATES", "vp:water")])
    gone = store.delete_entity("org:hospital", Tlp.GREEN, cascade=True)
    assert sorted(r.ref for r in gone) == [
        ("org:hospital", "DEPENDS_ON", "vp:water", ""),
        ("org:hospital", "OPERATES", "vp:water", ""),
    ]
    assert store.get_relation(SECRET_DEPENDENCY) is None
    assert store.delete_entity("org:secret@amber", Tlp.GREEN, cascade=True) is None
    assert store.get_entity("org:secret@amber") is not None


def test_delete_relation(store: Any) -> None:
    fill(store)
    ref = ("org:hospital", "DEPENDS_ON", "vp:water", "")
    assert store.delete_relation(SECRET_DEPENDENCY, Tlp.GREEN) is None
    assert store.get_relation(SECRET_DEPENDENCY) is not None
    assert store.delete_relation(ref).ref == ref
    assert store.delete_relation(ref) is None
    assert store.get_relation(ref) is None
    assert [store.revision(level) for level in Tlp] == [2, 2, 2, 2, 2]
    store.delete_relation(SECRET_DEPENDENCY)
    assert [store.revision(level) for level in Tlp] == [2, 2, 3, 3, 3]


# -- history ------------------------------------------------------------------------------


def test_listings_as_of_a_past_time(store: Any) -> None:
    before_all = tick()
    with store.writer(actor="alice") as w:
        w.upsert_entities(
            [
                EntityRow("vp:a", "VitalProcess", "First name"),
                EntityRow("vp:b", "VitalProcess", "B"),
            ]
        )
        w.upsert_relations([RelationRow("vp:a", "DEPENDS_ON", "vp:b", props={"strength": 0.5})])
    first = tick()
    with store.writer(actor="bob") as w:
        w.upsert_entities([EntityRow("vp:a", "VitalProcess", "Second name")])
        w.upsert_relations([RelationRow("vp:a", "DEPENDS_ON", "vp:b", props={"strength": 0.9})])
    second = tick()
    store.delete_entity("vp:b", cascade=True, actor="carol")

    def names(as_of: str | None) -> dict[str, str]:
        page = store.list_entities(EntityFilter(as_of=as_of))
        return {e.id: e.name for e in page.items}

    def strengths(as_of: str | None) -> list[float]:
        page = store.list_relations(RelationFilter(as_of=as_of))
        return [r.props["strength"] for r in page.items]

    assert names(before_all) == {}
    assert names(first) == {"vp:a": "First name", "vp:b": "B"}
    assert names(second) == {"vp:a": "Second name", "vp:b": "B"}
    assert names(None) == {"vp:a": "Second name"}
    assert strengths(first) == [0.5] and strengths(second) == [0.9] and strengths(None) == []
    assert names("2000-01-01") == {}
    assert names(normalise_time(first)) == names(first)


def test_as_of_keeps_to_the_clearance(store: Any) -> None:
    fill(store)
    later = tick()
    page = store.list_entities(EntityFilter(as_of=later, clearance=Tlp.GREEN))
    assert "org:secret@amber" not in {e.id for e in page.items} and len(page.items) == 3


def test_audit_names_who_changed_what(store: Any) -> None:
    with store.writer(actor="alice", action="load", submission="sub-1") as w:
        w.upsert_entities(
            [EntityRow("vp:a", "VitalProcess", "A"), EntityRow("vp:b", "VitalProcess", "B")]
        )
        w.upsert_relations([RelationRow("vp:a", "DEPENDS_ON", "vp:b")])
    write_entities(store, EntityRow("vp:a", "VitalProcess", "A"), actor="bob")  # no change
    middle = tick()
    write_entities(store, EntityRow("vp:a", "VitalProcess", "A2"), actor="bob")
    store.delete_relation(("vp:a", "DEPENDS_ON", "vp:b", ""), actor="carol")
    trail = store.audit().items
    assert [(e.actor, e.action, e.entity, e.relation, e.submission) for e in trail] == [
        ("alice", "create", "vp:a", None, "sub-1"),
        ("alice", "create", "vp:b", None, "sub-1"),
        ("alice", "create", None, ["vp:a", "DEPENDS_ON", "vp:b", ""], "sub-1"),
        ("bob", "update", "vp:a", None, None),
        ("carol", "delete", None, ["vp:a", "DEPENDS_ON", "vp:b", ""], None),
    ]
    assert trail[3].detail == {"fields": ["name"]}
    assert "seq" not in trail[0].as_dict()
    assert len(store.audit(entity="vp:b").items) == 3
    assert [e.actor for e in store.audit(since=middle).items] == ["bob", "carol"]
    page = store.audit(limit=2)
    assert len(page.items) == 2 and page.next_cursor
    assert store.audit(cursor=page.next_cursor).items[0].relation == [
        "vp:a",
        "DEPENDS_ON",
        "vp:b",
        "",
    ]


def test_audit_keeps_to_the_clearance(store: Any) -> None:
    fill(store)
    store.delete_relation(SECRET_DEPENDENCY, actor="carol")
    green = store.audit(clearance=Tlp.GREEN).items
    assert [(e.action, e.entity or tuple(e.relation)) for e in green] == [
        ("create", "vp:power"),
        ("create", "vp:water"),
        ("create", "org:hospital"),
        ("create", ("vp:water", "DEPENDS_ON", "vp:power", "")),
        ("create", ("org:hospital", "DEPENDS_ON", "vp:water", "")),
    ]
    assert len(store.audit(clearance=Tlp.AMBER).items) == 9
    assert store.audit(entity="org:secret@amber", clearance=Tlp.GREEN).items == []


def test_bulk_writes_get_one_entry_counted_per_clearance(store: Any) -> None:
    rows = [EntityRow(f"r:{i}", "Resource", f"R{i}") for i in range(AUDIT_EACH_UP_TO + 1)]
    rows.append(EntityRow("r:x@red", "Resource", "X", marking="red"))
    write_entities(store, *rows, actor="loader", action="load")
    (entry,) = store.audit().items
    assert (entry.actor, entry.action) == ("loader", "bulk-load")
    assert entry.detail == {"counts": {"entities_created": AUDIT_EACH_UP_TO + 2}}
    (green,) = store.audit(clearance=Tlp.GREEN).items
    assert green.detail == {"counts": {"entities_created": AUDIT_EACH_UP_TO + 1}}


# -- the analysis projection --------------------------------------------------------------


class FullStreams:
    """A store seen only through `iter_entities`/`iter_relations` (no `projection_rows`)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def revision(self, clearance: Tlp = Tlp.RED) -> int:
        return int(self.store.revision(clearance))

    def audit_head(self) -> tuple[int, str]:
        return self.store.audit_head()  # type: ignore[no-any-return]

    def iter_entities(self, clearance: Tlp = Tlp.RED) -> Any:
        return self.store.iter_entities(clearance)

    def iter_relations(self, clearance: Tlp = Tlp.RED) -> Any:
        return self.store.iter_relations(clearance)


@pytest.mark.parametrize("clearance", [Tlp.CLEAR, Tlp.RED])
@pytest.mark.parametrize("rule", ["all", "most_reliable"])
def test_projection_reads_the_same_graph_however_it_reads(
    store: Any, clearance: Tlp, rule: Any
) -> None:
    fill(store)
    with store.writer() as w:
        w.upsert_relations(
            [
                RelationRow("vp:water", "DEPENDS_ON", "vp:power", "tno", props={"strength": 0.3}),
                RelationRow(
                    "vp:water", "DEPENDS_ON", "vp:power", "rivm", props={"reliability": "A"}
                ),
                RelationRow(
                    "vp:water",
                    "DEPENDS_ON",
                    "org:hospital",
                    props={"redundancy_group": "g", "buffer_hours": 2},
                ),
            ]
        )
    narrow = build_projection(store, clearance, rule)
    full = build_projection(FullStreams(store), clearance, rule)
    for name, value in vars(full).items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(getattr(narrow, name), value), name
        elif not name.startswith("_"):
            assert getattr(narrow, name) == value, name


def test_whether_a_write_is_bulk_depends_only_on_what_the_reader_sees(store: Any) -> None:
    rows = [EntityRow(f"r:{i}", "Resource", "R") for i in range(600)]
    rows += [EntityRow(f"r:{i}@amber", "Resource", "R", "amber") for i in range(450)]
    write_entities(store, *rows, actor="loader", action="load")
    green = store.audit(clearance=Tlp.GREEN, limit=1000).items
    assert len(green) == 600 and {e.action for e in green} == {"create"}
    (amber,) = store.audit(clearance=Tlp.AMBER, limit=1000).items
    assert (amber.action, amber.detail) == ("bulk-load", {"counts": {"entities_created": 1050}})
