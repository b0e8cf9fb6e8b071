"""The shared threat searches give the single search's answers, to the last bit.

keten.queries.threatcascades searches every threat from the cascade of the hub it reaches
first; the integrated analysis built on it must be identical (threats, scores, times, path
strengths, points, chains, chain effects) to the one that runs one whole search per threat
(`integrated_analysis(..., shared=False)`, the implementation before it), on random
networks with hubs, redundancy groups, buffers, strengths and parallel edges, for several
horizons and minimum strengths.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from keten.graph.projection import Projection, build_projection
from keten.graph.sqlite import SqliteStore
from keten.graph.store import EntityRow, RelationRow
from keten.queries.risk import RiskOptions, integrated_analysis
from keten.queries.threatcascades import SharedSearch, exact_shift, plan, warm_up
from keten.schema.markings import Tlp
from tests.queries.conftest import Edge, random_network

OPTIONS = [
    RiskOptions(),
    RiskOptions(horizon_hours=6, min_strength=0.3, prefer="derived"),
    RiskOptions(horizon_hours=1000, top=20),
    RiskOptions(horizon_hours=0),
    RiskOptions(horizon_hours=2.5, min_strength=0.4, top=0),
]


def hubbed_network(
    rng: random.Random, n: int, fraction: float = 1.0
) -> tuple[list[tuple[str, str]], list[Edge]]:
    """`random_network` with three hubs that much of it depends on (some in redundancy
    groups), each other too, and threats of which most disrupt a hub at a shared buffer;
    every buffer times `fraction` (not whole hours: one base per hub and time)."""
    entities, relations = random_network(rng, n)
    hubs = [f"h:{i}" for i in range(3)]
    nodes = [e for e, kind in entities if kind not in ("Threat", "Interest")]
    for node in nodes + hubs:
        for hub in hubs:
            if node != hub and rng.random() < 0.3:
                props: dict[str, Any] = {"buffer_hours": rng.choice([0, 1, 2, 4])}
                if rng.random() < 0.3:
                    props["strength"] = rng.choice([0.25, 0.5, 0.9])
                if rng.random() < 0.2:
                    props["redundancy_group"] = "g1"
                relations.append((node, "DEPENDS_ON", hub, props))
    threats = [f"t:h{i}" for i in range(n // 4)]
    for threat in threats:
        buffer = {"buffer_hours": rng.choice([0, 3])}
        relations.append((threat, "DISRUPTS", rng.choice(hubs), buffer))
        for x in rng.sample(nodes, 2):
            relations.append((threat, "DISRUPTS", x, {"buffer_hours": rng.choice([0, 1, 5])}))
    kinds = [(h, "Resource") for h in hubs] + [(t, "Threat") for t in threats]
    for _, _, _, props in relations:
        if "buffer_hours" in props:
            props["buffer_hours"] *= fraction
    return entities + kinds, relations


def fill(
    store: SqliteStore,
    rng: random.Random,
    entities: list[tuple[str, str]],
    relations: list[Edge],
    amber: frozenset[str] = frozenset(),
    drop: bool = False,
) -> None:
    """Write the network; processes get category A or B (or none), threats a likelihood;
    the `amber` entities are marked amber (left out with `drop`)."""
    rows = []
    for entity_id, kind in entities:
        props: dict[str, Any] = {}
        if kind == "VitalProcess" and rng.random() < 0.7:
            props["category"] = rng.choice("AB")
        if kind == "Threat" and rng.random() < 0.8:
            props["likelihood"] = rng.choice("ABCDE")
        marking = "amber" if entity_id in amber else "clear"
        if not (drop and entity_id in amber):
            rows.append(EntityRow(entity_id, kind, entity_id.upper(), props=props, marking=marking))
    with store.writer() as w:
        w.upsert_entities(rows)
        w.upsert_relations(
            [RelationRow(s, t, g, key=p.pop("key", ""), props=p) for s, t, g, p in relations]
        )


@pytest.mark.parametrize("fraction", [1.0, 0.1])
@pytest.mark.parametrize("seed", range(10))
def test_shared_searches_answer_as_one_search_per_threat(
    sqlite_store: SqliteStore, seed: int, fraction: float
) -> None:
    rng = random.Random(seed)
    fill(sqlite_store, rng, *hubbed_network(rng, rng.randrange(30, 90), fraction))
    projection = build_projection(sqlite_store, Tlp.RED)
    assert exact_shift(projection) == (fraction == 1.0)
    threats = [i for i, kind in enumerate(projection.kinds) if kind == "Threat"]
    by_key, _ = plan(SharedSearch(projection, 72.0, 0.0), threats)
    assert by_key, "no threats shared a base: the test would not test the sharing"
    for options in OPTIONS:
        shared = integrated_analysis(sqlite_store, projection, options)
        single = integrated_analysis(sqlite_store, projection, options, shared=False)
        assert shared.threats == single.threats, options
        assert shared == single


def green_and_clean(store: SqliteStore, tmp_path: Path) -> tuple[Projection, SqliteStore]:
    """`store` holding amber records among green ones, its green projection, and a store
    of the green records alone."""
    rng = random.Random(3)
    entities, relations = hubbed_network(rng, 60)
    hidden = frozenset(e for e, kind in entities if kind != "Interest" and rng.random() < 0.15)
    fill(store, random.Random(4), entities, [(*r[:3], dict(r[3])) for r in relations], hidden)
    clean = SqliteStore(tmp_path / "clean.sqlite")
    visible = [r for r in relations if r[0] not in hidden and r[2] not in hidden]
    fill(clean, random.Random(4), entities, [(*r[:3], dict(r[3])) for r in visible], hidden,
         drop=True)  # fmt: skip
    green = build_projection(store, Tlp.GREEN)
    assert hidden and not hidden & set(green.ids)
    return green, clean


def test_green_reader_shares_only_what_it_may_see(
    sqlite_store: SqliteStore, tmp_path: Path
) -> None:
    """A green projection of a store that also holds amber records gets, from the shared
    searches, the analysis of a store holding only the green records."""
    green, clean = green_and_clean(sqlite_store, tmp_path)
    mixed = integrated_analysis(sqlite_store, green)
    alone = integrated_analysis(clean, build_projection(clean, Tlp.GREEN))
    assert (mixed.threats, mixed.interests) == (alone.threats, alone.interests)
    clean.close()


def test_warm_up_compiles_the_shared_and_the_lone_search() -> None:
    """The Dockerfile fills numba's cache with this; it must run both kinds of search."""
    warm_up()
