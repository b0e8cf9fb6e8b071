"""Explanation chains: direction of effects, type filters, k and hop limits."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import networkx as nx
import pytest

from keten.graph.projection import Projection
from keten.queries.errors import AnalysisInputError, UnknownEntityError
from keten.queries.paths import PathsRequest, paths
from keten.schema.relations import RelationType
from tests.queries.conftest import Edge, random_network

Project = Callable[[list[tuple[str, str]], list[Edge]], Projection]

ENTITIES = [
    ("a:crew", "Actor"),
    ("t:ransomware", "Threat"),
    ("r:power", "Resource"),
    ("r:telecom", "Resource"),
    ("vp:payments", "VitalProcess"),
    ("i:economic", "Interest"),
]
RELATIONS: list[Edge] = [
    ("a:crew", "POSES", "t:ransomware", {}),
    ("t:ransomware", "DISRUPTS", "r:telecom", {}),
    ("t:ransomware", "DISRUPTS", "r:power", {}),
    ("r:telecom", "DEPENDS_ON", "r:power", {}),
    ("vp:payments", "DEPENDS_ON", "r:telecom", {}),
    ("vp:payments", "SAFEGUARDS", "i:economic", {}),
    ("t:ransomware", "THREATENS", "i:economic", {}),
]


def test_chains_follow_effects_and_respect_filters(project: Project) -> None:
    p = project(ENTITIES, RELATIONS)
    answer = paths(p, PathsRequest(source="a:crew", target="i:economic", k=5))
    chains = [[n.id for n in path.nodes] for path in answer.paths]
    assert chains == [
        ["a:crew", "t:ransomware", "i:economic"],
        ["a:crew", "t:ransomware", "r:telecom", "vp:payments", "i:economic"],
        ["a:crew", "t:ransomware", "r:power", "r:telecom", "vp:payments", "i:economic"],
    ]
    step = answer.paths[1].steps[2][0]
    assert (step.source, step.type, step.target) == ("vp:payments", "DEPENDS_ON", "r:telecom")
    no_threatens: list[RelationType] = [t for t in RelationType if t != RelationType.THREATENS]
    filtered = paths(
        p, PathsRequest(source="a:crew", target="i:economic", relation_types=no_threatens)
    )
    assert [path.hops for path in filtered.paths] == [4, 5]
    short = paths(p, PathsRequest(source="a:crew", target="i:economic", k=5, max_hops=4))
    assert [path.hops for path in short.paths] == [2, 4]
    backwards = paths(p, PathsRequest(source="i:economic", target="a:crew"))
    assert backwards.paths == []


def test_k_shortest_against_brute_force(project: Project) -> None:
    entities, relations = random_network(random.Random(4), 12)
    p = project(entities, relations)
    effect = nx.DiGraph()
    for source, rel_type, target, _ in relations:
        effect.add_edge(*((target, source) if rel_type == "DEPENDS_ON" else (source, target)))
    pairs = [
        (a, b) for a, b in itertools.permutations(effect.nodes, 2) if nx.has_path(effect, a, b)
    ]
    for a, b in pairs[:15]:
        every = sorted(len(x) - 1 for x in nx.all_simple_paths(effect, a, b))
        got = paths(p, PathsRequest(source=a, target=b, k=4, max_hops=20))
        assert [x.hops for x in got.paths] == every[:4]


def test_bad_requests(project: Project) -> None:
    p = project(ENTITIES, RELATIONS)
    with pytest.raises(UnknownEntityError):
        paths(p, PathsRequest(source="a:crew", target="i:nope"))
    with pytest.raises(AnalysisInputError):
        paths(p, PathsRequest(source="a:crew", target="a:crew"))
    with pytest.raises(ValueError):
        PathsRequest.model_validate({"source": "a", "target": "b", "relation_types": ["LIKES"]})
