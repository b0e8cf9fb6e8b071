"""Rows to Cypher parameters and back, without a server: what Neo4j would store and return."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from keten.graph import cypher
from keten.graph.neo4j import (
    entity_from_record,
    entity_params,
    relation_from_record,
    relation_params,
)
from keten.graph.store import EntityRow, RelationRow
from keten.schema.markings import Tlp

ENTITIES = [
    EntityRow(
        "vp:drinking-water",
        "VitalProcess",
        "Drinkwatervoorziening",
        "amber+strict",
        {"aliases": ["Drinking water"], "reliability": "B", "credibility": 2, "nested": {"a": [1]}},
        "2026-01-01T00:00:00.000Z",
        "2026-02-01T00:00:00.000Z",
    ),
    EntityRow("country:CN", "Country", "China", "clear", {}, "2026-01-01T00:00:00.000Z", "x"),
]
RELATIONS = [
    RelationRow(
        "r:gallium",
        "SOURCED_FROM",
        "country:CN",
        "2023",
        "green",
        {"share": 0.98, "year": 2023, "source_ids": ["src:eu-crm"]},
        "2026-01-01T00:00:00.000Z",
        "2026-01-02T00:00:00.000Z",
    ),
    RelationRow("vp:a", "DEPENDS_ON", "vp:b", "", "red", {"buffer_hours": 4.5}, "t0", "t1"),
]


def stored_entity(params: dict[str, Any]) -> dict[str, Any]:
    """What `cypher.ENTITY_RETURN` gives back for a node written with these parameters."""
    return {k: params[k] for k in ("id", "kind", "name", "marking", "props", "created_at")} | {
        "updated_at": params["updated_at"]
    }


def stored_relation(row: RelationRow, params: dict[str, Any]) -> dict[str, Any]:
    """What `cypher.RELATION_RETURN` gives back: the endpoints and type come from the graph."""
    keys = ("key", "marking", "props", "created_at", "updated_at")
    return {"source": row.source, "type": row.type, "target": row.target} | {
        k: params[k] for k in keys
    }


def test_entities_round_trip() -> None:
    params = entity_params(ENTITIES)
    assert [entity_from_record(stored_entity(p)) for p in params] == ENTITIES


def test_relations_round_trip() -> None:
    params = relation_params(RELATIONS)
    pairs = zip(RELATIONS, params, strict=True)
    back = [relation_from_record(stored_relation(r, p)) for r, p in pairs]
    assert back == RELATIONS


def test_params_carry_level_search_and_flat_properties() -> None:
    water, _ = entity_params(ENTITIES)
    assert water["level"] == Tlp.AMBER_STRICT.level
    assert water["search"] == "drinkwatervoorziening\ndrinking water"
    gallium, depends = relation_params(RELATIONS)
    assert {name: gallium[name] for name in cypher.FLAT_RELATION_PROPS} == {
        "buffer_hours": None,
        "strength": None,
        "redundancy_group": None,
        "share": 0.98,
        "year": 2023,
    }
    assert depends["buffer_hours"] == 4.5 and depends["level"] == Tlp.RED.level
    (odd,) = relation_params([RelationRow("a", "CITES", "b", props={"share": [0.5]})])
    assert odd["share"] is None


def test_props_are_canonical_so_equal_records_compare_equal() -> None:
    a = EntityRow("x:1", "Source", "S", props={"b": 1, "a": 2})
    b = EntityRow("x:1", "Source", "S", props={"a": 2, "b": 1})
    (pa,), (pb,) = entity_params([a]), entity_params([b])
    assert pa["props"] == pb["props"]
    assert orjson.loads(pa["props"]) == {"a": 2, "b": 1}


def test_missing_timestamps_are_stamped() -> None:
    (p,) = entity_params([EntityRow("x:1", "Source", "S")])
    assert p["created_at"] == p["updated_at"] and p["created_at"].endswith("Z")


def test_unknown_marking_is_refused() -> None:
    with pytest.raises(ValueError, match="purple"):
        entity_params([EntityRow("x:1", "Source", "S", marking="purple")])
