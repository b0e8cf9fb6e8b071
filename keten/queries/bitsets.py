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
from numba import njit, types
from numba.typed import Dict

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
    LaneArray, LaneArray, LaneArray, npt.NDArray[np.int8], Int64Array, Int64Array,
    Int64Array, Int64Array,
]  # fmt: skip
"""reached, arrived, gain, flags, class_stamp, class_bucket, touched, touched_slots."""
Events = tuple[Int64Array, Int64Array, LaneArray]
"""edge, next (in its bucket's list) and lanes of each pending event."""

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_TWO53 = 9007199254740992.0


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
def _bernoulli(lanes: np.uint64, strength: float, state: UInt64Array) -> np.uint64:
    """The lanes of `lanes` whose draw U < strength, U uniform on multiples of 2**-53.

    Bit k of every lane's U is bit k of one random word; going from the top bit down, a lane
    is decided at the first bit where its U and the strength differ.
    """
    if strength >= 1.0:
        return lanes
    threshold = np.uint64(strength * _TWO53)
    passed = _ZERO
    undecided = lanes
    bit = 52
    while undecided != _ZERO and bit >= 0:
        below = threshold & ((_ONE << np.uint64(bit + 1)) - _ONE)
        if below == _ZERO:
            break  # the strength has no more 1 bits: an undecided U is >= it
        word = _next(state)
        if (threshold >> np.uint64(bit)) & _ONE:
            passed |= undecided & ~word
            undecided &= word
        else:
            undecided &= ~word
        bit -= 1
    return passed


