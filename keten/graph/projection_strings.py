"""A projection's ids, names and kinds kept as arrays, not as a million Python objects.

A projection opened from its files (keten.graph.projection_files) used to decode every id into
a list and build a dict from id to index: at a million entities that cost a second of every
process start and some 150 MB per clearance, though an answer shows a hundred entities. Here
the ids stay one UTF-8 blob with offsets (`Strings`), found by binary search (`SortedIndex`:
the ids are sorted, so an id's index is its rank), and the kinds stay one small code per
entity (`Codes`). A write that adds, removes or renames a few entities edits these arrays
(`edited`) in one pass of memory copies instead of a Python loop over every entity.

>>> ids = Strings.of(["a:1", "b:2", "c:3"])
>>> index = SortedIndex(ids)
>>> index["b:2"], "b:9" in index, index.get("z")
(1, False, None)
>>> kinds = Codes.of(["Resource", "Threat", "Resource"])
>>> kinds[2], list(kinds)
('Resource', ['Resource', 'Threat', 'Resource'])
>>> later = edited(ids, removed=[0], added={"b:5": "b:5"})
>>> later == ["b:2", "b:5", "c:3"], SortedIndex(later)["c:3"]
(True, 2)
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt


class _Items(Sequence[str]):
    """A sequence of strings held some other way than a list: subclasses give `_at`."""

    def _at(self, i: int) -> str:
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self._at(j) for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._at(i)


class Strings(_Items):
    """Strings kept as one UTF-8 blob and their offsets, decoded one at a time when asked.

    Names are only read for the entities an answer shows, so a million of them need not
    become a million Python strings.

    >>> s = Strings.of(["Power", "Wäter"])
    >>> len(s), s[1], list(s)
    (2, 'Wäter', ['Power', 'Wäter'])
    """

    def __init__(self, blob: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64]) -> None:
        self.blob = blob
        self.offsets = offsets

    @staticmethod
    def of(items: Sequence[str]) -> Strings:
        """The blob and offsets of `items`."""
        return Strings(*encode_strings(items))

    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    def _at(self, i: int) -> str:
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.blob[start:end].tobytes().decode()

    def __iter__(self) -> Iterator[str]:
        return iter(decode_strings(self.blob, self.offsets))

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        """All strings as an object array (numpy would otherwise ask for them one by one)."""
        return np.array(decode_strings(self.blob, self.offsets), dtype=object)

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same strings, as a list would be."""
        if isinstance(other, Strings):
            same = np.array_equal(self.offsets, other.offsets)
            return same and np.array_equal(self.blob, other.blob)
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def encode_strings(items: Sequence[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """UTF-8 blob and offsets (`len(items) + 1` of them) of `items`."""
    if isinstance(items, Strings):
        return items.blob, items.offsets
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    text = "".join(items)
    if text.isascii():  # one C loop each for the text and the lengths
        np.cumsum(np.fromiter(map(len, items), dtype=np.int64, count=len(items)), out=offsets[1:])
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8), offsets
    encoded = [item.encode() for item in items]
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def pick(items: Sequence[str], indices: npt.NDArray[np.integer[Any]]) -> list[str]:
    """`[items[i] for i in indices]`, in one pass for a `Strings`: indexing it one string at a
    time reads two offsets through numpy per string, which costs more than the decode.

    >>> pick(Strings.of(["a:1", "b:2", "c:3"]), np.array([2, 0])), pick(["x", "y"], np.array([1]))
    (['c:3', 'a:1'], ['y'])
    """
    if not isinstance(items, Strings):
        return [items[i] for i in indices.tolist()]
    starts = items.offsets[indices].tolist()
    ends = items.offsets[indices + 1].tolist()
    raw = items.blob.data
    return [str(raw[a:b], "utf-8") for a, b in zip(starts, ends, strict=True)]


def decode_strings(blob: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64]) -> list[str]:
    """Every string of a blob, fast when it is ASCII (ids usually are)."""
    raw = blob.tobytes()
    bounds = offsets.tolist()
    if raw.isascii():
        text = raw.decode("ascii")
        return [text[a:b] for a, b in itertools.pairwise(bounds)]
    return [raw[a:b].decode() for a, b in itertools.pairwise(bounds)]


