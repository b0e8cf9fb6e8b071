"""Helpers for the analysis tests: fill a real SQLite store and project it."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from keten.graph.projection import Projection, build_projection
from keten.graph.sqlite import SqliteStore
from keten.graph.store import EntityRow, RelationRow
from keten.schema.markings import Tlp

Edge = tuple[str, str, str, dict[str, Any]]
"""(source, type, target, properties) of one relation."""


def fill(store: SqliteStore, entities: list[tuple[str, str]], relations: list[Edge]) -> None:
    """Write entities (id, kind) and relations to the store in one transaction."""
    with store.writer() as w:
        w.upsert_entities([EntityRow(i, kind, i.upper()) for i, kind in entities])
        w.upsert_relations(
            [RelationRow(s, t, g, key=p.pop("key", ""), props=p) for s, t, g, p in relations]
        )


@pytest.fixture
def project(sqlite_store: SqliteStore) -> Callable[[list[tuple[str, str]], list[Edge]], Projection]:
    """Build a projection of the given records through the real SQLite store."""

    def make(entities: list[tuple[str, str]], relations: list[Edge]) -> Projection:
        fill(sqlite_store, entities, [(s, t, g, dict(p)) for s, t, g, p in relations])
        return build_projection(sqlite_store, Tlp.RED)

    return make


def random_network(rng: random.Random, n: int) -> tuple[list[tuple[str, str]], list[Edge]]:
    """A random network with threats, buffers (many zero), strengths and redundancy groups."""
    kinds = ["VitalProcess", "Organisation", "Resource"]
    entities = [(f"n:{i:03d}", rng.choice(kinds)) for i in range(n)]
    threats = [(f"t:{i}", "Threat") for i in range(max(1, n // 10))]
    interests = [(f"i:{i}", "Interest") for i in range(3)]
    relations: list[Edge] = []
    for _ in range(n * 3):
        a, b = rng.sample(entities, 2)
        props: dict[str, Any] = {"key": str(rng.randrange(2))}
        if rng.random() < 0.6:
            props["buffer_hours"] = rng.choice([0, 0, 1, 2, 5, 12, 24])
        if rng.random() < 0.5:
            props["strength"] = rng.choice([0.2, 0.5, 1.0])
        if rng.random() < 0.35:
            props["redundancy_group"] = rng.choice(["g1", "g2"])
        relations.append((a[0], "DEPENDS_ON", b[0], props))
    for t, _ in threats:
        for x in rng.sample(entities, 3):
            props = {"buffer_hours": rng.choice([0, 3])} if rng.random() < 0.5 else {}
            if rng.random() < 0.3:
                props["strength"] = 0.3
            relations.append((t, "DISRUPTS", x[0], props))
    for node, kind in entities:
        if kind == "VitalProcess" and rng.random() < 0.5:
            for interest, _ in rng.sample(interests, rng.choice([1, 1, 2])):
                relations.append((node, "SAFEGUARDS", interest, {}))
    unique = {(s, t, g, str(p.get("key", ""))): (s, t, g, p) for s, t, g, p in relations}
    return entities + threats + interests, list(unique.values())
