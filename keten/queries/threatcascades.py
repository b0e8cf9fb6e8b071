"""Exact cascades of many threats at once, sharing the search of the hubs they reach.

The integrated risk analysis needs, per threat, the exact cascade of keten.queries.kernel:
each entity's label (time, depth, predecessor), since the path strengths and chains follow
the predecessors. A national graph has about 10,000 threats whose cascades each reach most
of a million entities, nearly all of it through a few hubs (power, telecom ...): one search
per threat walks the hub's whole cascade again every time.

Here a threat's search starts from the *base* of a hub: the exact cascade from the hub alone,
at the label (t0, d0) at which the threat reaches it, searched once for every threat that
reaches that hub first at that time. The threat's own search then only walks where it does
better than the base. Why that is exact:

* The (time, depth) part of the labels solves a monotone system (a requirement's label is
  the minimum over single edges, the maximum over a redundancy group's members, plus the
  buffer and one step), whose solution is unique because every requirement is larger than
  what it is made of. Adding sources only lowers it; the threat reaches the hub at (t0, d0),
  so its labels are at most the base's shifted by d0 (times are never shifted: the base is
  searched from t0 itself, so every time is the same sum of the same numbers in the same
  order as in the threat's own search, to the last bit).
* The own search is label-setting over the entities it *improves* (a (time, depth) strictly
  below the base's); each entity it improves is final when it leaves the queue, as in the
  single search. A group's requirement is re-evaluated whenever one of its members improves,
  with the base's labels for the others, so a group completed by improved and base members
  together is found.
* The predecessor is the smallest among the requirements that give an entity its final
  (time, depth) (a group's: the smallest of its members that failed last). For an entity
  the search improved, it is tracked as in the single search; for an entity keeping the
  base's label it can only differ from the base's when an improved entity has an edge into
  it (a group's predecessor can even get larger), so those are recomputed from their
  in-edges; the rest keep the base's.
* Path strengths are products taken from the source down each chain, in that order (a
  float product depends on it), so each is multiplied out along the threat's own chain,
  remembering every entity's product for the threat so that shared parts of chains are
  multiplied once.

The hubs are the entities with the most edges out (`HUBS` of them); a threat's key is the
first hub its own search reaches. Threats sharing no key run their own whole search.
A threat's way (`Route`: which base, at which depth and time, or alone) is kept, so that a
page of the served analysis (keten.queries.riskpages) searches its threats again from the
same bases (`KeptBases`), making chains only for the processes it lists (`Listing`).
`tests/queries/test_threatcascades.py` holds every answer to the single search's on random
graphs with groups, buffers, strengths and horizons.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from keten.graph.projection import FloatArray, Int64Array, Projection
from keten.queries.kernel import _better as _less
from keten.queries.kernel import _sift_down, _sift_up, member_failed

HUBS = 16
"""Entities whose cascades are shared (the ones with the most edges out)."""
MIN_SHARED = 2
"""Threats that must share a key before its base is searched."""

TENTATIVE = np.int8(1)
IMPROVED = np.int8(2)
TOUCHED = np.int8(4)
STRONG = np.int8(8)
"""The entity's path strength for this threat is in `strength_out`."""
NO_PRED = -1
HUB_PRED = -2
"""The base's predecessor of its hub: the threat's own, found by the search."""

Int8Array = npt.NDArray[np.int8]
Listing = Callable[[Int64Array], Int64Array]
"""Given a threat's processes hit (in order), the positions of those to list."""


@dataclass(eq=False)
class Graph:
    """The propagation graph with the indexes the shared search needs besides the CSR."""

    indptr: Int64Array
    targets: Any
    buffer_hours: FloatArray
    strength: FloatArray
    group: Any
    tail: Int64Array
    """Tail of each edge."""
    rev_indptr: Int64Array
    rev_edges: Int64Array
    """Edges into node v: rev_edges[rev_indptr[v]:rev_indptr[v + 1]]."""
    member_indptr: Int64Array
    members: Int64Array
    """Edges of group g: members[member_indptr[g]:member_indptr[g + 1]]."""
    safeguarding: npt.NDArray[np.bool_]
    hub: npt.NDArray[np.bool_]

    def arrays(self) -> tuple[Any, ...]:
        """The arrays every kernel takes, in order."""
        return (
            self.indptr, self.targets, self.buffer_hours, self.strength, self.group,
            self.tail, self.rev_indptr, self.rev_edges, self.member_indptr, self.members,
        )  # fmt: skip


