"""Editing sorted projection arrays by a few rows, in one pass of memory copies each.

After a small write a projection loses the rows of a few entity pairs and gains as many
(keten.graph.projection_delta). Finding those rows again by masks over every relation, and
deleting, remapping and inserting in separate steps, made several passes over arrays of ten
million rows. Here the places are found by binary search on the sorted arrays, and each
column is written once (`splice`): the cost follows the size of the change, apart from that
one copy per column.

Entity indices are ranks of sorted ids, so entities added or removed shift the indices after
them. `Ranks` holds that shift: old index -> new index, and for a new index the first old
index that maps at or above it, which lets binary searches on the old arrays answer in the
new numbering.

>>> splice(np.array([10, 20, 30, 40]), np.array([1]), np.array([0, 3]), np.array([5, 45]))
array([ 5, 10, 30, 40, 45])
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
Int64Array = npt.NDArray[np.int64]

MANY = 2_000
"""Past this many rows deleted or inserted, numpy's vectorised delete and insert are faster
than a Python loop over the runs between them."""


def splice(
    column: Array,
    drop: Int64Array,
    at: Int64Array,
    values: Array,
    move: Callable[[Array], Array] | None = None,
) -> Array:
    """`column` without the (sorted, distinct) positions `drop`, with `values` inserted
    before the (sorted) positions `at` of what is left: `np.insert(np.delete(column, drop),
    at, values)`, written once. `move` (entity indices old -> new) is applied to the kept
    values a piece at a time as they are copied, not to a whole copy first. A column mapped
    from a file is let go of afterwards (`let_go`)."""
    try:
        return _spliced(column, drop, at, values, move)
    finally:
        let_go(column)


def let_go(array: Array) -> None:
    """Tell the kernel that this process no longer needs the pages of a mapped array it has
    read through: they leave its resident memory but stay in the file cache, and a later
    read maps them again. Copying every column of a national-scale projection would
    otherwise hold the old pages and the new copy at once (above 1.5 GB at 1M / 10M)."""
    mapped = getattr(array, "_mmap", None)
    if isinstance(array, np.memmap) and isinstance(mapped, mmap.mmap):
        mapped.madvise(mmap.MADV_DONTNEED)


PIECE = 1 << 20
"""Values moved at a time (the temporary `move` makes stays a few MB)."""


def _spliced(
    column: Array,
    drop: Int64Array,
    at: Int64Array,
    values: Array,
    move: Callable[[Array], Array] | None,
) -> Array:
    values = np.asarray(values, dtype=column.dtype)
    if drop.shape[0] + at.shape[0] > MANY:
        kept = np.delete(column, drop)
        return np.insert(kept if move is None else move(kept), at, values)
    n = column.shape[0]
    out = np.empty(n - drop.shape[0] + values.shape[0], dtype=column.dtype)
    # kept element k sits at column position k + (drops before it)
    shifted = drop - np.arange(drop.shape[0])
    places = (at + np.searchsorted(shifted, at, side="right")).tolist()
    drops = drop.tolist()
    i = j = 0
    position = written = 0
    while i < len(drops) or j < len(places):
        insert_next = j < len(places) and (i >= len(drops) or places[j] <= drops[i])
        event = places[j] if insert_next else drops[i]
        _copy(out, written, column, position, event, move)
        written += event - position
        position = event
        if insert_next:
            out[written] = values[j]
            written += 1
            j += 1
        else:
            position = event + 1
            i += 1
    _copy(out, written, column, position, n, move)
    return out


def _copy(
    out: Array, to: int, column: Array, start: int, end: int, move: Callable[[Array], Array] | None
) -> None:
    """out[to:] = column[start:end], moved piece by piece when `move` is given."""
    if move is None:
        out[to : to + end - start] = column[start:end]
        return
    for a in range(start, end, PIECE):
        b = min(a + PIECE, end)
        out[to + a - start : to + b - start] = move(column[a:b])


@dataclass(frozen=True)
class Ranks:
    """Old entity index -> new one when entities were added or removed."""

    remap: Array | None
    """Old index -> new index (-1: removed); None when no entity came or went."""
    old_count: int
    new_count: int

    @cached_property
    def keys(self) -> Int64Array:
        """Each old index's new index, a removed one taking its successor's (non-decreasing)."""
        if self.remap is None:
            return np.arange(self.old_count, dtype=np.int64)
        big = np.iinfo(np.int64).max
        held = np.where(self.remap >= 0, self.remap, big).astype(np.int64)
        keys = np.minimum.accumulate(held[::-1])[::-1]
        return np.where(keys == big, self.new_count, keys)

    def floor(self, new: int) -> int:
        """The first old index whose entity comes at or after new index `new` (old_count when
        none does): with it, a search on an array of old indices finds new positions."""
        if self.remap is None:
            return min(new, self.old_count)
        return int(np.searchsorted(self.keys, new))

    def old_of(self, new: int) -> int:
        """The old index of new index `new`, or -1 for an entity added."""
        if self.remap is None:
            return new if 0 <= new < self.old_count else -1
        # removed entities take their successor's key: the entity itself is the last of them
        old = int(np.searchsorted(self.keys, new, side="right")) - 1
        return old if old >= 0 and int(self.remap[old]) == new else -1

    def apply(self, column: Array) -> Array:
        """`column` of old indices in new ones (the same array when nothing moved)."""
        if self.remap is None:
            return column
        moved = self.remap[column].astype(column.dtype)
        let_go(column)
        return moved

    @property
    def move(self) -> Callable[[Array], Array] | None:
        """What `splice` applies to kept entity indices (None when nothing moved)."""
        if self.remap is None:
            return None
        remap = self.remap
        return lambda part: remap[part]


def sorted_range(
    column: Array, value: int, start: int = 0, end: int | None = None
) -> tuple[int, int]:
    """Rows [first, last) of `column[start:end]` (sorted) equal to `value`, by binary search."""
    part = column[start:end]
    return (
        start + int(np.searchsorted(part, value, side="left")),
        start + int(np.searchsorted(part, value, side="right")),
    )
