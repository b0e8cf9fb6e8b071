"""IIM against dense numpy linear algebra written from the formulas, and the refusal rule."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest

from keten.graph.projection import Projection
from keten.queries.errors import AnalysisInputError, UnknownEntityError
from keten.queries.inoperability import InoperabilityRequest, inoperability
from tests.queries.conftest import Edge

Project = Callable[[list[tuple[str, str]], list[Edge]], Projection]


def network(seed: int) -> tuple[list[tuple[str, str]], list[Edge]]:
    rng = random.Random(seed)
    entities = [(f"n:{i:02d}", "Resource") for i in range(15)]
    relations: list[Edge] = []
    for _ in range(40):
        a, b = rng.sample(range(15), 2)
        props = {"strength": rng.choice([0.1, 0.2, 0.3])}
        relations.append((f"n:{a:02d}", "DEPENDS_ON", f"n:{b:02d}", props))
    unique = {(s, g): (s, t, g, p) for s, t, g, p in relations}
    return entities, list(unique.values())


def dense_a_star(
    entities: list[tuple[str, str]], relations: list[Edge], scale: float
) -> np.ndarray:
    position = {e: i for i, (e, _) in enumerate(entities)}
    a = np.zeros((len(entities), len(entities)))
    for source, _, target, props in relations:
        a[position[source], position[target]] += scale * float(props["strength"])
    return a


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_static_and_dynamic_match_dense_formulas(project: Project, seed: int) -> None:
    entities, relations = network(seed)
    p = project(entities, relations)
    a = dense_a_star(entities, relations, 0.5)
    radius = max(abs(np.linalg.eigvals(a)))
    assert radius < 1
    c = np.zeros(len(entities))
    c[0], c[7] = 0.6, 0.2
    expected = np.minimum(np.linalg.solve(np.eye(len(c)) - a, c), 1.0)
    perturbation = {"n:00": 0.6, "n:07": 0.2}
    static = inoperability(
        p, InoperabilityRequest(perturbation=perturbation, scale=0.5, limit=1000)
    )
    got = {e.id: e.inoperability for e in static.entities}
    for i, (entity_id, _) in enumerate(entities):
        assert got.get(entity_id, 0.0) == pytest.approx(expected[i], abs=1e-9)
    assert static.spectral_radius <= radius + 1e-9

    rates = np.full(len(c), 0.3)
    rates[3] = 0.9
    q, peak = np.zeros(len(c)), np.zeros(len(c))
    for step in range(40):
        q = np.minimum(q + rates * (a @ q + (c if step < 10 else 0) - q), 1.0)
        peak = np.maximum(peak, q)
    request = InoperabilityRequest(
        perturbation=perturbation,
        scale=0.5,
        mode="dynamic",
        steps=40,
        duration_steps=10,
        recovery_rate=0.3,
        recovery_rates={"n:03": 0.9},
        limit=1000,
    )
    dyn = {e.id: e for e in inoperability(p, request).entities}
    for i, (entity_id, _) in enumerate(entities):
        if peak[i] > 1e-12:
            assert dyn[entity_id].inoperability == pytest.approx(q[i], abs=1e-9)
            assert dyn[entity_id].peak == pytest.approx(peak[i], abs=1e-9)


def test_long_dynamic_run_settles_on_the_static_answer(project: Project) -> None:
    entities, relations = network(4)
    p = project(entities, relations)
    base = {"perturbation": {"n:01": 0.4}, "scale": 0.4, "limit": 1000}
    static = inoperability(p, InoperabilityRequest.model_validate(base))
    settled = inoperability(
        p, InoperabilityRequest.model_validate({**base, "mode": "dynamic", "steps": 400})
    )
    final = {e.id: e.inoperability for e in settled.entities}
    for entity in static.entities:
        assert final[entity.id] == pytest.approx(entity.inoperability, abs=1e-6)


def test_refuses_unstable_matrix_and_unknown_ids(project: Project) -> None:
    entities = [("r:a", "Resource"), ("r:b", "Resource")]
    relations: list[Edge] = [
        ("r:a", "DEPENDS_ON", "r:b", {}),
        ("r:b", "DEPENDS_ON", "r:a", {}),
    ]
    p = project(entities, relations)
    with pytest.raises(AnalysisInputError, match=r"spectral radius 1 >= 1.*below 1"):
        inoperability(p, InoperabilityRequest(perturbation={"r:a": 0.5}))
    before = (p.indptr.copy(), p.targets.copy(), p.strength.copy())
    assert inoperability(p, InoperabilityRequest(perturbation={"r:a": 0.5}, scale=0.5)).total == 2
    assert before[0].tolist() == p.indptr.tolist()
    assert before[1].tolist() == p.targets.tolist()
    assert before[2].tolist() == p.strength.tolist()
    with pytest.raises(UnknownEntityError):
        inoperability(p, InoperabilityRequest(perturbation={"r:zz": 0.5}))
