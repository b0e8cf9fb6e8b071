"""Bit-parallel cascades: hundreds of cascades at once, one per bit ("lane") of a node's words.

A Monte Carlo run of propagation is one cascade; thousands of them from the same sources
mostly walk the same edges at the same times. Here each node holds WORDS uint64 words whose
bit `i` says "lane `i` has reached this node", and one search carries all lanes along each
edge at once, so one walk over an edge serves many runs.

The semantics are those of the single-run search of keten.queries.kernel, for which nodes
are reached within the horizon (the order and labels, which only the cascade answer shows,
are not kept):

* an edge passes a lane's disruption at `time + buffer_hours`; with `sample` set it passes
  it only with probability `strength`, one independent draw per edge per lane, which is what
  one Monte Carlo run of `propagation` draws;
* edges below `min_strength` never pass;
* the members of a redundancy group form one requirement that fails, in a lane, only once
  every member has passed that lane, at the time of the member that passed last;
* a node is reached in a lane when its first requirement fails there within the horizon.

Events are handled in order of time, so the first time a lane reaches a node is its
earliest, and the last member of a group to arrive is the latest. A node gaining lanes
passes on just those lanes, so each edge carries (and draws for) each lane at most once.

The 64 Bernoulli draws of an edge for one word come from comparing 64 uniform numbers with
the strength bit by bit from the top, one random word per bit, stopping as soon as every lane
is decided (about log2(64) + 2 words; lanes already reached are not drawn for). Random words
come from splitmix64 (Steele, Lea and Flood 2014), seeded per batch, so a batch's result
depends on the seed and the batch number only and batches can run on several threads.

>>> import numpy as np
>>> popcount(np.uint64(0b1011))
3
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

from keten.graph.projection import FloatArray, Int64Array, IntArray, Projection

WORDS = 8
"""Words per node and event: one batch carries 64 * WORDS cascades. Memory is read a cache
line at a time, so four words cost about what one does, and lanes that arrive at the same
time share one walk of the edges."""
LANES = 64 * WORDS
"""Cascades carried by one batch."""
UInt64Array = npt.NDArray[np.uint64]
LaneArray = npt.NDArray[np.uint64]
"""Rows of WORDS words, one row per node, group member or event."""
Workspace = tuple[
    LaneArray, LaneArray, LaneArray, npt.NDArray[np.int8], Int64Array, Int64Array, Int64Array
]
"""reached, arrived, gain, flags, touched, touched_slots, ready."""
Records = tuple[Int64Array, LaneArray, Int64Array, FloatArray, Int64Array]
"""record_node, record_lanes, pass_first, heap_key, heap_item (see `_spread`)."""
SearchArraysTuple = tuple[
    Int64Array, Int64Array, Int64Array, FloatArray, UInt64Array, IntArray, FloatArray,
    UInt64Array, IntArray, Int64Array, Int64Array,
]  # fmt: skip
"""The fields of `SearchArrays`, in order."""

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_TWO53 = 9007199254740992.0
CERTAIN = np.uint64(1) << np.uint64(53)
"""The threshold of strength 1: every draw passes."""


@njit(cache=True, nogil=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _next(state: UInt64Array) -> np.uint64:
    """The next splitmix64 word; `state` is a one-element array."""
    state[0] += _GOLDEN
    return _mix(state[0])


@njit(cache=True, nogil=True)
def popcount(word: np.uint64) -> int:
    """Number of set bits (lanes) in a word."""
    word = word - ((word >> np.uint64(1)) & np.uint64(0x5555555555555555))
    word = (word & np.uint64(0x3333333333333333)) + (
        (word >> np.uint64(2)) & np.uint64(0x3333333333333333)
    )
    word = (word + (word >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return int((word * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, nogil=True, inline="always")
def _bernoulli(lanes: np.uint64, threshold: np.uint64, state: UInt64Array) -> np.uint64:
    """The lanes of `lanes` whose draw U < strength, where `threshold` = strength * 2**53 and
    U is uniform on the integers below 2**53 (CERTAIN when the strength is 1).

    Bit k of every lane's U is bit k of one random word; going from the top bit down, a lane
    is decided at the first bit where its U and the threshold differ.
    """
    if threshold == CERTAIN:
        return lanes
    passed = _ZERO
    undecided = lanes
    bit = 52
    while undecided != _ZERO and bit >= 0:
        if threshold & ((_ONE << np.uint64(bit + 1)) - _ONE) == _ZERO:
            break  # the threshold has no more 1 bits: an undecided U is >= it
        word = _next(state)
        if (threshold >> np.uint64(bit)) & _ONE:
            passed |= undecided & ~word
            undecided &= word
        else:
            undecided &= ~word
        bit -= 1
    return passed


@njit(cache=True, nogil=True, inline="always")
def _before(key: FloatArray, item: Int64Array, a: int, b: int) -> bool:
    """Heap order: by time, then by item, so that equal times leave in a fixed order."""
    if key[a] != key[b]:
        return bool(key[a] < key[b])
    return bool(item[a] < item[b])


@njit(cache=True, nogil=True)
def _heap_push(key: FloatArray, item: Int64Array, size: int, time: float, what: int) -> None:
    """Add (`time`, `what`) to the binary heap held in `key[:size]`, `item[:size]`."""
    i = size
    key[i] = time
    item[i] = what
    while i > 0:
        parent = (i - 1) >> 1
        if not _before(key, item, i, parent):
            break
        key[i], key[parent] = key[parent], key[i]
        item[i], item[parent] = item[parent], item[i]
        i = parent


@njit(cache=True, nogil=True)
def _heap_pop(key: FloatArray, item: Int64Array, size: int) -> int:
    """Remove the smallest entry of the heap of `size` entries and return its item."""
    top = item[0]
    size -= 1
    key[0] = key[size]
    item[0] = item[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and _before(key, item, child + 1, child):
            child += 1
        if not _before(key, item, child, i):
            break
        key[i], key[child] = key[child], key[i]
        item[i], item[child] = item[child], item[i]
        i = child
    return top


@njit(cache=True, nogil=True)
def _grow_int(a: Int64Array, size: int) -> Int64Array:
    grown = np.empty(2 * a.shape[0], dtype=a.dtype)
    grown[:size] = a[:size]
    return grown


@njit(cache=True, nogil=True)
def _grow_float(a: FloatArray, size: int) -> FloatArray:
    grown = np.empty(2 * a.shape[0], dtype=a.dtype)
    grown[:size] = a[:size]
    return grown


@njit(cache=True, nogil=True)
def _grow_rows(a: LaneArray, size: int) -> LaneArray:
    grown = np.empty((2 * a.shape[0], a.shape[1]), dtype=a.dtype)
    grown[:size] = a[:size]
    return grown


_TOUCHED = np.int8(1)
_READY = np.int8(2)


@njit(cache=True, nogil=True)
def _run_of(node_runs: Int64Array, run_class: Int64Array, u: int, k: int) -> int:
    """The run of node `u`'s edges whose buffer has class `k`, or -1 (runs sorted by class)."""
    for r in range(node_runs[u], node_runs[u + 1]):
        c = run_class[r]
        if c >= k:
            return r if c == k else -1
    return -1


