"""Monte Carlo propagation against exact probabilities from enumerating every edge outcome."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

import pytest

from keten.graph.projection import Projection
from keten.queries.errors import UnknownEntityError
from keten.queries.propagation import PropagationRequest, propagate
from tests.queries.conftest import Edge
from tests.queries.reference import reference

Project = Callable[[list[tuple[str, str]], list[Edge]], Projection]


def exact(
    entities: list[tuple[str, str]], relations: list[Edge], sources: list[str], horizon: float
) -> dict[str, float]:
    """P(disrupted within horizon) by summing over all 2^k outcomes of the uncertain edges."""
    uncertain = [i for i, r in enumerate(relations) if r[3].get("strength", 1.0) < 1.0]
    chance: dict[str, float] = {}
    for outcome in itertools.product([True, False], repeat=len(uncertain)):
        weight = 1.0
        live = list(relations)
        for i, passes in zip(uncertain, outcome, strict=True):
            s = relations[i][3]["strength"]
            weight *= s if passes else 1 - s
            source, rel_type, target, props = relations[i]
            live[i] = (source, rel_type, target, {**props, "strength": 1.0 if passes else 0.0})
        for node in reference(entities, live, sources, horizon, min_strength=1e-9):
            chance[node] = chance.get(node, 0.0) + weight
    return chance


def test_estimates_match_exact_probabilities(project: Project) -> None:
    rng = random.Random(5)
    entities = [(f"n:{i}", "Resource") for i in range(9)] + [("t:flood", "Threat")]
    relations: list[Edge] = [("t:flood", "DISRUPTS", "n:0", {"strength": 0.7})]
    for i in range(1, 9):
        for j in rng.sample(range(i), min(i, 2)):
            props: dict[str, object] = {"buffer_hours": rng.choice([0, 5, 20])}
            if rng.random() < 0.6:
                props["strength"] = rng.choice([0.3, 0.6, 0.9])
            if i == 5:
                props["redundancy_group"] = "either"
            relations.append((f"n:{i}", "DEPENDS_ON", f"n:{j}", props))
    p = project(entities, relations)
    expected = exact(entities, relations, ["t:flood"], horizon=30)
    request = PropagationRequest(sources=["t:flood"], horizon_hours=30, runs=10_000, seed=11)
    result = propagate(p, request)
    got = {e.id: e for e in result.entities}
    assert set(got) == {n for n, q in expected.items() if q > 0}
    assert got["t:flood"].probability == 1.0
    for node, q in expected.items():
        estimate = got[node]
        assert abs(estimate.probability - q) <= 4 * math.sqrt(q * (1 - q) / 10_000) + 1e-12
        assert estimate.ci_low <= estimate.probability <= estimate.ci_high
    probabilities = [e.probability for e in result.entities]
    assert probabilities == sorted(probabilities, reverse=True)
    assert propagate(p, request) == result
    assert propagate(p, request.model_copy(update={"seed": 12})) != result


def test_unknown_source_and_request_bounds(project: Project) -> None:
    p = project([("r:a", "Resource")], [])
    with pytest.raises(UnknownEntityError):
        propagate(p, PropagationRequest(sources=["r:b"]))
    with pytest.raises(ValueError):
        PropagationRequest(sources=["r:a"], runs=10_001)
