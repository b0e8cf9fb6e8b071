"""Cascade against hand-checked cases and an independent fixpoint of the contract."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest

from keten.graph.projection import Projection, build_projection
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_paths
from keten.queries.cascade import CascadeRequest, cascade
from keten.queries.errors import AnalysisInputError, UnknownEntityError
from keten.schema.markings import Tlp
from tests.queries.conftest import Edge, random_network
from tests.queries.reference import reference

Project = Callable[[list[tuple[str, str]], list[Edge]], Projection]


def check_via(projection: Projection, result: Any, relations: list[Edge]) -> None:
    """Every via chain is a path of relations from a source with the reported depth."""
    links = {(t, s) for s, r, t, _ in relations if r == "DEPENDS_ON"}
    links |= {(s, t) for s, r, t, _ in relations if r == "DISRUPTS"}
    for item in result.affected:
        assert len(item.via) == item.depth
        chain = [*item.via, item.id]
        assert all((a, b) in links for a, b in itertools.pairwise(chain))


def test_buffers_groups_and_interests_by_hand(project: Project) -> None:
    entities = [
        ("r:power", "Resource"),
        ("r:telecom", "Resource"),
        ("r:backup", "Resource"),
        ("vp:water", "VitalProcess"),
        ("vp:payments", "VitalProcess"),
        ("t:storm", "Threat"),
        ("i:economic", "Interest"),
        ("i:social", "Interest"),
    ]
    relations: list[Edge] = [
        ("t:storm", "DISRUPTS", "r:power", {"buffer_hours": 2}),
        ("r:telecom", "DEPENDS_ON", "r:power", {"buffer_hours": 4}),
        ("vp:water", "DEPENDS_ON", "r:power", {"buffer_hours": 10, "redundancy_group": "energy"}),
        ("vp:water", "DEPENDS_ON", "r:backup", {"buffer_hours": 0, "redundancy_group": "energy"}),
        ("vp:payments", "DEPENDS_ON", "r:telecom", {"buffer_hours": 1, "strength": 0.4}),
        ("vp:payments", "DEPENDS_ON", "r:power", {"buffer_hours": 30}),
        ("vp:payments", "SAFEGUARDS", "i:economic", {}),
        ("vp:water", "SAFEGUARDS", "i:social", {}),
    ]
    p = project(entities, relations)
    result = cascade(p, ["t:storm"], horizon_hours=100)
    times = {a.id: (a.time_to_impact_hours, a.depth, a.via) for a in result.affected}
    # water keeps going on the backup: its group never fails
    assert times == {
        "t:storm": (0.0, 0, []),
        "r:power": (2.0, 1, ["t:storm"]),
        "r:telecom": (6.0, 2, ["t:storm", "r:power"]),
        "vp:payments": (7.0, 3, ["t:storm", "r:power", "r:telecom"]),
    }
    assert [i.id for i in result.interests] == ["i:economic"]
    # the weak telecom edge is ignored above 0.4; payments then fail through power at 2 + 30
    strong = cascade(p, ["t:storm"], horizon_hours=100, min_strength=0.5)
    assert {a.id: a.time_to_impact_hours for a in strong.affected}["vp:payments"] == 32.0
    both = cascade(p, ["r:power", "r:backup"], horizon_hours=100, limit=2)
    assert both.total == 5
    assert [a.id for a in both.affected] == ["r:backup", "r:power"]
    full = cascade(p, ["r:power", "r:backup"], horizon_hours=100)
    water = next(a for a in full.affected if a.id == "vp:water")
    assert (water.time_to_impact_hours, water.via) == (10.0, ["r:power"])
    social = next(i for i in full.interests if i.id == "i:social")
    assert (social.time_to_impact_hours, social.processes) == (10.0, ["vp:water"])
    short = cascade(p, ["t:storm"], horizon_hours=6)
    assert [a.id for a in short.affected] == ["t:storm", "r:power", "r:telecom"]


@pytest.mark.parametrize("seed", range(12))
def test_matches_independent_fixpoint(project: Project, seed: int) -> None:
    rng = random.Random(seed)
    entities, relations = random_network(rng, rng.randrange(20, 60))
    p = project(entities, relations)
    for _ in range(4):
        sources = [e for e, _ in rng.sample(entities, rng.choice([1, 1, 2, 3]))]
        horizon = rng.choice([0.0, 5.0, 24.0, 1000.0])
        min_strength = rng.choice([0.0, 0.3, 0.5, 1.0])
        expected = reference(entities, relations, sources, horizon, min_strength)
        result = cascade(p, sources, horizon, min_strength, limit=10_000)
        got = {a.id: (a.time_to_impact_hours, a.depth) for a in result.affected}
        assert got == expected
        assert result.total == len(expected)
        keys = [(a.time_to_impact_hours, a.depth, a.id) for a in result.affected]
        assert keys == sorted(keys)
        check_via(p, result, relations)
        check_interests(result, expected, relations)


def check_interests(
    result: Any, expected: dict[str, tuple[float, int]], relations: list[Edge]
) -> None:
    """Each interest lists the reached processes safeguarding it in the answer's order
    (time, depth, id), at the time of the first; interests go by that time, then id."""
    by_interest: dict[str, list[str]] = {}
    for source, kind, target, _ in relations:
        if kind == "SAFEGUARDS" and source in expected:
            by_interest.setdefault(target, []).append(source)
    wanted = []
    for interest, processes in by_interest.items():
        processes.sort(key=lambda e: (*expected[e], e))
        wanted.append((expected[processes[0]][0], interest, processes))
    wanted.sort(key=lambda w: (w[0], w[1]))
    got = [(i.time_to_impact_hours, i.id, i.processes) for i in result.interests]
    assert got == wanted


def test_unknown_and_empty_sources(project: Project) -> None:
    p = project([("r:power", "Resource")], [])
    with pytest.raises(UnknownEntityError) as caught:
        cascade(p, ["r:power", "r:nope", "x:gone"])
    assert caught.value.ids == ["r:nope", "x:gone"]
    with pytest.raises(AnalysisInputError):
        cascade(p, [])


def test_request_model_bounds() -> None:
    assert CascadeRequest(sources=["a"]).horizon_hours == 72.0
    bad_requests: list[dict[str, Any]] = [
        {"sources": []},
        {"sources": ["a"], "min_strength": 2},
        {"sources": ["a"], "limit": 0},
    ]
    for bad in bad_requests:
        with pytest.raises(ValueError):
            CascadeRequest.model_validate(bad)


def test_reference_knowledge_base_matches_the_fixpoint(sqlite_store: SqliteStore) -> None:
    from keten.data import reference_bundle_path

    load_paths(sqlite_store, [reference_bundle_path()])
    p = build_projection(sqlite_store, Tlp.RED)
    entities = [(e.id, e.kind) for e in sqlite_store.iter_entities()]
    relations: list[Edge] = [
        (r.source, r.type, r.target, r.props) for r in sqlite_store.iter_relations()
    ]
    threats = [e for e, kind in entities if kind == "Threat"]
    assert "threat:power-outage" in threats
    for threat in threats:
        expected = reference(entities, relations, [threat], 168, 0)
        result = cascade(p, [threat], 168, limit=10_000)
        assert {a.id: (a.time_to_impact_hours, a.depth) for a in result.affected} == expected
    outage = cascade(p, ["threat:power-outage"], 168)
    assert outage.total > 5 and outage.interests