class SortedIndex(Mapping[str, int]):
    """Id -> index over ids sorted as Python sorts strings, by binary search (twenty
    decodes at a million ids, and no memory of its own)."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = ids

    def __getitem__(self, key: str) -> int:
        if not isinstance(key, str):
            raise KeyError(key)
        i = bisect.bisect_left(self.ids, key)
        if i < len(self.ids) and self.ids[i] == key:
            return i
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


class Codes(_Items):
    """One small code per item into a short vocabulary (entity kinds: a dozen names for a
    million entities)."""

    def __init__(self, codes: npt.NDArray[np.int16], vocabulary: list[str]) -> None:
        self.codes = codes
        self.vocabulary = vocabulary

    @staticmethod
    def of(items: Sequence[str]) -> Codes:
        """The codes of `items`, the vocabulary sorted."""
        if isinstance(items, Codes):
            return items
        vocabulary = sorted(set(items))
        code = {name: i for i, name in enumerate(vocabulary)}
        return Codes(
            np.fromiter((code[k] for k in items), dtype=np.int16, count=len(items)), vocabulary
        )

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def _at(self, i: int) -> str:
        return self.vocabulary[int(self.codes[i])]

    def __iter__(self) -> Iterator[str]:
        return iter(self.__array__().tolist())

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        """All items as an object array (numpy would otherwise ask for them one by one)."""
        return np.array(self.vocabulary, dtype=object)[self.codes]

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same items, as a list would be."""
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def edited_codes(
    items: Sequence[str], removed: Sequence[int], added: dict[str, str], ids: Sequence[str]
) -> Codes:
    """`items` (as `Codes`) without the positions `removed`, with `added` (id -> item) put
    where their ids sort among `ids`."""
    codes = Codes.of(items)
    vocabulary = list(codes.vocabulary)
    for item in sorted(set(added.values()) - set(vocabulary)):
        vocabulary.append(item)
    number = {name: i for i, name in enumerate(vocabulary)}
    kept = np.delete(codes.codes, list(removed))
    kept_ids = _Without(ids, sorted(removed))
    places = [bisect.bisect_left(kept_ids, i) for i in sorted(added)]
    fresh = [number[added[i]] for i in sorted(added)]
    return Codes(np.insert(kept, places, fresh).astype(np.int16), vocabulary)


def edited(
    items: Sequence[str], removed: Sequence[int], added: dict[str, Any], ids: Sequence[str] = ()
) -> Strings:
    """`items` (as `Strings`) without the positions `removed`, with `added` (id -> text)
    put where their ids sort among `ids` (default: `items` are the ids). One pass of copies,
    whatever the number of items."""
    strings = Strings.of(items)
    ids = ids or strings
    lengths = np.diff(strings.offsets)
    keep = np.ones(len(strings), dtype=np.bool_)
    keep[list(removed)] = False
    starts = strings.offsets[:-1][keep]
    lengths = lengths[keep]
    kept_ids = _Without(ids, sorted(removed))
    places = [bisect.bisect_left(kept_ids, i) for i in sorted(added)]
    fresh = [str(added[i]).encode() for i in sorted(added)]
    new_lengths = np.insert(lengths, places, [len(f) for f in fresh]).astype(np.int64)
    offsets = np.zeros(new_lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(new_lengths, out=offsets[1:])
    blob = np.empty(int(offsets[-1]), dtype=np.uint8)
    is_new = np.zeros(new_lengths.shape[0], dtype=np.bool_)
    is_new[np.asarray(places, dtype=np.int64) + np.arange(len(places))] = True
    _copy_runs(strings.blob, starts, lengths, blob, offsets[:-1][~is_new])
    for at, data in zip(np.flatnonzero(is_new).tolist(), fresh, strict=True):
        blob[offsets[at] : offsets[at] + len(data)] = np.frombuffer(data, dtype=np.uint8)
    return Strings(blob, offsets)


def _copy_runs(
    source: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    target: npt.NDArray[np.uint8],
    to: npt.NDArray[np.int64],
) -> None:
    """Copy the strings at `starts` to `to`, as a few long slices: consecutive strings that
    stay consecutive are one copy."""
    if starts.shape[0] == 0:
        return
    ends = starts + lengths
    breaks = np.flatnonzero((starts[1:] != ends[:-1]) | (to[1:] != to[:-1] + lengths[:-1])) + 1
    first = np.concatenate(([0], breaks))
    last = np.concatenate((breaks, [starts.shape[0]])) - 1
    for a, b in zip(first.tolist(), last.tolist(), strict=True):
        begin, end = int(starts[a]), int(ends[b])
        target[int(to[a]) : int(to[a]) + end - begin] = source[begin:end]


class _Without(_Items):
    """`ids` seen without the sorted positions `gone` (for binary search)."""

    def __init__(self, ids: Sequence[str], gone: list[int]) -> None:
        self.ids = ids
        self.gone = gone

    def __len__(self) -> int:
        return len(self.ids) - len(self.gone)

    def _at(self, i: int) -> str:
        position = i
        for g in self.gone:  # few
            if g <= position:
                position += 1
        return self.ids[position]
