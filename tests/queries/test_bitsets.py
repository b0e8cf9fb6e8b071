"""Bit-parallel cascades against the single-run search, on generated graphs in a real store.

Propagation: the per-entity hit frequencies of the bit-parallel runs and of as many single
runs (keten.queries.kernel.monte_carlo, the search propagation used one run at a time) must
agree within binomial tolerance.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import random
from pathlib import Path

import numpy as np
import pytest

from keten.graph.projection import Projection, build_projection
from keten.graph.projection_files import ProjectionFiles
from keten.graph.sqlite import SqliteStore
from keten.queries.bitsets import (
    INT32_MAX,
    LANES,
    WORDS,
    fits_int32,
    lay_out,
    search_arrays,
    threshold_of,
)
from keten.queries.kernel import monte_carlo
from keten.queries.propagation import PropagationRequest, propagate, run_hits, wilson
from keten.queries.synthetic import SyntheticStore, generate_network
from keten.schema.markings import Tlp
from tests.conftest import resident_kb
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


@pytest.mark.parametrize("runs", [1, 64, 100, 700, LANES, LANES + 5])
def test_rows_as_narrow_as_the_runs_need_give_the_same_hits(
    generated: Projection, runs: int
) -> None:
    """A batch's rows hold only the words its lanes use (memory at national scale); the hits
    are those of full-width rows, random draws included, for full and partial batches."""
    start = np.array([generated.index["res:power"]], dtype=np.int64)
    narrow = run_hits(generated, start, 72.0, 0.1, runs, seed=4)
    full = run_hits(generated, start, 72.0, 0.1, runs, seed=4, words=WORDS)
    assert (narrow == full).all() and narrow[start[0]] == runs
    assert int((narrow > 0).sum()) > 100 and int((narrow < runs).sum()) > 0


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


def test_thresholds_computed_at_each_draw_are_the_ones_once_kept_per_edge() -> None:
    """The draws compare with strength * 2**53, computed per visit since it is no longer
    stored per edge: the same integers as numpy's formula over the whole column."""
    rng = np.random.default_rng(8)
    spaced = np.nextafter(np.array([0.0, 0.5, 1.0]), 2.0)
    strengths = np.concatenate(
        [[0.0, 1.0, 0.37, 1e-300, 5e-324, 1 - 2**-53, 1.5, -0.2], spaced, rng.random(10_000)]
    )
    kept = (np.clip(strengths, 0.0, 1.0) * 2.0**53).astype(np.uint64)
    computed = np.array([threshold_of(float(s)) for s in strengths], dtype=np.uint64)
    assert (computed == kept).all()


def test_search_arrays_are_int32_and_refuse_a_graph_beyond_them(generated: Projection) -> None:
    arrays = search_arrays(generated)
    for name in ("run_class", "run_start", "head", "group", "slot"):
        assert getattr(arrays, name).dtype == np.int32, name
    assert int(arrays.run_start[-1]) == generated.edge_count
    fits_int32(INT32_MAX, "edges")
    with pytest.raises(ValueError, match="edges in 32 bits: 2,147,483,648 is more than"):
        fits_int32(INT32_MAX + 1, "edges")
    p = generated
    again = lay_out(p.indptr, p.targets, p.buffer_hours, p.strength, p.group)
    assert all((a == b).all() for a, b in zip(again, arrays, strict=True))


def test_one_set_of_search_arrays_is_kept_for_the_last_projection(generated: Projection) -> None:
    """A server holds a projection per clearance: only the last one's search arrays stay
    (hundreds of MB each at national scale), and they go with their projection."""
    from keten.queries import bitsets

    first = search_arrays(generated)
    assert search_arrays(generated) is first
    other = dataclasses.replace(generated)  # another projection (same arrays)
    second = search_arrays(other)
    assert second is not first and search_arrays(other) is second
    again = search_arrays(generated)
    assert again is not first and all((a == b).all() for a, b in zip(again, first, strict=True))
    del first, second, again
    assert bitsets._KEPT.arrays is not None
    del other
    gc.collect()
    assert bitsets._KEPT.arrays is not None  # `generated` is the last one and lives on
    third = dataclasses.replace(generated)
    search_arrays(third)
    del third
    gc.collect()
    assert bitsets._KEPT.arrays is None and bitsets._KEPT.owner is None


