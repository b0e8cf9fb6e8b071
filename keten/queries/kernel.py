"""The compiled label-setting search behind cascade, propagation and criticality.

A Dijkstra search over the propagation graph (CSR arrays of `Projection`) where a node's
label is the lexicographic triple (time, depth, predecessor index) and smaller is better.
An edge without a redundancy group is a requirement on its own; the member edges of a group
form one requirement that fails only when every member has failed, at the label of the member
that failed last (largest (time + buffer, depth + 1), ties to the smaller predecessor). Every
requirement's label is larger than the labels it was derived from, which is what makes label
setting exact here: once popped, a node's label is final.

The queue is an indexed binary heap over node indices ordered by (time, depth, index), with
decrease-key, so that nodes leave it in exactly the order `affected` is sorted in and no
stale entries pile up. Each search touches only what it reaches and `reset` undoes just
that, so repeated searches (Monte Carlo runs, criticality) cost nothing per untouched node.

With `sample` set, each edge passes the disruption only with probability `strength` (one draw
per edge per run), which turns the search into one Monte Carlo run of `propagation` (which
runs them bit-parallel: keten.queries.bitsets).

The workspaces that hold a search's state live in keten.queries.workspace (kept importable
from here), which runs `settle` and `reset` compiled ahead when it can (keten.queries.ahead),
so that a one-shot command need not import numba.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from keten.graph.projection import FloatArray, Int64Array, IntArray
from keten.queries.workspace import SPARE_WORKSPACES, Workspace, borrowed_workspace

__all__ = ["SPARE_WORKSPACES", "Workspace", "borrowed_workspace", "monte_carlo", "reset", "settle"]


@njit(cache=True, nogil=True, inline="always")
def _better(t: float, d: Any, p: Any, t0: float, d0: Any, p0: Any) -> bool:
    """True when label (t, d, p) is lexicographically smaller than (t0, d0, p0)."""
    if t != t0:
        return t < t0
    if d != d0:
        return d < d0
    return p < p0


@njit(cache=True, nogil=True, inline="always")
def _before(a: Any, b: Any, time: FloatArray, depth: Int64Array) -> bool:
    """Queue order of nodes a and b: (time, depth, index)."""
    return _better(time[a], depth[a], a, time[b], depth[b], b)


@njit(cache=True, nogil=True, inline="always")
def member_failed(
    g: Any, ct: float, cd: Any, cp: Any, group_size: IntArray, group_count: IntArray,
    group_time: FloatArray, group_depth: Int64Array, group_pred: Int64Array,
) -> tuple[bool, float, Any, Any]:  # fmt: skip
    """Note that a member edge of redundancy group g failed with label (ct, cd, cp). The
    group's requirement fails once every member has, with the label of the member that
    failed last; returns whether it has, and the group's label so far."""
    group_count[g] += 1
    if _better(group_time[g], group_depth[g], cp, ct, cd, group_pred[g]):
        group_time[g] = ct
        group_depth[g] = cd
        group_pred[g] = cp
    return group_count[g] >= group_size[g], group_time[g], group_depth[g], group_pred[g]


@njit(cache=True, nogil=True)
def _sift_up(
    heap: Int64Array, pos: Int64Array, i: Any, time: FloatArray, depth: Int64Array
) -> None:
    node = heap[i]
    while i > 0:
        parent = (i - 1) >> 1
        other = heap[parent]
        if not _before(node, other, time, depth):
            break
        heap[i] = other
        pos[other] = i
        i = parent
    heap[i] = node
    pos[node] = i


@njit(cache=True, nogil=True)
def _sift_down(
    heap: Int64Array, pos: Int64Array, size: Any, time: FloatArray, depth: Int64Array
) -> None:
    i = 0
    node = heap[0]
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and _before(heap[child + 1], heap[child], time, depth):
            child += 1
        if not _before(heap[child], node, time, depth):
            break
        heap[i] = heap[child]
        pos[heap[i]] = i
        i = child
    heap[i] = node
    pos[node] = i


@njit(cache=True, nogil=True)
def settle(
    indptr: Int64Array,
    targets: IntArray,
    buffer_hours: FloatArray,
    strength: FloatArray,
    group: IntArray,
    group_size: IntArray,
    sources: Int64Array,
    horizon: float,
    min_strength: float,
    sample: bool,
    time: FloatArray,
    depth: Int64Array,
    pred: Int64Array,
    settled: np.ndarray,
    group_count: IntArray,
    group_time: FloatArray,
    group_depth: Int64Array,
    group_pred: Int64Array,
    heap: Int64Array,
    pos: Int64Array,
    order: Int64Array,
) -> int:
    """Run one search; fills `order` with settled nodes by label and returns how many.

    State arrays must come in reset (time inf, depth/pred/pos -1, settled False, group_count
    0, group_time -inf); `reset` puts them back using `order`.
    """
    size = 0
    for s in sources:
        if pos[s] < 0 and not settled[s]:
            time[s] = 0.0
            depth[s] = 0
            pred[s] = -1
            heap[size] = s
            size += 1
            _sift_up(heap, pos, size - 1, time, depth)
    count = 0
    while size > 0:
        u = heap[0]
        size -= 1
        pos[u] = -1
        if size > 0:
            heap[0] = heap[size]
            _sift_down(heap, pos, size, time, depth)
        settled[u] = True
        order[count] = u
        count += 1
        t = time[u]
        d = depth[u]
        for e in range(indptr[u], indptr[u + 1]):
            v = targets[e]
            if settled[v] or strength[e] < min_strength:
                continue
            if sample and np.random.random() >= strength[e]:
                continue
            ct = t + buffer_hours[e]
            cd = d + 1
            cp = u
            g = group[e]
            if g >= 0:
                failed, ct, cd, cp = member_failed(
                    g, ct, cd, cp, group_size, group_count, group_time, group_depth, group_pred
                )
                if not failed:
                    continue
            if ct > horizon or not _better(ct, cd, cp, time[v], depth[v], pred[v]):
                continue
            time[v] = ct
            depth[v] = cd
            pred[v] = cp
            if pos[v] < 0:
                heap[size] = v
                size += 1
                _sift_up(heap, pos, size - 1, time, depth)
            else:
                _sift_up(heap, pos, pos[v], time, depth)
    return count