def graph_of(projection: Projection, hubs: int = HUBS) -> Graph:
    """The `Graph` of `projection` (kept while it lives)."""
    kept = _GRAPHS.get(projection)
    if kept is not None and kept[0] == hubs:
        return kept[1]
    p = projection
    n = p.node_count
    tail = np.repeat(np.arange(n, dtype=np.int64), np.diff(p.indptr))
    rev_edges = np.argsort(p.targets, kind="stable").astype(np.int64)
    rev_indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(p.targets, minlength=n), out=rev_indptr[1:])
    grouped = np.flatnonzero(np.asarray(p.group) >= 0)
    members = grouped[np.argsort(np.asarray(p.group)[grouped], kind="stable")].astype(np.int64)
    member_indptr = np.zeros(p.group_size.shape[0] + 1, dtype=np.int64)
    np.cumsum(p.group_size, out=member_indptr[1:])
    degree = np.diff(p.indptr)
    hub = np.zeros(n, dtype=np.bool_)
    if hubs and n:
        top = np.argsort(-degree, kind="stable")[:hubs]
        hub[top[degree[top] > 0]] = True
    graph = Graph(
        p.indptr, p.targets, np.asarray(p.buffer_hours, dtype=np.float64),
        np.asarray(p.strength, dtype=np.float64), p.group, tail, rev_indptr, rev_edges,
        member_indptr, members, np.diff(p.safeguards_indptr) > 0, hub,
    )  # fmt: skip
    _GRAPHS[projection] = (hubs, graph)
    return graph


_GRAPHS: weakref.WeakKeyDictionary[Projection, tuple[int, Graph]] = weakref.WeakKeyDictionary()


@njit(cache=True, nogil=True)
def _pop(heap: Int64Array, pos: Int64Array, size: Any, time: FloatArray, depth: Int64Array) -> Any:
    """Take the first entity off the queue of `size` entities; returns it."""
    u = heap[0]
    size -= 1
    pos[u] = -1
    if size > 0:
        heap[0] = heap[size]
        _sift_down(heap, pos, size, time, depth)
    return u


@njit(cache=True, nogil=True)
def _offer(
    v: Any, ct: float, cd: Any, cp: Any, queued: bool, heap: Int64Array, pos: Int64Array,
    size: Any, time: FloatArray, depth: Int64Array, pred: Int64Array,
) -> Any:  # fmt: skip
    """Give v the label (ct, cd, cp) if it is queued with a larger one (decrease-key) or
    not queued; returns the new queue size."""
    if queued:
        if _less(ct, cd, cp, time[v], depth[v], pred[v]):
            time[v], depth[v], pred[v] = ct, cd, cp
            _sift_up(heap, pos, pos[v], time, depth)
        return size
    time[v], depth[v], pred[v] = ct, cd, cp
    heap[size] = v
    _sift_up(heap, pos, size, time, depth)
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def _mark(status: Int8Array, dirty: Int64Array, n_dirty: Any, v: Any, flag: Any) -> Any:
    """Set `flag` on v, listing v in `dirty` the first time any flag is set; the new count."""
    if status[v] == 0:
        dirty[n_dirty] = v
        n_dirty += 1
    status[v] |= flag
    return n_dirty


@njit(cache=True, nogil=True, inline="always")
def _label(
    v: Any, status: Int8Array, time: FloatArray, depth: Int64Array,
    base_time: FloatArray, base_depth: Int64Array, shift: Any, tshift: float,
) -> tuple[float, Any]:  # fmt: skip
    """The label (time, depth) v has now: its own when improved, else the base's."""
    if status[v] & IMPROVED:
        return time[v], depth[v]
    return base_time[v] + tshift, base_depth[v] + shift


@njit(cache=True, nogil=True)
def _group_label(
    g: Any, arrays: Any, min_strength: float, status: Int8Array, time: FloatArray,
    depth: Int64Array, base_time: FloatArray, base_depth: Int64Array, shift: Any,
    tshift: float,
) -> tuple[float, Any, Any]:  # fmt: skip
    """Group g's label from its members' current labels: the member that fails last (ties
    to the smaller predecessor), or time inf while a member has not failed."""
    _, _, buffer_hours, strength, _, tail, _, _, member_indptr, members = arrays
    gt = -np.inf
    gd = 0
    gp = -1
    for i in range(member_indptr[g], member_indptr[g + 1]):
        e = members[i]
        if strength[e] < min_strength:
            return np.inf, 0, -1
        u = tail[e]
        t, d = _label(u, status, time, depth, base_time, base_depth, shift, tshift)
        if t == np.inf:
            return np.inf, 0, -1
        ct = t + buffer_hours[e]
        cd = d + 1
        if gp < 0 or _less(gt, gd, u, ct, cd, gp):
            gt, gd, gp = ct, cd, u
    return gt, gd, gp