@njit(cache=True, nogil=True)
def _group_lanes(
    arrived: LaneArray,
    group_indptr: Int64Array,
    g: int,
    slot: int,
    lanes: UInt64Array,
    reached_v: UInt64Array,
) -> np.uint64:
    """Record `lanes` as arrived at member `slot`; keep in `lanes` those that complete group
    `g` (every member arrived) and are new at its head. Returns their union."""
    some = _ZERO
    for w in range(WORDS):
        arrived[slot, w] |= lanes[w]
        word = _ALL
        for j in range(group_indptr[g], group_indptr[g + 1]):
            word &= arrived[j, w]
        lanes[w] = word & ~reached_v[w]
        some |= lanes[w]
    return some


@njit(cache=True, nogil=True)
def _spread(
    arrays: SearchArraysTuple,
    start_nodes: Int64Array,
    start_lanes: UInt64Array,
    horizon: float,
    min_strength: float,
    sample: bool,
    state: UInt64Array,
    work: Workspace,
    records: Records,
) -> tuple[int, int, Records]:
    """One batch: fill `reached` (lanes per node) from the start lanes at time 0.

    The workspace's `reached`, `arrived` (lanes per group member) and `gain` rows and its
    `flags` must come in zero; the nodes and group members set are listed in `touched` and
    `touched_slots`, whose counts are returned, so the caller can read and clear just those.

    A *pass* takes the nodes that gained lanes at one time and writes one *record* per node:
    the node and the lanes it gained. The edges of a node are sorted by buffer, in runs of
    one buffer value (one *class*), so the records of pass p reach along class k at the one
    time t_p + buffer_k: a heap orders these (pass, class) pairs by that time, and taking one
    walks the class-k run of each record's node. Nothing is stored per edge, a node's edges
    are walked once per time at which it gains lanes, and each edge draws (for the lanes
    still unreached at its head) only then, so each edge draws for each lane at most once.
    The record arrays come in and go back out (grown, if need be) for the next batch.
    """
    (
        node_runs, run_class, run_start, class_buffer, node_classes, head, strength,
        threshold, group, slot_of, group_indptr,
    ) = arrays  # fmt: skip
    reached, arrived, gain, flags, touched, touched_slots, ready = work
    record_node, record_lanes, pass_first, heap_key, heap_item = records
    classes = class_buffer.shape[0]
    lanes = np.empty(WORDS, dtype=np.uint64)
    n_ready = n_touched = n_slots = n_records = passes = heap_size = 0
    for i in range(start_nodes.shape[0]):
        s = start_nodes[i]
        if not flags[s] & _TOUCHED:
            touched[n_touched] = s
            n_touched += 1
        if not flags[s] & _READY:
            ready[n_ready] = s
            n_ready += 1
        flags[s] |= _TOUCHED | _READY
        for w in range(WORDS):
            new = start_lanes[w] & ~reached[s, w]
            reached[s, w] |= new
            gain[s, w] |= new
    now = 0.0
    while True:
        if n_ready:
            if passes + 2 > pass_first.shape[0]:
                pass_first = _grow_int(pass_first, passes + 1)
            if n_records + n_ready > record_node.shape[0]:
                record_node = _grow_int(record_node, n_records)
                record_lanes = _grow_rows(record_lanes, n_records)
            pass_first[passes] = n_records
            present = _ZERO
            for r in range(n_ready):
                u = ready[r]
                flags[u] &= ~_READY
                record_node[n_records] = u
                for w in range(WORDS):
                    record_lanes[n_records, w] = gain[u, w]
                    gain[u, w] = _ZERO
                n_records += 1
                present |= node_classes[u]
            pass_first[passes + 1] = n_records
            n_ready = 0
            for k in range(classes):
                arrival = now + class_buffer[k]
                if arrival > horizon:
                    break  # classes go by increasing buffer
                if present & (_ONE << np.uint64(min(k, 63))):
                    if heap_size == heap_key.shape[0]:
                        heap_key = _grow_float(heap_key, heap_size)
                        heap_item = _grow_int(heap_item, heap_size)
                    _heap_push(heap_key, heap_item, heap_size, arrival, passes * classes + k)
                    heap_size += 1
            passes += 1
        if heap_size == 0:
            break
        now = heap_key[0]
        while heap_size > 0 and heap_key[0] == now:
            what = _heap_pop(heap_key, heap_item, heap_size)
            heap_size -= 1
            p, k = what // classes, what % classes
            for rec in range(pass_first[p], pass_first[p + 1]):
                run = _run_of(node_runs, run_class, record_node[rec], k)
                if run < 0:
                    continue
                for e in range(run_start[run], run_start[run + 1]):
                    if strength[e] < min_strength:
                        continue
                    v = head[e]
                    some = _ZERO
                    for w in range(WORDS):
                        word = record_lanes[rec, w] & ~reached[v, w]
                        if sample and word != _ZERO:
                            word = _bernoulli(word, threshold[e], state)
                        lanes[w] = word
                        some |= word
                    if some == _ZERO:
                        continue
                    slot = slot_of[e]
                    if slot >= 0:
                        fresh = True
                        for w in range(WORDS):
                            if arrived[slot, w] != _ZERO:
                                fresh = False
                                break
                        if fresh:
                            touched_slots[n_slots] = slot
                            n_slots += 1
                        some = _group_lanes(arrived, group_indptr, group[e], slot, lanes, reached[v])
                        if some == _ZERO:
                            continue
                    if not flags[v] & _TOUCHED:
                        touched[n_touched] = v
                        n_touched += 1
                    if not flags[v] & _READY:
                        ready[n_ready] = v
                        n_ready += 1
                    flags[v] |= _TOUCHED | _READY
                    for w in range(WORDS):
                        reached[v, w] |= lanes[w]
                        gain[v, w] |= lanes[w]
    return n_touched, n_slots, (record_node, record_lanes, pass_first, heap_key, heap_item)


