"""The served analysis (compact, pages made when asked) against the whole answer.

Every page `RiskAnalysis.page` makes must be `window` of `integrated_analysis(...,
shared=False)` (one whole search per threat, every process listed), to the last bit, on
random networks with hubs, groups, buffers and strengths, on the reference knowledge base,
and for a green reader of a store that also holds amber records.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keten.graph.projection import build_projection
from keten.graph.sqlite import SqliteStore
from keten.queries.risk import RiskOptions, RiskResult, integrated_analysis, window
from keten.queries.riskpages import RiskAnalysis, RiskCache, analyse, round6
from keten.queries.threatcascades import KeptBases, SharedSearch
from keten.schema.markings import Tlp
from tests.queries.test_risk import reference_store  # noqa: F401 (a fixture)
from tests.queries.test_threatcascades import OPTIONS, fill, green_and_clean, hubbed_network

WINDOWS = [(5, 1), (100, 50), (4, 2), (3, 10000), (7, 3)]
"""(limit, processes) of the pages walked through."""


def assert_pages(analysis: RiskAnalysis, whole: RiskResult) -> int:
    """Every page of every window in WINDOWS is the whole answer's; how many were held."""
    held = 0
    for limit, processes in WINDOWS:
        for offset in range(0, max(1, whole.threats_total), limit):
            page = analysis.page(offset, limit, processes)
            expected = window(whole, offset, limit, processes)
            assert page == expected, (offset, limit, processes)
            assert page.model_dump_json() == expected.model_dump_json()  # dict orders too
            held += 1
    return held


@pytest.mark.parametrize("fraction", [1.0, 0.1])
@pytest.mark.parametrize("seed", range(6))
def test_pages_are_windows_of_the_whole_answer(
    sqlite_store: SqliteStore, seed: int, fraction: float
) -> None:
    rng = random.Random(seed)
    fill(sqlite_store, rng, *hubbed_network(rng, rng.randrange(30, 90), fraction))
    projection = build_projection(sqlite_store, Tlp.RED)
    for options in OPTIONS:
        whole = integrated_analysis(sqlite_store, projection, options, shared=False)
        analysis = analyse(sqlite_store, projection, options)
        assert any(d.processes_total > 1 for t in whole.threats for d in t.derivation.values())
        assert assert_pages(analysis, whole) > 5
        every = [t.model_dump_json() for t in analysis.every_threat(2, chunk=7)]
        expected = window(whole, 0, whole.threats_total, 2).threats
        assert every == [t.model_dump_json() for t in expected]


def test_reference_pages(reference_store: SqliteStore) -> None:  # noqa: F811
    projection = build_projection(reference_store, Tlp.RED)
    for options in (RiskOptions(), RiskOptions(prefer="derived", horizon_hours=200, top=9)):
        whole = integrated_analysis(reference_store, projection, options, shared=False)
        assert assert_pages(analyse(reference_store, projection, options), whole) > 5


def test_green_pages_reflect_no_amber_record(sqlite_store: SqliteStore, tmp_path: Path) -> None:
    """Each green page of a store that also holds amber records is the page of a store
    holding only the green ones; the red pages are not."""
    green, clean = green_and_clean(sqlite_store, tmp_path)
    alone = analyse(clean, build_projection(clean, Tlp.GREEN))
    mixed = analyse(sqlite_store, green)
    red = analyse(sqlite_store, build_projection(sqlite_store, Tlp.RED))
    assert mixed.summary.threats_total > 10
    for offset in range(0, mixed.summary.threats_total, 6):
        page, reference = mixed.page(offset, 6, 4), alone.page(offset, 6, 4)
        assert page.model_dump_json(include={"threats", "interests"}) == (
            reference.model_dump_json(include={"threats", "interests"})
        )
    assert red.summary.threats_total > mixed.summary.threats_total
    clean.close()


def test_round6_rounds_as_python() -> None:
    """round6 is Python's round(x, 6) on random points, exact binary ties and tiny values
    (numpy's round differs on many of them, which is why it is not used)."""
    rng = np.random.default_rng(1)
    ties = (rng.integers(0, 4_000_000, 50_000) + 0.5) / 1e6
    values = np.concatenate(
        [rng.random(200_000) * 4, rng.random(20_000) * 1e-5, ties, np.arange(2**16) / 2**14]
    )
    python = np.array([round(x, 6) for x in values.tolist()])
    assert np.array_equal(round6(values), python)
    assert not np.array_equal(np.round(values, 6), python)