@njit(cache=True, nogil=True)
def reset(
    indptr: Int64Array,
    group: IntArray,
    order: Int64Array,
    count: int,
    time: FloatArray,
    depth: Int64Array,
    pred: Int64Array,
    settled: np.ndarray,
    group_count: IntArray,
    group_time: FloatArray,
) -> None:
    """Undo one `settle` run touching only what it touched (fast repeated runs)."""
    for i in range(count):
        u = order[i]
        for e in range(indptr[u], indptr[u + 1]):
            g = group[e]
            if g >= 0:
                group_count[g] = 0
                group_time[g] = -np.inf
        time[u] = np.inf
        depth[u] = -1
        pred[u] = -1
        settled[u] = False


@njit(cache=True, nogil=True)
def monte_carlo(
    indptr: Int64Array,
    targets: IntArray,
    buffer_hours: FloatArray,
    strength: FloatArray,
    group: IntArray,
    group_size: IntArray,
    sources: Int64Array,
    horizon: float,
    min_strength: float,
    runs: int,
    seed: int,
    n: int,
) -> Int64Array:
    """How many of `runs` sampled cascades reach each node within the horizon, one at a time.

    Propagation runs them bit-parallel (keten.queries.bitsets); this single-run form is the
    reference those are tested and benched against.
    """
    np.random.seed(seed)
    groups = group_size.shape[0]
    time = np.full(n, np.inf)
    depth = np.full(n, -1, dtype=np.int64)
    pred = np.full(n, -1, dtype=np.int64)
    settled = np.zeros(n, dtype=np.bool_)
    group_count = np.zeros(groups, dtype=np.int32)
    group_time = np.full(groups, -np.inf)
    group_depth = np.zeros(groups, dtype=np.int64)
    group_pred = np.full(groups, -1, dtype=np.int64)
    heap = np.empty(n, dtype=np.int64)
    pos = np.full(n, -1, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    hits = np.zeros(n, dtype=np.int64)
    for _ in range(runs):
        count = settle(
            indptr, targets, buffer_hours, strength, group, group_size, sources, horizon,
            min_strength, True, time, depth, pred, settled, group_count, group_time,
            group_depth, group_pred, heap, pos, order,
        )  # fmt: skip
        for i in range(count):
            hits[order[i]] += 1
        reset(indptr, group, order, count, time, depth, pred, settled, group_count, group_time)
    return hits


def warm_up() -> None:
    """Load (or compile, the first time) every kernel by running each on a two-node graph.

    Numba caches compiled kernels beside this module (`cache=True`), or under
    NUMBA_CACHE_DIR where that folder is read-only; loading them still takes seconds per
    process (numba sets up its compiler first), which a server pays here, at start, rather
    than in its first answer. The graph is a real `Projection`, so that its arrays have the
    types (read-only) of the ones the kernels will be called with.
    """
    from keten.graph.projection import AuditPosition, Entities, RelationTable, assemble
    from keten.schema.markings import Tlp

    one = np.ones(1)
    table = RelationTable(
        np.array([1], dtype=np.int32), np.array([0], dtype=np.int32),
        np.array([0], dtype=np.int8), one * 0, one, np.array([0], dtype=np.int32),
    )  # fmt: skip
    ids = ["a", "b"]
    entities = Entities(ids, {"a": 0, "b": 1}, ["Resource", "VitalProcess"], ids)
    p = assemble(0, Tlp.RED, "all", entities, table, ["g"], AuditPosition(0, ""))
    sources = np.array([0], dtype=np.int64)
    with borrowed_workspace(p) as work:
        work.run(sources, 1.0, 0.0)
    monte_carlo(
        p.indptr, p.targets, p.buffer_hours, p.strength, p.group, p.group_size, sources,
        1.0, 0.0, 1, 0, p.node_count,
    )  # fmt: skip
    from keten.queries.bitsets import propagation_hits, search_arrays  # what propagation runs

    hits = np.zeros(p.node_count, dtype=np.int64)
    propagation_hits(search_arrays(p), sources, 1.0, 0.0, 1, 0, 0, 1, hits)