@njit(cache=True, nogil=True)
def _records(n: int) -> Records:
    return (
        np.empty(max(64, n), dtype=np.int64),
        np.empty((max(64, n), WORDS), dtype=np.uint64),
        np.empty(64, dtype=np.int64),
        np.empty(64),
        np.empty(64, dtype=np.int64),
    )


@njit(cache=True, nogil=True)
def _workspace(n: int, members: int) -> Workspace:
    """Zeroed state for batches on a graph of `n` nodes (see `_spread`)."""
    return (
        np.zeros((n, WORDS), dtype=np.uint64),
        np.zeros((members, WORDS), dtype=np.uint64),
        np.zeros((n, WORDS), dtype=np.uint64),
        np.zeros(n, dtype=np.int8),
        np.empty(n, dtype=np.int64),
        np.empty(members, dtype=np.int64),
        np.empty(n, dtype=np.int64),
    )


@njit(cache=True, nogil=True)
def propagation_hits(
    arrays: SearchArraysTuple,
    sources: Int64Array,
    horizon: float,
    min_strength: float,
    runs: int,
    seed: int,
    first_batch: int,
    last_batch: int,
    hits: Int64Array,
) -> None:
    """Add to `hits` how many runs of batches [first_batch, last_batch) reach each node.

    Batch b holds runs LANES * b .. LANES * (b + 1) - 1 (fewer in the last batch) and draws
    from its own stream, seeded by (seed, b): the answer does not depend on how batches are
    shared out.
    """
    n = arrays[0].shape[0] - 1
    work = _workspace(n, arrays[-1][-1])
    reached, arrived, flags, touched, touched_slots = work[0], work[1], work[3], work[4], work[5]
    records = _records(n)
    state = np.zeros(1, dtype=np.uint64)  # the random stream
    for b in range(first_batch, last_batch):
        width = min(LANES, runs - b * LANES)
        start_lanes = np.zeros(WORDS, dtype=np.uint64)
        for lane in range(width):
            start_lanes[lane // 64] |= _ONE << np.uint64(lane % 64)
        state[0] = _mix(np.uint64(seed) * _GOLDEN + np.uint64(b))
        n_touched, n_slots, records = _spread(
            arrays, sources, start_lanes, horizon, min_strength, True, state, work, records
        )
        for i in range(n_touched):
            v = touched[i]
            for w in range(WORDS):
                hits[v] += popcount(reached[v, w])
                reached[v, w] = _ZERO
            flags[v] = 0
        for i in range(n_slots):
            arrived[touched_slots[i]] = _ZERO


class SearchArrays(NamedTuple):
    """The propagation graph laid out for the bit-parallel search (see `_spread`).

    Each node's edges are sorted by buffer and cut into runs of one buffer value (a class):
    node u's runs are node_runs[u] .. node_runs[u + 1] - 1, run r's edges (in the sorted
    order every per-edge array here uses) are run_start[r] .. run_start[r + 1] - 1.
    """

    node_runs: Int64Array
    run_class: Int64Array
    run_start: Int64Array
    class_buffer: FloatArray
    """Buffer hours of each class, increasing."""
    node_classes: UInt64Array
    """Per node, bit min(k, 63) set when it has a run of class k (which classes to queue)."""
    head: IntArray
    strength: FloatArray
    threshold: UInt64Array
    """strength * 2**53, the integer the random draws are compared with."""
    group: IntArray
    slot: Int64Array
    """Per edge, its slot among the group members, or -1 when it is in no group."""
    group_indptr: Int64Array
    """Members of redundancy group g are the slots group_indptr[g] .. group_indptr[g + 1] - 1."""


def search_arrays(projection: Projection) -> SearchArrays:
    """The `SearchArrays` of `projection`, made on first use and kept while it lives."""
    cached = _SEARCH_ARRAYS.get(projection)
    if cached is not None:
        return cached
    arrays = lay_out(projection.indptr, projection.targets, projection.buffer_hours,
                     projection.strength, projection.group, projection.group_size.shape[0])
    _SEARCH_ARRAYS[projection] = arrays
    return arrays


def lay_out(
    indptr: Int64Array,
    targets: IntArray,
    buffer_hours: FloatArray,
    strength: FloatArray,
    group: IntArray,
    groups: int,
) -> SearchArrays:
    """`SearchArrays` from the CSR arrays of a projection (numpy sorts, no Python loops)."""
    n = indptr.shape[0] - 1
    tails = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    class_buffer, buffer_class = np.unique(buffer_hours, return_inverse=True)
    buffer_class = buffer_class.astype(np.int64).reshape(-1)
    order = np.lexsort((buffer_class, tails))
    tails, buffer_class = tails[order], buffer_class[order]
    new_run = np.ones(order.shape[0], dtype=bool)
    new_run[1:] = (tails[1:] != tails[:-1]) | (buffer_class[1:] != buffer_class[:-1])
    firsts = np.flatnonzero(new_run)
    run_start = np.append(firsts, order.shape[0]).astype(np.int64)
    node_runs = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tails[firsts], minlength=n), out=node_runs[1:])
    node_classes = np.zeros(n, dtype=np.uint64)
    bits = np.left_shift(np.uint64(1), np.minimum(buffer_class[firsts], 63).astype(np.uint64))
    np.bitwise_or.at(node_classes, tails[firsts], bits)
    sorted_strength = np.ascontiguousarray(strength[order], dtype=np.float64)
    threshold = (np.clip(sorted_strength, 0.0, 1.0) * _TWO53).astype(np.uint64)
    sorted_group = np.ascontiguousarray(group[order], dtype=np.int32)
    members = np.flatnonzero(sorted_group >= 0).astype(np.int64)
    members = members[np.argsort(sorted_group[members], kind="stable")]
    group_indptr = np.zeros(groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(sorted_group[members], minlength=groups), out=group_indptr[1:])
    slot = np.full(order.shape[0], -1, dtype=np.int64)
    slot[members] = np.arange(members.shape[0])
    return SearchArrays(
        node_runs, buffer_class[firsts], run_start, class_buffer.astype(np.float64),
        node_classes, np.ascontiguousarray(targets[order], dtype=np.int32), sorted_strength,
        threshold, sorted_group, slot, group_indptr,
    )  # fmt: skip


_SEARCH_ARRAYS: weakref.WeakKeyDictionary[Projection, SearchArrays] = weakref.WeakKeyDictionary()