@njit(cache=True, nogil=True)
def search(
    arrays: Any, hub: npt.NDArray[np.bool_], stop_at_hub: bool,
    base_time: FloatArray, base_depth: Int64Array, shift: Any, tshift: float,
    seed: Any, seed_time: float, seed_depth: Any, seed_pred: Any,
    horizon: float, min_strength: float,
    status: Int8Array, time: FloatArray, depth: Int64Array, pred: Int64Array,
    heap: Int64Array, pos: Int64Array, order: Int64Array, dirty: Int64Array, counts: Int64Array,
) -> None:  # fmt: skip
    """The search from `seed` of the entities it improves on the base (all it reaches when
    the base reaches nothing); see the module's docstring.

    Fills `order` with the improved entities in the single search's order and marks every
    entity an improved one has an edge into (TOUCHED); `dirty` lists every entity whose
    status was set. counts = [improved, dirty, improved outside the base, stop hub or -1].
    With `stop_at_hub` it stops at the first hub it settles.
    """
    indptr, targets, buffer_hours, strength, group, _, _, _, _, _ = arrays
    n_dirty = 0
    size = 0
    count = 0
    fresh = 0
    counts[3] = -1
    time[seed] = seed_time
    depth[seed] = seed_depth
    pred[seed] = seed_pred
    n_dirty = _mark(status, dirty, n_dirty, seed, TENTATIVE)
    heap[0] = seed
    pos[seed] = 0
    size = 1
    while size > 0:
        u = _pop(heap, pos, size, time, depth)
        size -= 1
        status[u] = (status[u] & ~TENTATIVE) | IMPROVED
        order[count] = u
        count += 1
        if not base_time[u] + tshift <= horizon:
            fresh += 1
        if stop_at_hub and hub[u]:
            counts[3] = u
            break
        t = time[u]
        d = depth[u]
        for e in range(indptr[u], indptr[u + 1]):
            v = targets[e]
            if status[v] & IMPROVED or strength[e] < min_strength:
                continue
            n_dirty = _mark(status, dirty, n_dirty, v, TOUCHED)
            g = group[e]
            if g >= 0:
                ct, cd, cp = _group_label(
                    g, arrays, min_strength, status, time, depth, base_time, base_depth, shift,
                    tshift,
                )  # fmt: skip
            else:
                ct, cd, cp = t + buffer_hours[e], d + 1, u
            if ct > horizon:
                continue
            bt = base_time[v] + tshift
            bd = base_depth[v] + shift
            if not (ct < bt or (ct == bt and cd < bd)):
                continue  # the base's label stands
            queued = bool(status[v] & TENTATIVE)
            size = _offer(v, ct, cd, cp, queued, heap, pos, size, time, depth, pred)
            status[v] |= TENTATIVE
    for i in range(size):  # stopped early: the rest is not settled
        v = heap[i]
        pos[v] = -1
        status[v] &= ~TENTATIVE
    counts[0] = count
    counts[1] = n_dirty
    counts[2] = fresh


@njit(cache=True, nogil=True)
def whole_search(
    arrays: Any, group_size: Any, hub: npt.NDArray[np.bool_], stop_at_hub: bool,
    seed: Any, seed_time: float, seed_pred: Any, horizon: float, min_strength: float,
    status: Int8Array, time: FloatArray, depth: Int64Array, pred: Int64Array,
    heap: Int64Array, pos: Int64Array, order: Int64Array, dirty: Int64Array,
    group_count: Any, group_time: FloatArray, group_depth: Int64Array,
    group_pred: Int64Array, counts: Int64Array,
) -> None:  # fmt: skip
    """keten.queries.kernel.settle from one seed failing at `seed_time` (depth 0): a group
    is counted as its members arrive, which is what makes a whole search (a hub's base, or
    a threat reaching no shared hub) cheaper here than in `search`. Everything it reached is
    marked IMPROVED (and listed in `dirty`); counts as `search`'s. The group state must come
    in reset and is put back here."""
    indptr, targets, buffer_hours, strength, group, _, _, _, _, _ = arrays
    time[seed] = seed_time
    depth[seed] = 0
    pred[seed] = seed_pred
    status[seed] = TENTATIVE
    dirty[0] = seed
    n_dirty = 1
    heap[0] = seed
    pos[seed] = 0
    size = 1
    count = 0
    counts[3] = -1
    while size > 0:
        u = _pop(heap, pos, size, time, depth)
        size -= 1
        status[u] = IMPROVED
        order[count] = u
        count += 1
        if stop_at_hub and hub[u]:
            counts[3] = u
            break
        t = time[u]
        d = depth[u]
        for e in range(indptr[u], indptr[u + 1]):
            v = targets[e]
            if status[v] & IMPROVED or strength[e] < min_strength:
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
            if ct > horizon:
                continue
            if status[v] == 0:
                dirty[n_dirty] = v
                n_dirty += 1
            queued = bool(status[v] & TENTATIVE)
            size = _offer(v, ct, cd, cp, queued, heap, pos, size, time, depth, pred)
            status[v] = TENTATIVE
    for i in range(size):  # stopped early: the rest is not settled
        v = heap[i]
        pos[v] = -1
        status[v] = TOUCHED
    for i in range(count):  # the groups' state, as kernel.reset puts it back
        u = order[i]
        for e in range(indptr[u], indptr[u + 1]):
            g = group[e]
            if g >= 0:
                group_count[g] = 0
                group_time[g] = -np.inf
    counts[0] = count
    counts[1] = n_dirty
    counts[2] = count