def test_a_write_lets_the_kept_search_arrays_go_first(sqlite_store: SqliteStore) -> None:
    """Before a projection is brought forward after a write, the kept search arrays (of
    whichever clearance) go, so that the two do not take memory at once."""
    from keten.graph.projection import ProjectionCache
    from keten.graph.store import EntityRow
    from keten.queries import bitsets

    fill(
        sqlite_store,
        [("r:a", "Resource"), ("r:b", "Resource")],
        [("r:b", "DEPENDS_ON", "r:a", {"strength": 0.5})],
    )
    cache = ProjectionCache(sqlite_store)
    red = cache.get(Tlp.RED)
    kept = search_arrays(red)
    assert cache.get(Tlp.RED) is red and search_arrays(red) is kept
    with sqlite_store.writer() as w:
        w.upsert_entities([EntityRow("r:c", "Resource", "C")])
    newer = cache.get(Tlp.RED)
    assert newer is not red and bitsets._KEPT.arrays is None
    assert search_arrays(newer).head.shape[0] == kept.head.shape[0]


def test_search_arrays_let_go_of_the_mapped_pages_they_copy(
    generated: Projection, tmp_path: Path
) -> None:
    """Laid out from a projection mapped from its files, the search arrays are copies: the
    pages read for them leave the process's resident memory, and the hits are the same."""
    mapped = ProjectionFiles(tmp_path, "bitsets").save(generated)
    assert isinstance(mapped.targets, np.memmap)
    columns = (mapped.indptr, mapped.targets, mapped.buffer_hours, mapped.strength, mapped.group)
    for column in columns:
        column.sum()  # a search reads them
    assert resident_kb(tmp_path) > 0
    arrays = search_arrays(mapped)
    assert resident_kb(tmp_path) == 0
    p = generated
    expected = lay_out(p.indptr, p.targets, p.buffer_hours, p.strength, p.group)
    for name, array in arrays._asdict().items():
        np.testing.assert_array_equal(array, getattr(expected, name), err_msg=name)
    start = np.array([p.index["res:power"]])
    np.testing.assert_array_equal(
        run_hits(mapped, start, 72.0, 0.0, 300, seed=5), run_hits(p, start, 72.0, 0.0, 300, seed=5)
    )


def test_laying_out_search_arrays_lets_go_of_the_other_kept_projections(tmp_path: Path) -> None:
    """Before the search arrays of one clearance are laid out, the projections a server
    keeps for the others let go of their mapped pages and spare workspaces (`make_room`);
    they answer the same afterwards, reading those pages again."""
    from keten.graph.projection import ProjectionCache
    from keten.queries.cascade import cascade

    synthetic = SyntheticStore(generate_network(500, 5000, seed=8))
    store = SqliteStore(tmp_path / "keten.sqlite")
    with store.writer() as w:
        w.upsert_entities(list(synthetic.iter_entities()))
        w.upsert_relations(list(synthetic.iter_relations()))
    directory = tmp_path / "projection"
    for level in (Tlp.GREEN, Tlp.RED):
        ProjectionCache(store, directory).get(level)  # saved beside the store
    cache = ProjectionCache(store, directory)
    green, red = cache.get(Tlp.GREEN), cache.get(Tlp.RED)
    assert isinstance(red.targets, np.memmap)
    hub = red.ids[int(np.argmax(np.diff(red.indptr)))]
    start = np.array([red.index[hub]])
    hits = run_hits(red, start, 72.0, 0.0, 200, seed=3)
    answer = cascade(red, [hub])  # its pages read and a workspace kept
    (folder,) = directory.glob("*/red.all")
    assert red.workspaces and resident_kb(folder) > 0
    search_arrays(green)  # laid out for green: red's pages and workspaces go first
    assert red.workspaces == [] and resident_kb(folder) == 0
    assert cascade(red, [hub]) == answer and resident_kb(folder) > 0
    np.testing.assert_array_equal(run_hits(red, start, 72.0, 0.0, 200, seed=3), hits)
    store.close()
