"""Embargo: shortfalls down INPUT_TO and the cascade from the resources lost."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from keten.graph.projection import build_projection
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_bundle
from keten.queries.cascade import cascade
from keten.queries.dependencies import read_supply
from keten.queries.embargo import EmbargoRequest, embargo, propagate_shortfalls
from keten.queries.errors import UnknownEntityError
from keten.schema.markings import Tlp

Inputs = dict[str, list[tuple[str, float]]]


def fixpoint(own: dict[str, float], inputs: Inputs, nodes: list[str]) -> dict[str, float]:
    """The shortfall equation solved by plain iteration (independent of the heap version)."""
    value = {n: own.get(n, 0.0) for n in nodes}
    for _ in range(len(nodes) + 1):
        for source, links in inputs.items():
            for product, strength in links:
                value[product] = max(value[product], value[source] * strength)
    return {n: v for n, v in value.items() if v > 0}


def test_shortfalls_match_the_fixpoint_on_random_graphs_with_cycles() -> None:
    rng = random.Random(7)
    for _ in range(200):
        nodes = [f"r:{i}" for i in range(rng.randint(2, 12))]
        inputs: Inputs = {}
        for _ in range(rng.randint(0, 25)):
            a, b = rng.sample(nodes, 2)
            inputs.setdefault(a, []).append((b, rng.choice([0.2, 0.5, 0.9, 1.0])))
        own = {n: rng.choice([0.1, 0.4, 0.7, 1.0]) for n in rng.sample(nodes, rng.randint(1, 2))}
        found = propagate_shortfalls(own, inputs)
        expected = fixpoint(own, inputs, nodes)
        assert {n: v for n, (v, _) in found.items()} == pytest.approx(expected)
        for node, (value, via) in found.items():  # via explains the value
            chain = [*via, node]
            product = own[chain[0]]
            for a, b in itertools.pairwise(chain):
                product *= max(s for p, s in inputs[a] if p == b)
            assert product == pytest.approx(value)


BUNDLE: dict[str, Any] = {
    "entities": [
        {"id": "country:CN", "kind": "Country", "name": "China", "iso2": "CN", "eu_member": False},
        {"id": "country:DE", "kind": "Country", "name": "Germany", "iso2": "DE", "eu_member": True},
        {"id": "r:ore", "kind": "Resource", "name": "Ore"},
        {"id": "r:part", "kind": "Resource", "name": "Part"},
        {"id": "r:old", "kind": "Resource", "name": "Old"},
        {"id": "vp:grid", "kind": "VitalProcess", "name": "Grid"},
        {"id": "vp:rail", "kind": "VitalProcess", "name": "Rail"},
        {"id": "int:econ", "kind": "Interest", "name": "Economic security"},
    ],
    "relations": [
        {"source": "r:ore", "target": "country:CN", "type": "SOURCED_FROM", "share": 0.8,
         "year": 2023},
        {"source": "r:ore", "target": "country:DE", "type": "SOURCED_FROM", "share": 0.2,
         "year": 2023},
        {"source": "r:old", "target": "country:CN", "type": "SOURCED_FROM", "share": 0.9,
         "year": 2019, "key": "2019"},
        {"source": "r:old", "target": "country:CN", "type": "SOURCED_FROM", "share": 0.1,
         "year": 2024, "key": "2024"},
        {"source": "r:ore", "target": "r:part", "type": "INPUT_TO", "strength": 0.5},
        {"source": "vp:grid", "target": "r:part", "type": "DEPENDS_ON", "buffer_hours": 10},
        {"source": "vp:rail", "target": "vp:grid", "type": "DEPENDS_ON", "buffer_hours": 2},
        {"source": "vp:rail", "target": "int:econ", "type": "SAFEGUARDS"},
    ],
}  # fmt: skip


@pytest.fixture
def store(sqlite_store: SqliteStore) -> SqliteStore:
    load_bundle(sqlite_store, BUNDLE)
    return sqlite_store


def run(store: SqliteStore, clearance: Tlp = Tlp.RED, **body: Any) -> Any:
    request = EmbargoRequest(**{"country": "CN", **body})
    return embargo(read_supply(store, clearance), build_projection(store, clearance), request)


def test_shortfalls_pass_down_input_to_and_cascade_from_the_lost(store: SqliteStore) -> None:
    result = run(store, threshold=0.3, horizon_hours=100)
    assert result.country == "country:CN"
    lost = {s.id: (s.shortfall, s.own_share, s.via, s.disrupted) for s in result.shortfalls}
    assert lost == {
        "r:ore": (0.8, 0.8, [], True),
        "r:part": (pytest.approx(0.4), 0.0, ["r:ore"], True),
        "r:old": (0.1, 0.1, [], False),  # the latest year, not 2019
    }
    expected = cascade(build_projection(store, Tlp.RED), ["r:ore", "r:part"], 100)
    assert result.total == expected.total == 4
    assert result.affected == expected.affected and result.interests == expected.interests
    times = {a.id: a.time_to_impact_hours for a in result.affected}
    assert times == {"r:ore": 0, "r:part": 0, "vp:grid": 10, "vp:rail": 12}
    assert [i.id for i in result.interests] == ["int:econ"]


def test_a_higher_threshold_keeps_the_part_and_the_processes(store: SqliteStore) -> None:
    result = run(store, threshold=0.5, horizon_hours=100)
    assert [a.id for a in result.affected] == ["r:ore"] and result.interests == []


def test_an_older_year_and_nothing_lost(store: SqliteStore) -> None:
    old = run(store, threshold=0.85, year=2019)
    assert [(s.id, s.disrupted) for s in old.shortfalls] == [("r:old", True)]
    assert run(store, country="DE", threshold=0.5).total == 0


def test_unknown_country_is_refused_by_name(store: SqliteStore) -> None:
    with pytest.raises(UnknownEntityError, match="XX"):
        run(store, country="XX")


def test_hidden_shares_are_not_used(store: SqliteStore) -> None:
    first = BUNDLE["relations"][0]  # moved into the amber namespace: deleted, written anew
    store.delete_relation((first["source"], first["type"], first["target"], ""))
    load_bundle(store, {"relations": [{**first, "key": "@amber", "marking": "amber"}]})
    assert run(store, Tlp.GREEN, threshold=0.3).shortfalls[0].id == "r:old"