@njit(cache=True, nogil=True)
def settle_touched(
    arrays: Any, min_strength: float, horizon: float, base_time: FloatArray,
    base_depth: Int64Array, base_pred: Int64Array, shift: Any, tshift: float,
    status: Int8Array, time: FloatArray,
    depth: Int64Array, pred: Int64Array, dirty: Int64Array, n_dirty: Any,
) -> None:  # fmt: skip
    """The predecessor of every touched entity that keeps the base's label, from its
    in-edges (the smallest among the requirements that give it that label)."""
    _, _, buffer_hours, strength, group, tail, rev_indptr, rev_edges, member_indptr, members = (
        arrays
    )
    for i in range(n_dirty):
        v = dirty[i]
        vt = base_time[v] + tshift
        if status[v] & IMPROVED or not status[v] & TOUCHED or not vt <= horizon:
            continue
        vd = base_depth[v] + shift
        best = -1
        for k in range(rev_indptr[v], rev_indptr[v + 1]):
            e = rev_edges[k]
            g = group[e]
            if g >= 0:
                if members[member_indptr[g]] != e:
                    continue  # a group is weighed once, at its first member
                ct, cd, cp = _group_label(
                    g, arrays, min_strength, status, time, depth, base_time, base_depth, shift,
                    tshift,
                )  # fmt: skip
            else:
                if strength[e] < min_strength:
                    continue
                u = tail[e]
                t, d = _label(u, status, time, depth, base_time, base_depth, shift, tshift)
                ct, cd, cp = t + buffer_hours[e], d + 1, u
            if ct == vt and cd == vd and (best < 0 or cp < best):
                best = cp
        time[v] = vt
        depth[v] = vd
        pred[v] = best


@njit(cache=True, nogil=True, inline="always")
def _pred_of(v: Any, status: Int8Array, pred: Int64Array, base_pred: Int64Array) -> Any:
    """v's predecessor in the threat's cascade."""
    if status[v] & (IMPROVED | TOUCHED):
        return pred[v]
    return base_pred[v]