@njit(cache=True, nogil=True)
def _heap_push(heap: Int64Array, size: int, item: int, key: FloatArray) -> None:
    """Add `item` to the binary heap `heap[:size]` ordered by `key[item]`."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if key[heap[parent]] <= key[item]:
            break
        heap[i] = heap[parent]
        i = parent
    heap[i] = item


@njit(cache=True, nogil=True)
def _heap_pop(heap: Int64Array, size: int, key: FloatArray) -> int:
    """Remove and return the item of smallest key from `heap[:size]`."""
    top = heap[0]
    size -= 1
    last = heap[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and key[heap[child + 1]] < key[heap[child]]:
            child += 1
        if key[heap[child]] >= key[last]:
            break
        heap[i] = heap[child]
        i = child
    heap[i] = last
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
def _spread(
    indptr: Int64Array,
    targets: IntArray,
    buffer_hours: FloatArray,
    strength: FloatArray,
    group: IntArray,
    group_indptr: Int64Array,
    group_slot: Int64Array,
    buffer_class: Int64Array,
    start_nodes: Int64Array,
    start_lanes: LaneArray,
    horizon: float,
    min_strength: float,
    sample: bool,
    state: UInt64Array,
    work: Workspace,
    events_in: Events,
) -> tuple[int, int, Events]:
    """One batch: fill `reached` (lanes per node) from the start lanes at time 0.

    The workspace's `reached`, `arrived` (lanes per group member) and `gain` rows and its
    `flags` must come in zero; the nodes and group members set are listed in `touched` and
    `touched_slots`, whose counts are returned, so the caller can read and clear just those.
    The event arrays come in and go back out (grown, if need be) for the next batch: fresh
    arrays of that size each batch would cost more in page faults than the search itself.

    Events (edge, lanes) wait in buckets, one per arrival time; a small heap orders the
    buckets. All events of one time are taken together, gathering in `gain` the lanes each
    node gains then; each such node then passes them on in one go. Arrival times are sums of
    buffers, which repeat, so buckets are few and most edge walks and draws are shared.
    Within one pass the edges of one buffer value (`buffer_class`) go to one bucket, which
    `class_stamp`/`class_bucket` remember, so the time -> bucket map is asked once per value.
    """
    reached, arrived, gain, flags, class_stamp, class_bucket, touched, touched_slots = work
    n = indptr.shape[0] - 1
    event_edge, event_next, event_lanes = events_in
    bucket_time = np.empty(64)
    bucket_head = np.empty(64, dtype=np.int64)
    heap = np.empty(64, dtype=np.int64)
    pending = Dict.empty(key_type=types.float64, value_type=types.int64)
    ready = np.empty(n, dtype=np.int64)
    passing = np.empty(WORDS, dtype=np.uint64)
    lanes = np.empty(WORDS, dtype=np.uint64)
    words = np.empty(WORDS, dtype=np.int64)
    events = buckets = heap_size = n_ready = n_touched = n_slots = 0
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
            new = start_lanes[i, w] & ~reached[s, w]
            reached[s, w] |= new
            gain[s, w] |= new
    now = 0.0
    while True:
        state[1] += _ONE  # a new pass: class_bucket entries of earlier passes are stale
        stamp = np.int64(state[1])
        for r in range(n_ready):
            u = ready[r]
            flags[u] &= ~_READY
            active = 0  # the words with lanes to pass on: often few of them
            for w in range(WORDS):
                passing[w] = gain[u, w]
                gain[u, w] = _ZERO
                lanes[w] = _ZERO
                if passing[w] != _ZERO:
                    words[active] = w
                    active += 1
            for e in range(indptr[u], indptr[u + 1]):
                if strength[e] < min_strength:
                    continue
                arrival = now + buffer_hours[e]
                if arrival > horizon:
                    continue
                v = targets[e]
                some = _ZERO
                for i in range(active):
                    w = words[i]
                    word = passing[w] & ~reached[v, w]
                    if sample and word != _ZERO:
                        word = _bernoulli(word, strength[e], state)
                    lanes[w] = word
                    some |= word
                if some == _ZERO:
                    continue
                k = buffer_class[e]
                if class_stamp[k] != stamp:
                    class_stamp[k] = stamp
                    b = pending.get(arrival, -1)
                    if b < 0:
                        if buckets == bucket_time.shape[0]:
                            bucket_time = _grow_float(bucket_time, buckets)
                            bucket_head = _grow_int(bucket_head, buckets)
                            heap = _grow_int(heap, heap_size)
                        b = buckets
                        buckets += 1
                        bucket_time[b] = arrival
                        bucket_head[b] = -1
                        pending[arrival] = b
                        _heap_push(heap, heap_size, b, bucket_time)
                        heap_size += 1
                    class_bucket[k] = b
                b = class_bucket[k]
                if events == event_edge.shape[0]:
                    event_edge = _grow_int(event_edge, events)
                    event_next = _grow_int(event_next, events)
                    event_lanes = _grow_rows(event_lanes, events)
                event_edge[events] = e
                event_lanes[events] = lanes
                event_next[events] = bucket_head[b]
                bucket_head[b] = events
                events += 1
        n_ready = 0
        if heap_size == 0:
            break
        b = _heap_pop(heap, heap_size, bucket_time)
        heap_size -= 1
        now = bucket_time[b]
        del pending[now]
        x = bucket_head[b]
        while x >= 0:
            e = event_edge[x]
            v = targets[e]
            g = group[e]
            if g >= 0:
                slot = group_slot[e]
                some = _ZERO
                for w in range(WORDS):
                    some |= arrived[slot, w]
                    arrived[slot, w] |= event_lanes[x, w]
                if some == _ZERO:
                    touched_slots[n_slots] = slot
                    n_slots += 1
                for w in range(WORDS):
                    word = _ALL
                    for j in range(group_indptr[g], group_indptr[g + 1]):
                        word &= arrived[j, w]
                    lanes[w] = word & ~reached[v, w]
            else:
                for w in range(WORDS):
                    lanes[w] = event_lanes[x, w] & ~reached[v, w]
            x = event_next[x]
            some = _ZERO
            for w in range(WORDS):
                some |= lanes[w]
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
    return n_touched, n_slots, (event_edge, event_next, event_lanes)


@njit(cache=True, nogil=True)
def _events(edges: int) -> Events:
    capacity = max(64, edges // 8)
    return (
        np.empty(capacity, dtype=np.int64),
        np.empty(capacity, dtype=np.int64),
        np.empty((capacity, WORDS), dtype=np.uint64),
    )


@njit(cache=True, nogil=True)
def _workspace(n: int, members: int, classes: int) -> Workspace:
    """Zeroed state for batches on a graph of `n` nodes (see `_spread`)."""
    return (
        np.zeros((n, WORDS), dtype=np.uint64),
        np.zeros((members, WORDS), dtype=np.uint64),
        np.zeros((n, WORDS), dtype=np.uint64),
        np.zeros(n, dtype=np.int8),
        np.full(classes, -1, dtype=np.int64),
        np.empty(classes, dtype=np.int64),
        np.empty(n, dtype=np.int64),
        np.empty(members, dtype=np.int64),
    )


@njit(cache=True, nogil=True)
def _clear_slots(work: Workspace, n_slots: int) -> None:
    arrived, touched_slots = work[1], work[7]
    for i in range(n_slots):
        arrived[touched_slots[i]] = _ZERO


@njit(cache=True, nogil=True)
def propagation_hits(
    indptr: Int64Array,
    targets: IntArray,
    buffer_hours: FloatArray,
    strength: FloatArray,
    group: IntArray,
    group_indptr: Int64Array,
    group_slot: Int64Array,
    buffer_class: Int64Array,
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
    n = indptr.shape[0] - 1
    classes = buffer_class.max() + 1 if buffer_class.shape[0] else 0
    work = _workspace(n, group_indptr[-1], classes)
    reached, flags, touched = work[0], work[3], work[6]
    events = _events(targets.shape[0])
    state = np.zeros(2, dtype=np.uint64)  # the random stream, and the count of passes
    for b in range(first_batch, last_batch):
        width = min(LANES, runs - b * LANES)
        start_lanes = np.zeros((sources.shape[0], WORDS), dtype=np.uint64)
        for lane in range(width):
            start_lanes[:, lane // 64] |= _ONE << np.uint64(lane % 64)
        state[0] = _mix(np.uint64(seed) * _GOLDEN + np.uint64(b))
        n_touched, n_slots, events = _spread(
            indptr, targets, buffer_hours, strength, group, group_indptr, group_slot,
            buffer_class, sources, start_lanes, horizon, min_strength, True, state, work,
            events,
        )  # fmt: skip
        for i in range(n_touched):
            v = touched[i]
            for w in range(WORDS):
                hits[v] += popcount(reached[v, w])
                reached[v, w] = _ZERO
            flags[v] = 0
        _clear_slots(work, n_slots)


class SearchArrays(NamedTuple):
    """What the bit-parallel search needs beyond the projection's own arrays."""

    group_indptr: Int64Array
    """Members of redundancy group g are the slots group_indptr[g] .. group_indptr[g + 1] - 1
    (the member edges sorted by group)."""
    group_slot: Int64Array
    """Per edge, its slot among the group members, or -1 when it is in no group."""
    buffer_class: Int64Array
    """Per edge, the rank of its buffer among the distinct buffers of the graph."""


def search_arrays(projection: Projection) -> SearchArrays:
    """The `SearchArrays` of `projection`, made on first use and kept while it lives."""
    cached = _SEARCH_ARRAYS.get(projection)
    if cached is not None:
        return cached
    group = projection.group
    members = np.flatnonzero(group >= 0).astype(np.int64)
    members = members[np.argsort(group[members], kind="stable")]
    indptr = np.zeros(projection.group_size.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(group[members], minlength=indptr.shape[0] - 1), out=indptr[1:])
    slot = np.full(group.shape[0], -1, dtype=np.int64)
    slot[members] = np.arange(members.shape[0])
    _, buffer_class = np.unique(projection.buffer_hours, return_inverse=True)
    arrays = SearchArrays(indptr, slot, buffer_class.astype(np.int64).reshape(-1))
    _SEARCH_ARRAYS[projection] = arrays
    return arrays


_SEARCH_ARRAYS: weakref.WeakKeyDictionary[Projection, SearchArrays] = weakref.WeakKeyDictionary()
