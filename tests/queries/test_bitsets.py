"""Bit-parallel cascades against the single-run search, on generated graphs in a real store.

Propagation: the per-entity hit frequencies of the bit-parallel runs and of as many single
runs (keten.queries.kernel.monte_carlo, the search propagation used one run at a time) must
agree within binomial tolerance.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from keten.graph.projection import Projection, build_projection
from keten.graph.sqlite import SqliteStore
from keten.queries.bitsets import LANES, search_arrays
from keten.queries.kernel import monte_carlo
from keten.queries.propagation import PropagationRequest, propagate, run_hits, wilson
from keten.queries.synthetic import SyntheticStore, generate_network
from keten.schema.markings import Tlp
from tests.queries.conftest import fill, random_network

RUNS = 3000


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Projection:
    """A `keten generate` network of 3,000 entities and 30,000 relations, via SQLite."""
    synthetic = SyntheticStore(generate_network(3000, 30_000, seed=4))
    store = SqliteStore(tmp_path_factory.mktemp("bitsets") / "keten.sqlite")
    with store.writer() as w:
        w.upsert_entities(list(synthetic.iter_entities()))
        w.upsert_relations(list(synthetic.iter_relations()))
    projection = build_projection(store, Tlp.RED)
    store.close()
    return projection


def single_runs(p: Projection, sources: np.ndarray, horizon: float, floor: float) -> np.ndarray:
    hits: np.ndarray = monte_carlo(
        p.indptr, p.targets, p.buffer_hours, p.strength, p.group, p.group_size,
        sources, horizon, floor, RUNS, 99, p.node_count,
    )  # fmt: skip
    return hits


@pytest.mark.parametrize(
    ("sources", "horizon", "floor"),
    [(["res:power"], 72.0, 0.0), (["threat:000003", "res:power"], 24.0, 0.4)],
)
def test_hit_frequencies_agree_with_single_runs(
    generated: Projection, sources: list[str], horizon: float, floor: float
) -> None:
    p = generated
    starts = np.array(sorted(p.index[s] for s in sources), dtype=np.int64)
    fast = run_hits(p, starts, horizon, floor, RUNS, seed=7)
    slow = single_runs(p, starts, horizon, floor)
    assert (fast[starts] == RUNS).all() and (slow[starts] == RUNS).all()
    pooled = (fast + slow) / (2 * RUNS)
    tolerance = 5 * np.sqrt(pooled * (1 - pooled) * 2 / RUNS) + 1e-12
    assert (np.abs(fast - slow) / RUNS <= tolerance).all()
    assert int((fast > 0).sum()) > 100  # the comparison covered a real cascade
    # an entity either method reaches in more than 1% of runs, the other reaches too
    assert ((fast > 0) | (pooled < 0.01)).all() and ((slow > 0) | (pooled < 0.01)).all()


def test_probabilities_and_wilson_intervals_come_from_the_hits(generated: Projection) -> None:
    request = PropagationRequest(sources=["res:power"], runs=RUNS, seed=3, limit=10_000)
    result = propagate(generated, request)
    hits = run_hits(generated, np.array([generated.index["res:power"]]), 72.0, 0.0, RUNS, 3)
    assert result.total == int((hits > 0).sum()) == len(result.entities)
    counts = np.array([hits[generated.index[e.id]] for e in result.entities])
    low, high = wilson(counts, RUNS, 0.95)
    assert [e.probability for e in result.entities] == (counts / RUNS).tolist()
    assert [e.ci_low for e in result.entities] == low.tolist()
    assert [e.ci_high for e in result.entities] == high.tolist()


def test_same_hits_whatever_the_threads_and_batch_shares(generated: Projection) -> None:
    start = np.array([generated.index["res:power"]], dtype=np.int64)
    runs = 5 * LANES + 17  # a last batch that is not full
    one = run_hits(generated, start, 72.0, 0.0, runs, seed=1, workers=1)
    three = run_hits(generated, start, 72.0, 0.0, runs, seed=1, workers=3)
    assert (one == three).all() and one[start[0]] == runs
    assert not (one == run_hits(generated, start, 72.0, 0.0, runs, seed=2)).all()
    done: list[int] = []
    run_hits(generated, start, 72.0, 0.0, runs, seed=1, progress=done.append)
    assert sorted(done) == done and done[-1] == runs


def test_a_strength_is_the_share_of_runs_an_edge_passes(sqlite_store: SqliteStore) -> None:
    """One edge of strength 0.37: its head is hit in Binomial(runs, 0.37) runs."""
    fill(
        sqlite_store,
        [("r:a", "Resource"), ("r:b", "Resource")],
        [("r:b", "DEPENDS_ON", "r:a", {"strength": 0.37})],
    )
    p = build_projection(sqlite_store, Tlp.RED)
    runs = 20_000
    hits = run_hits(p, np.array([p.index["r:a"]]), 72.0, 0.0, runs, seed=5)
    share = hits[p.index["r:b"]] / runs
    assert abs(share - 0.37) <= 5 * math.sqrt(0.37 * 0.63 / runs)


def test_more_buffer_values_than_a_class_mask_holds(sqlite_store: SqliteStore) -> None:
    """Over 64 distinct buffers: a node's runs are found by scanning, not by the class mask."""
    rng = random.Random(11)
    entities, relations = random_network(rng, 300)
    for _, _, _, props in relations:
        props["buffer_hours"] = round(rng.uniform(0, 12), 1)
    fill(sqlite_store, entities, relations)
    p = build_projection(sqlite_store, Tlp.RED)
    assert search_arrays(p).class_buffer.shape[0] > 64
    starts = np.array(sorted(p.index[s] for s in ("t:0", "t:1", "n:000")), dtype=np.int64)
    fast = run_hits(p, starts, 30.0, 0.1, RUNS, seed=3)
    slow = single_runs(p, starts, 30.0, 0.1)
    pooled = (fast + slow) / (2 * RUNS)
    tolerance = 5 * np.sqrt(pooled * (1 - pooled) * 2 / RUNS) + 1e-12
    assert (np.abs(fast - slow) / RUNS <= tolerance).all()
    assert int((fast > 0).sum()) > 20 and int((fast < RUNS).sum()) > 0