@njit(cache=True, nogil=True, inline="always")
def _step(indptr: Int64Array, targets: Any, strength: FloatArray, u: Any, v: Any) -> float:
    """The strength of the strongest edge u -> v (a row's heads are sorted)."""
    lo = indptr[u]
    hi = indptr[u + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        if targets[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    best = -np.inf
    while lo < indptr[u + 1] and targets[lo] == v:
        best = max(best, strength[lo])
        lo += 1
    return best


@njit(cache=True, nogil=True)
def path_strength(
    v: Any, arrays: Any, status: Int8Array, pred: Int64Array, base_pred: Int64Array,
    strength_out: FloatArray, stack: Int64Array, dirty: Int64Array, n_dirty: Any,
) -> tuple[float, Any]:  # fmt: skip
    """The product of the strengths along v's chain, multiplied from the source down (as
    keten.queries.risk.path_strengths does), and the new dirty count. Each entity's product
    is remembered for the threat (STRONG), so the chains' common parts are multiplied once;
    a threat's hub is set before (`at_hub`), so a base's entities end their walk there."""
    indptr, targets, _, strength, _, _, _, _, _, _ = arrays
    top = 0
    x = v
    while not status[x] & STRONG:
        stack[top] = x
        top += 1
        x = _pred_of(x, status, pred, base_pred)
        if x < 0:
            break
    while top > 0:
        top -= 1
        y = stack[top]
        p = _pred_of(y, status, pred, base_pred)
        above = 1.0 if p < 0 else strength_out[p] * _step(indptr, targets, strength, p, y)
        strength_out[y] = above
        n_dirty = _mark(status, dirty, n_dirty, y, STRONG)
    return strength_out[v], n_dirty


@njit(cache=True, nogil=True)
def merged(
    base_order: Int64Array, status: Int8Array, order: Int64Array, count: Any,
    time: FloatArray, depth: Int64Array, base_time: FloatArray, base_depth: Int64Array,
    shift: Any, tshift: float, nb: Any, keep: npt.NDArray[np.bool_], keep_all: bool,
    limit: Any, out: Int64Array,
) -> Any:  # fmt: skip
    """The threat's settled entities in the single search's order (time, depth, index),
    those with `keep` set (all with `keep_all`), up to `limit`: the first `nb` of the
    base's (those within the horizon; less the improved) merged with the improved. Returns
    how many were written to `out`."""
    i = 0
    j = 0
    k = 0
    while k < limit:
        while i < nb and (
            status[base_order[i]] & IMPROVED or not (keep_all or keep[base_order[i]])
        ):
            i += 1
        while j < count and not (keep_all or keep[order[j]]):
            j += 1
        if i >= nb and j >= count:
            break
        if j >= count:
            take_base = True
        elif i >= nb:
            take_base = False
        else:
            b = base_order[i]
            o = order[j]
            bt = base_time[b] + tshift
            take_base = _less(bt, base_depth[b] + shift, b, time[o], depth[o], o)
        if take_base:
            out[k] = base_order[i]
            i += 1
        else:
            out[k] = order[j]
            j += 1
        k += 1
    return k


@njit(cache=True, nogil=True)
def strengths_of(
    nodes: Int64Array, hub: Any, arrays: Any, status: Int8Array, pred: Int64Array,
    base_pred: Int64Array, strength_out: FloatArray, stack: Int64Array, dirty: Int64Array,
    n_dirty: Any,
) -> tuple[FloatArray, Any]:  # fmt: skip
    """`path_strength` of each of `nodes`, and the new dirty count. With a base (`hub` >= 0)
    the hub's strength is first set from the predecessor the threat reaches it from (its
    base predecessor is a mark, not an entity)."""
    indptr, targets, _, strength, _, _, _, _, _, _ = arrays
    if hub >= 0 and not status[hub] & STRONG:
        p = pred[hub]
        at_hub = 1.0
        if p >= 0:
            above, n_dirty = path_strength(
                p, arrays, status, pred, base_pred, strength_out, stack, dirty, n_dirty
            )
            at_hub = above * _step(indptr, targets, strength, p, hub)
        strength_out[hub] = at_hub
        n_dirty = _mark(status, dirty, n_dirty, hub, STRONG)
    out = np.empty(nodes.shape[0])
    for i in range(nodes.shape[0]):
        out[i], n_dirty = path_strength(
            nodes[i], arrays, status, pred, base_pred, strength_out, stack, dirty, n_dirty
        )
    return out, n_dirty


@njit(cache=True, nogil=True)
def chains_of(
    nodes: Int64Array, status: Int8Array, pred: Int64Array, base_pred: Int64Array
) -> tuple[Int64Array, Int64Array]:
    """The chain of each of `nodes` (indices from the source to its predecessor), all in
    one array: chain i is flat[indptr[i]:indptr[i + 1]]."""
    indptr = np.zeros(nodes.shape[0] + 1, dtype=np.int64)
    for i in range(nodes.shape[0]):
        length = 0
        u = _pred_of(nodes[i], status, pred, base_pred)
        while u >= 0:
            length += 1
            u = _pred_of(u, status, pred, base_pred)
        indptr[i + 1] = indptr[i] + length
    flat = np.empty(indptr[-1], dtype=np.int64)
    for i in range(nodes.shape[0]):
        k = indptr[i + 1]
        u = _pred_of(nodes[i], status, pred, base_pred)
        while u >= 0:
            k -= 1
            flat[k] = u
            u = _pred_of(u, status, pred, base_pred)
    return flat, indptr


@njit(cache=True, nogil=True)
def clear(
    status: Int8Array, time: FloatArray, depth: Int64Array, pred: Int64Array,
    dirty: Int64Array, n_dirty: Any,
) -> None:  # fmt: skip
    """Put back what a threat's search set."""
    for i in range(n_dirty):
        v = dirty[i]
        status[v] = 0
        time[v] = np.inf
        depth[v] = -1
        pred[v] = NO_PRED


@dataclass(eq=False)
class Base:
    """The exact cascade of one hub alone, searched from the label a threat reaches it at."""

    hub: int
    time: FloatArray
    depth: Int64Array
    pred: Int64Array
    order: Int64Array
    order_time: FloatArray
    """The time of each entity of `order`."""
    processes: Int64Array
    """The safeguarding processes of `order`, in its order."""
    process_time: FloatArray


@dataclass(eq=False)
class ThreatCascade:
    """One threat's cascade as the analysis reads it."""

    total: int
    processes: Int64Array
    """Safeguarding processes reached, in the single search's order."""
    times: FloatArray
    strengths: FloatArray
    """Per process its path strength (NaN where it was not asked for)."""
    listed: Int64Array
    """The processes (positions in `processes`) whose chains were made."""
    chains: tuple[Int64Array, Int64Array]
    """Per listed process, the indices from the source to its predecessor (`chains_of`)."""
    first: Int64Array
    """The first settled entities (the source first)."""
    first_times: FloatArray
    first_depths: Int64Array
    first_chains: tuple[Int64Array, Int64Array]


class SharedSearch:
    """Searches every threat of a projection, sharing the hubs' cascades (module docstring)."""

    def __init__(self, projection: Projection, horizon: float, min_strength: float,
                 hubs: int = HUBS) -> None:  # fmt: skip
        self.projection = projection
        self.hubs = hubs
        self.graph = graph_of(projection, hubs)
        self.arrays = self.graph.arrays()
        self.horizon = float(horizon)
        self.min_strength = float(min_strength)
        n = projection.node_count
        self.n = n
        self.status = np.zeros(n, dtype=np.int8)
        self.time = np.full(n, np.inf)
        self.depth = np.full(n, -1, dtype=np.int64)
        self.pred = np.full(n, NO_PRED, dtype=np.int64)
        self.heap = np.empty(n, dtype=np.int64)
        self.pos = np.full(n, -1, dtype=np.int64)
        self.order = np.empty(n, dtype=np.int64)
        self.dirty = np.empty(n, dtype=np.int64)
        self.stack = np.empty(n, dtype=np.int64)
        self.strength_out = np.empty(n)
        self.counts = np.zeros(4, dtype=np.int64)
        self.empty_time = np.full(n, np.inf)
        self.empty_depth = np.zeros(n, dtype=np.int64)
        self.empty_pred = np.full(n, NO_PRED, dtype=np.int64)
        self.no_order = np.zeros(0, dtype=np.int64)
        groups = projection.group_size.shape[0]
        self.group_size = projection.group_size
        self.group_count = np.zeros(groups, dtype=np.int32)
        self.group_time = np.full(groups, -np.inf)
        self.group_depth = np.zeros(groups, dtype=np.int64)
        self.group_pred = np.full(groups, -1, dtype=np.int64)

    def _whole(self, seed: int, stop: bool, seed_time: float = 0.0,
               seed_pred: int = NO_PRED) -> tuple[int, int, int, int]:  # fmt: skip
        """`whole_search` from `seed`: (settled, dirty, settled, stop hub or -1)."""
        whole_search(
            self.arrays, self.group_size, self.graph.hub, stop, seed, seed_time, seed_pred,
            self.horizon, self.min_strength, self.status, self.time, self.depth, self.pred,
            self.heap, self.pos, self.order, self.dirty, self.group_count, self.group_time,
            self.group_depth, self.group_pred, self.counts,
        )  # fmt: skip
        count, n_dirty, fresh, stopped = (int(c) for c in self.counts)
        return count, n_dirty, fresh, stopped

    def _search(
        self, base: Base, shift: int, tshift: float, seed: int
    ) -> tuple[int, int, int, int]:
        """`search` of the threat `seed` from `base`: (improved, dirty, new, -1)."""
        search(
            self.arrays, self.graph.hub, False, base.time, base.depth, shift, tshift, seed, 0.0,
            0, NO_PRED, self.horizon, self.min_strength,
            self.status, self.time, self.depth, self.pred, self.heap, self.pos, self.order,
            self.dirty, self.counts,
        )  # fmt: skip
        count, n_dirty, fresh, stopped = (int(c) for c in self.counts)
        return count, n_dirty, fresh, stopped

    def _clear(self, n_dirty: int) -> None:
        clear(self.status, self.time, self.depth, self.pred, self.dirty, n_dirty)

    def key(self, threat: int) -> tuple[int, float, int] | None:
        """(hub, time, depth) of the first hub the threat's search settles, if any."""
        _, n_dirty, _, stopped = self._whole(threat, True)
        key = None
        if stopped >= 0:
            key = (stopped, float(self.time[stopped]), int(self.depth[stopped]))
        self._clear(n_dirty)
        return key

    def base(self, hub: int, time: float) -> Base:
        """The exact cascade from `hub` alone, failing at `time` (depths from 0)."""
        count, n_dirty, _, _ = self._whole(hub, False, time, HUB_PRED)
        order = self.order[:count].copy()
        base_time = np.full(self.n, np.inf)
        base_depth = np.zeros(self.n, dtype=np.int64)
        base_pred = np.full(self.n, NO_PRED, dtype=np.int64)
        base_time[order] = self.time[order]
        base_depth[order] = self.depth[order]
        base_pred[order] = self.pred[order]
        self._clear(n_dirty)
        processes = order[self.graph.safeguarding[order]]
        return Base(
            hub, base_time, base_depth, base_pred, order, base_time[order], processes,
            base_time[processes],
        )  # fmt: skip

    def within(self, times: FloatArray, tshift: float) -> int:
        """How many of a base's entities (of `times`, by time) a threat reaching its hub
        `tshift` later than the base's time reaches within the horizon."""
        k = int(np.searchsorted(times, self.horizon - tshift, side="right"))
        while k > 0 and not times[k - 1] + tshift <= self.horizon:
            k -= 1
        while k < times.shape[0] and times[k] + tshift <= self.horizon:
            k += 1
        return k

    def run(
        self,
        threat: int,
        base: Base | None,
        shift: int,
        tshift: float,
        top: int,
        listed: Listing | None = None,
        every_strength: bool = True,
    ) -> ThreatCascade:
        """The threat's cascade, from `base` (its hub reached at depth `shift`, and
        `tshift` later than the base's time) or alone. The chains are made for the
        processes `listed` picks (all without it); path strengths for every process with
        `every_strength`, else for the listed ones only (NaN for the others)."""
        if base is None:
            count, n_dirty, fresh, _ = self._whole(threat, False)
            none = self.empty_time[:0]
            base = Base(
                -1, self.empty_time, self.empty_depth, self.empty_pred, self.no_order, none,
                self.no_order, none,
            )  # fmt: skip
            total = count
        else:
            count, n_dirty, fresh, _ = self._search(base, shift, tshift, threat)
            settle_touched(
                self.arrays, self.min_strength, self.horizon, base.time, base.depth, base.pred,
                shift, tshift, self.status, self.time, self.depth, self.pred, self.dirty,
                n_dirty,
            )  # fmt: skip
            total = self.within(base.order_time, tshift) + fresh
        try:
            nb = self.within(base.process_time, tshift)
            out = np.empty(nb + count, dtype=np.int64)
            keep = self.graph.safeguarding
            merge: Any = merged
            state = (self.status, self.order, count, self.time, self.depth)
            bases = (base.time, base.depth, shift, tshift)
            found = merge(base.processes, *state, *bases, nb, keep, False, nb + count, out)
            processes = out[:found].copy()
            first = np.empty(top + 1, dtype=np.int64)
            nb = self.within(base.order_time, tshift)
            first = first[: merge(base.order, *state, *bases, nb, keep, True, top + 1, first)]
            chosen = np.arange(found, dtype=np.int64) if listed is None else listed(processes)
            strengths = np.full(found, np.nan)
            strong = slice(None) if every_strength else chosen
            strengths[strong], n_dirty = strengths_of(
                processes[strong], base.hub, self.arrays, self.status, self.pred, base.pred,
                self.strength_out, self.stack, self.dirty, n_dirty,
            )  # fmt: skip
            improved = (self.status[processes] & IMPROVED) != 0
            improved_first = (self.status[first] & IMPROVED) != 0
            return ThreatCascade(
                total=total,
                processes=processes,
                times=np.where(improved, self.time[processes], base.time[processes] + tshift),
                strengths=strengths,
                listed=chosen,
                chains=chains_of(processes[chosen], self.status, self.pred, base.pred),
                first=first,
                first_times=np.where(improved_first, self.time[first], base.time[first] + tshift),
                first_depths=np.where(improved_first, self.depth[first], base.depth[first] + shift),
                first_chains=chains_of(first, self.status, self.pred, base.pred),
            )
        finally:
            self._clear(n_dirty)


def exact_shift(projection: Projection) -> bool:
    """True when every buffer is a whole number of hours (below 2**40): every time a search
    makes is then a whole number below 2**53, which floats add exactly in any order, so one
    base per hub serves every time a threat reaches it (shifted by that time)."""
    b = np.asarray(projection.buffer_hours, dtype=np.float64)
    return bool(np.all(np.isfinite(b)) and np.all(b == np.floor(b)) and np.all(b < 2.0**40))


def plan(
    shared: SharedSearch, threats: list[int]
) -> tuple[dict[tuple[int, float], list[tuple[int, int, float]]], list[int]]:
    """Threats by the base they share, (hub, time of the base), with the depth they reach
    the hub at and how much later than the base's time, where at least MIN_SHARED share a
    base; and the threats to search alone. With whole-hour buffers (`exact_shift`) a hub
    has one base, from time 0; otherwise one per time a threat reaches it first."""
    shift = exact_shift(shared.projection)
    by_key: dict[tuple[int, float], list[tuple[int, int, float]]] = {}
    alone: list[int] = []
    for threat in dict.fromkeys(threats):
        key = shared.key(threat)
        if key is None:
            alone.append(threat)
            continue
        hub, time, depth = key
        base_time = 0.0 if shift else time
        by_key.setdefault((hub, base_time), []).append((threat, depth, time - base_time))
    for lone in [k for k, group in by_key.items() if len(group) < MIN_SHARED]:
        alone.extend(threat for threat, _, _ in by_key.pop(lone))
    return by_key, alone


Route = tuple[tuple[int, float], int, float] | None
"""How a threat is searched: from the base (hub, time of the base), reaching the hub at a
depth and that much later than the base's time; or alone (None)."""


def routes(shared: SharedSearch, threats: list[int]) -> dict[int, Route]:
    """Each threat's `Route`, as `plan` shares them."""
    by_key, alone = plan(shared, threats)
    found: dict[int, Route] = dict.fromkeys(alone)
    for key, group in by_key.items():
        for threat, depth, later in group:
            found[threat] = (key, depth, later)
    return found


def search_routed(
    shared: SharedSearch,
    routed: dict[int, Route],
    top: int,
    bases: Callable[[int, float], Base] | None = None,
    listed: Listing | None = None,
    every_strength: bool = True,
) -> Iterator[tuple[int, ThreatCascade]]:
    """Each threat of `routed` searched by its route (bases from `bases`, searched here
    without it), those of a base one after the other; in no particular order. `listed` and
    `every_strength` as `SharedSearch.run` takes them."""
    by_key: dict[tuple[int, float], list[tuple[int, int, float]]] = {}
    for threat, route in routed.items():
        if route is None:
            yield threat, shared.run(threat, None, 0, 0.0, top, listed, every_strength)
        else:
            by_key.setdefault(route[0], []).append((threat, route[1], route[2]))
    for (hub, time), group in sorted(by_key.items()):
        base = shared.base(hub, time) if bases is None else bases(hub, time)
        for threat, depth, later in group:
            yield threat, shared.run(threat, base, depth, later, top, listed, every_strength)


def search_threats(
    projection: Projection,
    threats: list[int],
    horizon: float,
    min_strength: float,
    top: int,
    hubs: int = HUBS,
) -> Iterator[tuple[int, ThreatCascade]]:
    """Each threat's cascade: those sharing a base one after the other from it, the others
    alone; in no particular order."""
    shared = SharedSearch(projection, horizon, min_strength, hubs)
    yield from search_routed(shared, routes(shared, threats), top)


def base_bytes(base: Base) -> int:
    """What a base holds in memory."""
    arrays = (base.time, base.depth, base.pred, base.order, base.order_time, base.processes,
              base.process_time)  # fmt: skip
    return sum(a.nbytes for a in arrays)


class KeptBases:
    """Bases kept for the pages of an analysis, the least recently used dropped beyond
    `budget` bytes (a base holds three arrays over every entity: about 40 MB at a million
    entities), weakly with the projection they were searched on. A page's threats are
    searched again from their bases, so a page after the first costs no base search while
    its bases are kept."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._kept: weakref.WeakKeyDictionary[Projection, dict[tuple[Any, ...], Base]] = (
            weakref.WeakKeyDictionary()
        )
        self._used: list[tuple[weakref.ref[Projection], tuple[Any, ...], int]] = []
        self._lock = threading.Lock()

    def get(self, shared: SharedSearch, hub: int, time: float) -> Base:
        """The base of `hub` at `time` for `shared`'s projection and options."""
        p = shared.projection
        key = (shared.horizon, shared.min_strength, shared.hubs, hub, time)
        with self._lock:
            base = self._kept.get(p, {}).get(key)
            if base is not None:
                self._touch(p, key)
                return base
        base = shared.base(hub, time)
        with self._lock:
            self._kept.setdefault(p, {})[key] = base
            self._used = [u for u in self._used if not (u[0]() is p and u[1] == key)]
            self._used.append((weakref.ref(p), key, base_bytes(base)))
            self._shrink()
        return base

    def _touch(self, p: Projection, key: tuple[Any, ...]) -> None:
        for i, (ref, k, _) in enumerate(self._used):
            if ref() is p and k == key:
                self._used.append(self._used.pop(i))
                return

    def _shrink(self) -> None:
        """Drop bases gone with their projection, then the oldest beyond the budget."""
        self._used = [u for u in self._used if u[0]() is not None]
        while self._used and sum(u[2] for u in self._used) > self.budget:
            ref, key, _ = self._used.pop(0)
            gone = ref()
            if gone is not None:
                self._kept.get(gone, {}).pop(key, None)

    @property
    def held(self) -> int:
        """Bytes of the bases kept now."""
        with self._lock:
            self._shrink()
            return sum(u[2] for u in self._used)


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel here by analysing a small graph
    where two threats share a hub, so that an image or a server pays the compiling before
    its first risk analysis (the Dockerfile runs it at build time)."""
    from keten.graph.projection import TYPE_CODE, AuditPosition, Entities, RelationTable, assemble
    from keten.schema.markings import Tlp

    one = np.ones(4)
    disrupts, depends = TYPE_CODE["DISRUPTS"], TYPE_CODE["DEPENDS_ON"]
    table = RelationTable(
        np.array([0, 1, 3, 4], dtype=np.int32), np.array([2, 2, 2, 2], dtype=np.int32),
        np.array([disrupts, disrupts, depends, depends], dtype=np.int8), one * 0, one,
        np.array([-1, -1, -1, -1], dtype=np.int32),
    )  # fmt: skip
    ids = ["t1", "t2", "hub", "p", "q"]
    kinds = ["Threat", "Threat", "Resource", "VitalProcess", "VitalProcess"]
    entities = Entities(ids, {i: k for k, i in enumerate(ids)}, kinds, ids)
    p = assemble(0, Tlp.RED, "all", entities, table, [], AuditPosition(0, ""))
    for hubs in (1, 0):  # shared from the hub's base, then alone
        for _ in search_threats(p, [0, 1], 1.0, 0.0, 1, hubs):
            pass