def test_bases_are_kept_within_their_budget(sqlite_store: SqliteStore) -> None:
    rng = random.Random(2)
    fill(sqlite_store, rng, *hubbed_network(rng, 60, 0.1))  # one base per hub and time
    projection = build_projection(sqlite_store, Tlp.RED)
    shared = SharedSearch(projection, 72.0, 0.0)
    one = KeptBases(1 << 40).get(shared, 0, 0.0)
    size = sum(a.nbytes for a in (one.time, one.depth, one.pred, one.order, one.order_time,
                                  one.processes, one.process_time))  # fmt: skip
    kept = KeptBases(2 * size)
    first = kept.get(shared, 0, 0.0)
    assert kept.get(shared, 0, 0.0) is first  # kept
    kept.get(shared, 0, 1.0)
    kept.get(shared, 0, 2.0)  # the third goes over the budget: the oldest is dropped
    assert kept.held <= 2 * size
    assert kept.get(shared, 0, 0.0) is not first


def test_cache_computes_once_per_projection_and_options(sqlite_store: SqliteStore) -> None:
    rng = random.Random(5)
    fill(sqlite_store, rng, *hubbed_network(rng, 40))
    projection = build_projection(sqlite_store, Tlp.RED)
    cache = RiskCache(sqlite_store)
    first = cache.get(projection, RiskOptions())
    assert cache.get(projection, RiskOptions()).summary is first.summary
    cache.get(projection, RiskOptions(top=3))
    assert cache.computed == 2


def many_hits(rng: random.Random) -> tuple[list[tuple[str, str]], list[Any]]:
    """Threats on a hub that 400 processes depend on (some through each other) with
    strengths of many digits, each safeguarding one or two of three interests: hundreds of
    points per interest, whose sums in numpy's pairwise order differ in the last bit."""
    processes = [f"vp:{i:03}" for i in range(400)]
    interests = [f"interest:{k}" for k in "abc"]
    entities = [("res:hub", "Resource"), *((p, "VitalProcess") for p in processes)]
    entities += [(i, "Interest") for i in interests]
    entities += [(f"t:{k}", "Threat") for k in range(4)]
    relations: list[Any] = []
    for i, process in enumerate(processes):
        target = "res:hub" if i < 200 or rng.random() < 0.3 else processes[rng.randrange(i)]
        props = {"strength": rng.random(), "buffer_hours": rng.randrange(0, 40)}
        relations.append((process, "DEPENDS_ON", target, props))
        for interest in rng.sample(interests, rng.choice([1, 2])):
            relations.append((process, "SAFEGUARDS", interest, {}))
    for k in range(3):
        relations.append((f"t:{k}", "DISRUPTS", "res:hub", {"buffer_hours": k}))
    relations.append(("t:3", "DISRUPTS", processes[7], {}))
    return entities, relations


def test_pages_sum_and_round_points_as_the_whole_answer(sqlite_store: SqliteStore) -> None:
    """Hundreds of hits per interest, long chains: every page is the whole answer's. (The
    final `round(points, 6)` hides a last-bit difference in the sum or in a hit's rounding
    unless the sum lies within its error of a half millionth, which a few hundred hits
    cannot reach; summing and rounding exactly as Python does keeps that true at any size.)"""
    rng = random.Random(11)
    fill(sqlite_store, rng, *many_hits(rng))
    projection = build_projection(sqlite_store, Tlp.RED)
    options = RiskOptions(horizon_hours=1000)
    whole = integrated_analysis(sqlite_store, projection, options, shared=False)
    sums = [
        (sum(h.points for h in d.processes), float(np.sum([h.points for h in d.processes])))
        for t in whole.threats
        for d in t.derivation.values()
    ]
    assert max(len(d.processes) for t in whole.threats for d in t.derivation.values()) > 100
    assert any(python != pairwise for python, pairwise in sums)  # the network can tell
    analysis = analyse(sqlite_store, projection, options)
    for processes in (1, 50, 10000):
        for offset in range(whole.threats_total):
            page = analysis.page(offset, 1, processes)
            assert page.model_dump_json() == window(whole, offset, 1, processes).model_dump_json()
