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

What it costs: with sampling, a node gains its lanes at several times (about eight per
batch of 512 at 100k entities / 1M relations from the power hub, most of them carrying a
handful of stragglers), and each time its edges are walked again; a walk costs a cache
miss per edge (the head's row, and a group member's rows), not the word operations. So
nothing is stored per edge visit (a *record* per node and time, see `_spread`), edges are
laid out by node and buffer (`SearchArrays`), and the rows a few edges ahead are
prefetched. Measured on that graph (busy 2-core machine, CPU time per batch of 512): 4.7 s
with one stored event per edge, 3.2 s now; the walks themselves (about 8M edge visits per
batch) are what is left.

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

import threading
import weakref
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from keten.graph.projection import (
    BEFORE_REFRESH,
    FloatArray,
    Int64Array,
    IntArray,
    Projection,
    indptr_of,
    make_room,
)
from keten.graph.projection_splice import let_go

WORDS = 16
"""Words per node and event: one batch carries 64 * WORDS cascades. Memory is read a cache
line at a time, so several words cost about what one does, and lanes that arrive at the same
time share one walk of the edges. 10,000 runs from the power hub of 100k entities / 1M
relations took 38, 34 and 31 CPU seconds with 8, 16 and 32 words (2026-12-02); 16 cuts them
into ten batches, which two cores share evenly, at 128 bytes per entity and row."""
LANES = 64 * WORDS
"""Cascades carried by one batch."""
UInt64Array = npt.NDArray[np.uint64]
LaneArray = npt.NDArray[np.uint64]
"""Rows of WORDS words, one row per node, group member or event."""
Workspace = tuple[LaneArray, LaneArray, LaneArray, npt.NDArray[np.int8], Int64Array, Int64Array]
"""reached, arrived, gain, flags, touched, ready."""
Records = tuple[IntArray, LaneArray, IntArray, UInt64Array, Int64Array, FloatArray, Int64Array]
"""record_node, record_lanes, record_run, record_classes, pass_first, heap_key, heap_item."""
SearchArraysTuple = tuple[
    Int64Array, IntArray, IntArray, FloatArray, UInt64Array, IntArray, FloatArray,
    IntArray, IntArray, Int64Array, Int64Array,
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
INT32_MAX = np.iinfo(np.int32).max


@njit(cache=True, nogil=True, inline="always")
def threshold_of(strength: float) -> np.uint64:
    """strength * 2**53 as the integer the random draws are compared with (strength clipped
    to [0, 1]; the product is exact, the conversion truncates as numpy's `astype` does).
    Computed at each draw rather than kept per edge: 8 bytes per edge, 80 MB at 10M."""
    return np.uint64(min(max(strength, 0.0), 1.0) * _TWO53)


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


def _prefetch_row(typingctx: object, rows: types.Array, row: types.Integer) -> tuple[Any, Any]:
    """Ask the CPU to start loading `rows[row]` into cache (x86 `prefetcht0`), so that the
    search can look a few edges ahead: a miss costs ~100 ns and most visits take one."""
    sig = types.void(rows, row)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array_type, row_type = signature.args
        array = context.make_array(array_type)(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        index = [context.cast(builder, args[1], row_type, types.intp)]
        index += [zero] * (array_type.ndim - 1)
        shape = cgutils.unpack_tuple(builder, array.shape)
        strides = cgutils.unpack_tuple(builder, array.strides)
        pointer = cgutils.get_item_pointer2(
            context, builder, array.data, shape, strides, array_type.layout, index,
            wraparound=False, boundscheck=False,
        )  # fmt: skip
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32])
        prefetch = cgutils.get_or_insert_function(
            builder.module, function_type, "llvm.prefetch.p0i8"
        )
        builder.call(prefetch, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


prefetch_row: Any = intrinsic(_prefetch_row)


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
def _grow_int(a: npt.NDArray[Any], size: int, length: int = 0) -> npt.NDArray[Any]:
    """`a` `length` long (by default twice as long), its first `size` items kept (int32 or
    int64)."""
    grown = np.empty(length if length > 0 else 2 * a.shape[0], dtype=a.dtype)
    grown[:size] = a[:size]
    return grown


@njit(cache=True, nogil=True)
def _grow_uint(a: UInt64Array, size: int, length: int) -> UInt64Array:
    grown = np.empty(length, dtype=a.dtype)
    grown[:size] = a[:size]
    return grown


@njit(cache=True, nogil=True)
def _grow_float(a: FloatArray, size: int) -> FloatArray:
    grown = np.empty(2 * a.shape[0], dtype=a.dtype)
    grown[:size] = a[:size]
    return grown


@njit(cache=True, nogil=True)
def _grow_rows(a: LaneArray, size: int, length: int) -> LaneArray:
    grown = np.empty((length, a.shape[1]), dtype=a.dtype)
    grown[:size] = a[:size]
    return grown


@njit(cache=True, nogil=True)
def records_length(length: int, needed: int) -> int:
    """Room for records grown past `length` to hold `needed`: half as much again, not
    twice. A batch of 100 runs from the power hub at 1M entities / 10M relations writes 4.1
    million records of 32 bytes (counted 2026-12-03), starting from room for a million;
    while they grow the old and the new arrays are both held: at most 384 MB when doubling
    (4M to 8M rows), 270 MB here (3.4M to 5.1M), for a few hundred MB more copying.

    >>> records_length(1_000_000, 1_000_064), records_length(64, 200)
    (1500000, 200)
    """
    return max(needed, length + length // 2)


_TOUCHED = np.int8(1)
_READY = np.int8(2)


@njit(cache=True, nogil=True, inline="always")
def _run_of(
    run_class: IntArray, first: int, last: int, present: np.uint64, k: int, dense: bool
) -> int:
    """The run among `first` .. `last` - 1 (one node's, sorted by class) of class `k`, or -1.

    `present` has bit k set when the node has such a run; with at most 64 classes (`dense`)
    the run is found by counting the classes below k, without reading `run_class`.
    """
    if dense:
        bit = _ONE << np.uint64(k)
        if not present & bit:
            return -1
        return first + popcount(present & (bit - _ONE))
    for r in range(first, last):
        c = run_class[r]
        if c >= k:
            return r if c == k else -1
    return -1


@njit(cache=True, nogil=True, inline="always")
def _group_lanes(
    arrived: LaneArray,
    group_indptr: Int64Array,
    g: int,
    slot: int,
    lanes: UInt64Array,
    reached_v: UInt64Array,
) -> np.uint64:
    """Record `lanes` as arrived at member `slot`; keep in `lanes` those that complete group
    `g` (every member arrived) and are new at its head. Returns their union.

    Only words with arriving lanes can change (most arrivals carry a few lanes, in one or two
    of the words), so only those are read from the members' rows.
    """
    some = _ZERO
    for w in range(lanes.shape[0]):
        if lanes[w] == _ZERO:
            continue
        arrived[slot, w] |= lanes[w]
        word = lanes[w] & ~reached_v[w]
        for j in range(group_indptr[g], group_indptr[g + 1]):
            word &= arrived[j, w]
        lanes[w] = word
        some |= word
    return some


@njit(cache=True, nogil=True, inline="always")
def _enlist(
    flags: npt.NDArray[np.int8], flag: np.int8, items: Int64Array, count: int, v: int
) -> int:
    """Append `v` to `items[:count]` unless `flag` says it is there already; the new count."""
    if not flags[v] & flag:
        items[count] = v
        count += 1
        flags[v] |= flag
    return count


LOOKAHEAD = 8
"""Edges (and records) ahead whose state the search asks the CPU to fetch early."""


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
) -> tuple[int, Records]:
    """One batch: fill `reached` (lanes per node) from the start lanes at time 0.

    The workspace's `reached`, `arrived` (lanes per group member) and `gain` rows and its
    `flags` must come in zero; the nodes whose rows (or whose group members' rows) were set
    are listed in `touched`, whose count is returned, so the caller can clear just those.

    A *pass* takes the nodes that gained lanes at one time and writes one *record* per node:
    the node and the lanes it gained. The edges of a node are sorted by buffer, in runs of
    one buffer value (one *class*), so the records of pass p reach along class k at the one
    time t_p + buffer_k: a heap orders these (pass, class) pairs by that time, and taking one
    walks the class-k run of each record's node. Nothing is stored per edge, a node's edges
    are walked once per time at which it gains lanes, and each edge draws (for the lanes
    still unreached at its head) only then, so each edge draws for each lane at most once.
    The record arrays come in and go back out (grown, if need be) for the next batch.

    Nearly every edge visit reads the head's row and, for a group member, the group's rows
    at a random place in memory, so the loops prefetch those LOOKAHEAD edges ahead.
    """
    (
        node_runs, run_class, run_start, class_buffer, node_classes, head, strength,
        group, slot_of, group_indptr, _,
    ) = arrays  # fmt: skip
    reached, arrived, gain, flags, touched, ready = work
    record_node, record_lanes, record_run, record_classes, pass_first, heap_key, heap_item = records
    classes = class_buffer.shape[0]
    dense = classes <= 64
    words = reached.shape[1]
    lanes = np.empty(words, dtype=np.uint64)
    n_ready = n_touched = n_records = passes = heap_size = 0
    for i in range(start_nodes.shape[0]):
        s = start_nodes[i]
        n_touched = _enlist(flags, _TOUCHED, touched, n_touched, s)
        n_ready = _enlist(flags, _READY, ready, n_ready, s)
        for w in range(words):
            new = start_lanes[w] & ~reached[s, w]
            reached[s, w] |= new
            gain[s, w] |= new
    now = 0.0
    while True:
        if n_ready:
            if passes + 2 > pass_first.shape[0]:
                pass_first = _grow_int(pass_first, passes + 1)
            if n_records + n_ready > record_node.shape[0]:
                length = records_length(record_node.shape[0], n_records + n_ready)
                record_node = _grow_int(record_node, n_records, length)
                record_run = _grow_int(record_run, n_records, length)
                record_classes = _grow_uint(record_classes, n_records, length)
                record_lanes = _grow_rows(record_lanes, n_records, length)
            pass_first[passes] = n_records
            present = _ZERO
            for r in range(n_ready):
                u = ready[r]
                flags[u] &= ~_READY
                record_node[n_records] = u
                record_run[n_records] = node_runs[u]
                record_classes[n_records] = node_classes[u]
                for w in range(words):
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
            last_record = pass_first[p + 1]
            for rec in range(pass_first[p], last_record):
                if rec + LOOKAHEAD < last_record:
                    ahead = _run_of(
                        run_class, record_run[rec + LOOKAHEAD], record_run[rec + LOOKAHEAD],
                        record_classes[rec + LOOKAHEAD], k, dense,
                    )  # fmt: skip
                    if ahead >= 0:
                        prefetch_row(run_start, ahead)
                u = record_node[rec]
                run = _run_of(
                    run_class, record_run[rec], node_runs[u + 1], record_classes[rec], k, dense
                )
                if run < 0:
                    continue
                first, last = run_start[run], run_start[run + 1]
                for e in range(first, last):
                    if e + LOOKAHEAD < last:
                        prefetch_row(reached, head[e + LOOKAHEAD])
                        if slot_of[e + LOOKAHEAD] >= 0:
                            prefetch_row(arrived, slot_of[e + LOOKAHEAD])
                    if strength[e] < min_strength:
                        continue
                    v = head[e]
                    threshold = threshold_of(strength[e])
                    some = _ZERO
                    for w in range(words):
                        word = record_lanes[rec, w] & ~reached[v, w]
                        if sample and word != _ZERO:
                            word = _bernoulli(word, threshold, state)
                        lanes[w] = word
                        some |= word
                    if some == _ZERO:
                        continue
                    n_touched = _enlist(flags, _TOUCHED, touched, n_touched, v)
                    slot = slot_of[e]
                    if slot >= 0:
                        some = _group_lanes(
                            arrived, group_indptr, group[e], slot, lanes, reached[v]
                        )
                        if some == _ZERO:
                            continue
                    n_ready = _enlist(flags, _READY, ready, n_ready, v)
                    for w in range(words):
                        reached[v, w] |= lanes[w]
                        gain[v, w] |= lanes[w]
    out = (record_node, record_lanes, record_run, record_classes, pass_first, heap_key, heap_item)
    return n_touched, out


@njit(cache=True, nogil=True)
def _records(n: int, words: int) -> Records:
    """Room for `n` records to start with (a batch at 1M entities writes millions: a node and
    a run in int32, the lanes in `words` words, the node's classes)."""
    size = max(64, n)
    return (
        np.empty(size, dtype=np.int32),
        np.empty((size, words), dtype=np.uint64),
        np.empty(size, dtype=np.int32),
        np.empty(size, dtype=np.uint64),
        np.empty(64, dtype=np.int64),
        np.empty(64),
        np.empty(64, dtype=np.int64),
    )


@njit(cache=True, nogil=True)
def _workspace(n: int, members: int, words: int) -> Workspace:
    """Zeroed state for batches of up to 64 * `words` lanes on a graph of `n` nodes (see
    `_spread`)."""
    return (
        np.zeros((n, words), dtype=np.uint64),
        np.zeros((members, words), dtype=np.uint64),
        np.zeros((n, words), dtype=np.uint64),
        np.zeros(n, dtype=np.int8),
        np.empty(n, dtype=np.int64),
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
    words: int = 0,
) -> None:
    """Add to `hits` how many runs of batches [first_batch, last_batch) reach each node.

    Batch b holds runs LANES * b .. LANES * (b + 1) - 1 (fewer in the last batch) and draws
    from its own stream, seeded by (seed, b): the answer does not depend on how batches are
    shared out.

    Rows are `words` wide, by default (0) as wide as the widest batch needs (a request of
    100 runs: two words, not WORDS): words no lane uses stay zero and draw nothing, so the
    hits are the same at any width that holds the lanes, and at a million entities the rows
    of a batch at full width are hundreds of MB.
    """
    n = arrays[0].shape[0] - 1
    node_slots = arrays[-1]
    words = words or min(WORDS, -(-(runs - first_batch * LANES) // 64))
    work = _workspace(n, node_slots[-1], words)
    reached, arrived, flags, touched = work[0], work[1], work[3], work[4]
    records = _records(n, words)
    state = np.zeros(1, dtype=np.uint64)  # the random stream
    for b in range(first_batch, last_batch):
        width = min(LANES, runs - b * LANES)
        start_lanes = np.zeros(words, dtype=np.uint64)
        for lane in range(width):
            start_lanes[lane // 64] |= _ONE << np.uint64(lane % 64)
        state[0] = _mix(np.uint64(seed) * _GOLDEN + np.uint64(b))
        n_touched, records = _spread(
            arrays, sources, start_lanes, horizon, min_strength, True, state, work, records
        )
        for i in range(n_touched):
            v = touched[i]
            for w in range(words):
                hits[v] += popcount(reached[v, w])
                reached[v, w] = _ZERO
            flags[v] = 0
            for slot in range(node_slots[v], node_slots[v + 1]):
                arrived[slot] = _ZERO


class SearchArrays(NamedTuple):
    """The propagation graph laid out for the bit-parallel search (see `_spread`).

    Each node's edges are sorted by buffer and cut into runs of one buffer value (a class):
    node u's runs are node_runs[u] .. node_runs[u + 1] - 1, run r's edges (in the sorted
    order every per-edge array here uses) are run_start[r] .. run_start[r + 1] - 1.
    """

    node_runs: Int64Array
    run_class: IntArray
    run_start: IntArray
    class_buffer: FloatArray
    """Buffer hours of each class, increasing."""
    node_classes: UInt64Array
    """Per node, bit min(k, 63) set when it has a run of class k (which classes to queue)."""
    head: IntArray
    strength: FloatArray
    """Exact: `min_strength` compares with it, and each draw with `threshold_of` it."""
    group: IntArray
    slot: IntArray
    """Per edge, its slot among the group members, or -1 when it is in no group."""
    group_indptr: Int64Array
    """Members of redundancy group g are the slots group_indptr[g] .. group_indptr[g + 1] - 1."""
    node_slots: Int64Array
    """The members of the groups of node v (edges into v) are slots node_slots[v] ..
    node_slots[v + 1] - 1, so a batch clears them with v."""


class _Kept:
    """The `SearchArrays` of one projection: those of the last one asked for, while it lives.

    One set for the whole process, not one per projection: at 1M entities / 10M relations a
    set is 250 MB of the process's own memory, and a server keeps a projection per
    clearance (and per assessment rule), so keeping each one's would add up to gigabytes.
    Laying a set out again costs a few seconds there (2.4 s), against about 11 s for 100
    runs. The slot empties when its projection goes, and before any projection is brought
    forward after a write (`BEFORE_REFRESH`): the write's new columns, hundreds of MB at
    that scale, are then not made while these still take memory.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()  # a collection may run `_gone` while it is held
        self.owner: weakref.ref[Projection] | None = None
        self.arrays: SearchArrays | None = None

    def get(self, projection: Projection) -> SearchArrays | None:
        with self.lock:
            if self.owner is not None and self.owner() is projection:
                return self.arrays
            return None

    def keep(self, projection: Projection, arrays: SearchArrays) -> None:
        with self.lock:
            self.owner = weakref.ref(projection, self._gone)
            self.arrays = arrays

    def drop(self) -> None:
        with self.lock:
            self.owner = self.arrays = None

    def _gone(self, ref: weakref.ref[Projection]) -> None:
        with self.lock:
            if self.owner is ref:
                self.owner = self.arrays = None


_KEPT = _Kept()
BEFORE_REFRESH.append(_KEPT.drop)  # a write's new columns need the room more


def search_arrays(projection: Projection) -> SearchArrays:
    """The `SearchArrays` of `projection`: kept from the last call if it was for the same
    projection, else laid out now (and kept instead of the last ones, see `_Kept`).

    The columns laid out are copied, so the pages of a projection mapped from files that
    were read for it leave the process's resident memory again (`let_go`): they stay in
    the file cache, and a cascade that reads them next maps them again. At 1M entities /
    10M relations they are 263 MB per clearance, which otherwise stayed resident through
    the search beside its own arrays. Before the layout, the same is done for every kept
    projection, and those of other clearances drop their spare workspaces (`make_room`):
    a cascade of another clearance had left its pages and workspaces resident, which made
    a propagation the server's peak there."""
    arrays = _KEPT.get(projection)
    if arrays is None:
        _KEPT.drop()  # the last set goes before the next is made
        make_room(but=projection)  # and the pages and workspaces no search is using now
        p = projection
        columns = (p.indptr, p.targets, p.buffer_hours, p.strength, p.group)
        arrays = lay_out(*columns)
        for column in columns:
            let_go(column)
        _KEPT.keep(projection, arrays)
    return arrays


def lay_out(
    indptr: Int64Array,
    targets: IntArray,
    buffer_hours: FloatArray,
    strength: FloatArray,
    group: IntArray,
) -> SearchArrays:
    """`SearchArrays` from the CSR arrays of a projection (numpy sorts, no Python loops).

    Edges, runs and group members are counted in int32 (`fits_int32`), and each temporary
    goes as soon as the next step has what it needs: at 10M edges every int64 column is 80
    MB, and this runs while a server answers.
    """
    n = indptr.shape[0] - 1
    edges = int(targets.shape[0])
    fits_int32(edges, "edges")
    tails = np.repeat(np.arange(n, dtype=np.int32), np.diff(indptr))
    class_buffer, inverse = np.unique(buffer_hours, return_inverse=True)
    buffer_class = inverse.astype(np.int32).reshape(-1)
    del inverse
    order = np.lexsort((buffer_class, tails))
    tails, buffer_class = tails[order], buffer_class[order]
    new_run = np.ones(edges, dtype=bool)
    new_run[1:] = (tails[1:] != tails[:-1]) | (buffer_class[1:] != buffer_class[:-1])
    firsts = np.flatnonzero(new_run).astype(np.int32)
    del new_run
    run_start = np.append(firsts, np.int32(edges)).astype(np.int32)
    run_class, run_tails = buffer_class[firsts], tails[firsts]
    del tails, buffer_class, firsts
    node_runs = indptr_of(run_tails, n)
    node_classes = np.zeros(n, dtype=np.uint64)
    bits = np.left_shift(np.uint64(1), np.minimum(run_class, 63).astype(np.uint64))
    np.bitwise_or.at(node_classes, run_tails, bits)
    del run_tails, bits
    sorted_strength = np.ascontiguousarray(strength[order], dtype=np.float64)
    sorted_group = np.ascontiguousarray(group[order], dtype=np.int32)
    heads = np.ascontiguousarray(targets[order], dtype=np.int32)
    del order
    members = np.flatnonzero(sorted_group >= 0).astype(np.int64)
    members = members[np.lexsort((sorted_group[members], heads[members]))]
    # groups renumbered in that order (a group's members all lead to one node, its dependent)
    starts = np.ones(members.shape[0], dtype=bool)
    starts[1:] = sorted_group[members[1:]] != sorted_group[members[:-1]]
    sorted_group[members] = np.cumsum(starts) - 1
    group_indptr = np.append(np.flatnonzero(starts), members.shape[0]).astype(np.int64)
    slot = np.full(edges, -1, dtype=np.int32)
    slot[members] = np.arange(members.shape[0], dtype=np.int32)
    node_slots = indptr_of(heads[members], n)
    return SearchArrays(
        node_runs, run_class, run_start, class_buffer.astype(np.float64), node_classes, heads,
        sorted_strength, sorted_group, slot, group_indptr, node_slots,
    )  # fmt: skip


def fits_int32(count: int, what: str) -> None:
    """Refuse, with a clear message, a graph whose `count` of `what` the int32 columns of
    `SearchArrays` cannot index (over two billion; the loads stop far below that)."""
    if count > INT32_MAX:
        raise ValueError(
            f"the propagation search indexes {what} in 32 bits: {count:,} is more than "
            f"{INT32_MAX:,}"
        )
