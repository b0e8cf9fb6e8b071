"""Criticality ranks by cascade size, with PageRank and betweenness from the dependency graph."""

from __future__ import annotations

import random
from collections.abc import Callable

import networkx as nx
import pytest

from keten.graph.projection import Projection
from keten.queries.criticality import CriticalityRequest, criticality, kept
from keten.schema.kinds import EntityKind
from tests.queries.conftest import Edge, random_network
from tests.queries.reference import reference

Project = Callable[[list[tuple[str, str]], list[Edge]], Projection]


def test_hub_first_and_measures_match_independent_ones(project: Project) -> None:
    entities, relations = random_network(random.Random(8), 40)
    entities.append(("r:hub", "Resource"))
    for node, kind in entities[:30]:
        if kind != "Threat":
            relations.append((node, "DEPENDS_ON", "r:hub", {}))
    p = project(entities, relations)
    result = criticality(p, CriticalityRequest(limit=1000, horizon_hours=24))
    assert result.entities[0].id == "r:hub"
    assert not result.betweenness_sampled and result.cascade_sizes_computed == len(entities)
    by_id = {e.id: e for e in result.entities}
    for node, _ in entities:
        assert by_id[node].cascade_size == len(reference(entities, relations, [node], 24, 0)) - 1
    sizes = [e.cascade_size or 0 for e in result.entities]
    assert sizes == sorted(sizes, reverse=True)
    deps = nx.DiGraph()
    deps.add_nodes_from(e for e, _ in entities)
    for source, rel_type, target, _ in relations:
        if rel_type == "DEPENDS_ON":
            deps.add_edge(source, target)
    expected = nx.betweenness_centrality(deps)
    for node, _ in entities:
        assert by_id[node].betweenness == pytest.approx(expected[node], abs=1e-12)


def test_kind_filter_and_candidate_cap(project: Project) -> None:
    entities, relations = random_network(random.Random(9), 40)
    p = project(entities, relations)
    request = CriticalityRequest(kind=EntityKind.VITAL_PROCESS, candidates=3, betweenness_samples=5)
    result = criticality(p, request)
    assert {e.kind for e in result.entities} == {"VitalProcess"}
    assert result.cascade_sizes_computed == 3 and result.betweenness_sampled
    assert sum(e.cascade_size is not None for e in result.entities) == 3
    computed = [e.pagerank for e in result.entities if e.cascade_size is not None]
    skipped = [e.pagerank for e in result.entities if e.cascade_size is None]
    assert min(computed) >= max(skipped, default=0.0)


def test_kept_measures_answer_as_a_fresh_projection_does(project: Project) -> None:
    entities, relations = random_network(random.Random(10), 60)
    p, fresh = project(entities, relations), project(entities, relations)
    asked = [
        CriticalityRequest(limit=1000, candidates=10, betweenness_samples=7),
        CriticalityRequest(limit=5, candidates=20, betweenness_samples=7),
        CriticalityRequest(limit=1000, candidates=20, horizon_hours=12, seed=3),
        CriticalityRequest(limit=1000, candidates=10, betweenness_samples=7),
        CriticalityRequest(kind=EntityKind.VITAL_PROCESS, candidates=30, betweenness_samples=7),
    ]
    for request in asked:  # p keeps measures from the requests before; fresh starts anew
        assert criticality(p, request) == criticality(project(entities, relations), request)
    assert len(kept(p).values) == 4 and not kept(fresh).values
