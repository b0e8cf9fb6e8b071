"""Rows as native Neo4j property maps and back, without a server (the server round trip is in
test_neo4j.py)."""

from __future__ import annotations

from typing import Any

import pytest

from keten.graph.neo4j_rows import (
    ESCAPED,
    LEVEL,
    NESTED,
    SEARCH,
    encode_props,
    entity_from_map,
    entity_map,
    entity_of_params,
    entity_params,
    is_native,
    relation_from_map,
    relation_map,
    relation_of_params,
    relation_params,
)
from keten.graph.store import EntityRow, RelationRow
from keten.schema.markings import Tlp

AWKWARD: dict[str, Any] = {
    "sector": "Energy",
    "credibility": 2,
    "share": 0.5,
    "whole_float": 4.0,
    "verified": False,
    "aliases": ["Drinking water", "Drinkwater"],
    "years": [2023, 2024],
    "empty": [],
    "impact": {"social": 2, "economic": [1, 2.5]},
    "mixed": [1, "a"],
    "ints_and_floats": [1, 2.0],
    "with_null": [1, None],
    "records": [{"a": 1}],
    "level": 3,
    "search": "a user property",
    "keten_level": "a user property that looks internal",
    "note_json": "a plain string property whose name ends in _json",
    "nested_json": {"x": 1},
    "nested": [{"y": 2}],
}
"""Every kind of value a bundle may hold, and names that could collide."""


def test_native_values_are_scalars_and_lists_of_one_scalar_type() -> None:
    assert all(is_native(v) for v in ("s", 1, 1.5, True, ["a"], [1], [1.5], [True], []))
    assert not any(is_native(v) for v in ({"a": 1}, [1, 1.0], [True, 1], [None], [[1]], None))


def test_every_property_comes_back_exactly() -> None:
    row = EntityRow("vp:x", "VitalProcess", "X", "amber", dict(AWKWARD), "t0", "t1")
    stored = entity_map(row)
    back = entity_from_map(stored)
    assert back == row
    assert type(back.props["whole_float"]) is float and type(back.props["credibility"]) is int
    assert back.props["ints_and_floats"] == [1, 2.0]
    assert [type(v) for v in back.props["ints_and_floats"]] == [int, float]


def test_flat_properties_are_native_and_nested_ones_say_they_are_json() -> None:
    stored = entity_map(EntityRow("vp:x", "VitalProcess", "X", "green", dict(AWKWARD), "t0", "t1"))
    for name in ("sector", "credibility", "share", "aliases", "years", "level", "search"):
        assert stored[name] == AWKWARD[name]
    assert stored["impact_json"] == '{"economic":[1,2.5],"social":2}'
    nested = ["impact", "ints_and_floats", "mixed", "nested", "records", "with_null"]
    assert stored[NESTED] == nested
    assert stored[LEVEL] == Tlp.GREEN.level and stored[SEARCH] == "x\ndrinking water\ndrinkwater"
    assert "keten_level" in stored[ESCAPED] and "nested_json" in stored[ESCAPED]
    assert all(type(v) is not dict for v in stored.values())


def test_a_record_without_awkward_names_needs_no_escape() -> None:
    assert encode_props({"sector": "Energy", "impact": {"a": 1}}) == {
        "sector": "Energy",
        "impact_json": '{"a":1}',
        NESTED: ["impact"],
    }


def test_relations_round_trip() -> None:
    row = RelationRow("r:ga", "SOURCED_FROM", "country:CN", "2023", "red", dict(AWKWARD), "a", "b")
    stored = relation_map(row)
    assert stored["share"] == 0.5 and stored[LEVEL] == Tlp.RED.level
    assert relation_from_map(row.source, row.type, row.target, stored) == row


def test_params_carry_the_row_and_its_encoding() -> None:
    entity = EntityRow("vp:x", "VitalProcess", "X", "", {"sector": "E", "note": None})
    (params,) = entity_params([entity])
    assert entity_of_params(params) == entity
    assert params[7] == "x" and params[8] == {"sector": "E"}
    relation = RelationRow("a", "DEPENDS_ON", "b", props={"impact": {"a": 1}})
    (rparams,) = relation_params([relation])
    assert relation_of_params(rparams) == relation and rparams[8][NESTED] == ["impact"]


def test_unknown_marking_is_refused() -> None:
    with pytest.raises(ValueError, match="purple"):
        entity_params([EntityRow("x:1", "Source", "S", marking="purple")])
