"""Ids, names and kinds kept as arrays behave as the lists they replace, after any edit."""

from __future__ import annotations

import bisect
import random

import numpy as np
import pytest

from keten.graph.projection_strings import Codes, SortedIndex, Strings, edited, edited_codes

WORDS = ["a:1", "b:22", "b:3", "c:ä", "d:€uro", "e:", "f:long-" + "x" * 40, "g:9"]


def as_lists(
    ids: list[str],
    names: list[str],
    kinds: list[str],
    removed: list[int],
    added: dict[str, tuple[str, str]],
) -> tuple[list[str], list[str], list[str]]:
    """The same edit done on Python lists, as the delta code did it before."""
    rows = [
        (i, n, k)
        for p, (i, n, k) in enumerate(zip(ids, names, kinds, strict=True))
        if p not in removed
    ]
    for entity_id, (name, kind) in sorted(added.items()):
        place = bisect.bisect_left([r[0] for r in rows], entity_id)
        rows.insert(place, (entity_id, name, kind))
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


@pytest.mark.parametrize("seed", range(40))
def test_edits_equal_list_edits(seed: int) -> None:
    rng = random.Random(seed)
    ids = sorted(rng.sample([f"{w}{i}" for w in WORDS for i in range(5)], rng.randint(0, 30)))
    names = [rng.choice(WORDS) for _ in ids]
    kinds = [rng.choice(["Resource", "Threat", "Actor"]) for _ in ids]
    removed = sorted(rng.sample(range(len(ids)), rng.randint(0, min(4, len(ids)))))
    fresh = [f"{rng.choice(WORDS)}new{i}" for i in range(rng.randint(0, 4))]
    added = {
        i: (rng.choice(WORDS), rng.choice(["Resource", "Campaign"])) for i in fresh if i not in ids
    }
    want_ids, want_names, want_kinds = as_lists(ids, names, kinds, removed, added)
    new_ids = edited(ids, removed, {i: i for i in added})
    new_names = edited(Strings.of(names), removed, {i: n for i, (n, _) in added.items()}, ids)
    new_kinds = edited_codes(Codes.of(kinds), removed, {i: k for i, (_, k) in added.items()}, ids)
    assert list(new_ids) == want_ids and new_ids == want_ids
    assert list(new_names) == want_names
    assert list(new_kinds) == want_kinds
    assert list(np.asarray(new_kinds)) == want_kinds and list(np.asarray(new_names)) == want_names
    index = SortedIndex(new_ids)
    assert dict(index) == {i: n for n, i in enumerate(want_ids)}
    assert all(index[i] == n for n, i in enumerate(want_ids))
    for absent in ("", "zzz", "b:2", *(i + "!" for i in want_ids[:3])):
        assert absent not in index and index.get(absent) is None


def test_lookups_refuse_what_is_not_an_id() -> None:
    index = SortedIndex(Strings.of(["a", "b"]))
    with pytest.raises(KeyError):
        index["c"]
    with pytest.raises(KeyError):
        index[1]  # type: ignore[index]
    assert Strings.of(["a", "b"])[-1] == "b" and Strings.of(["a", "b"])[0:1] == ["a"]
    with pytest.raises(IndexError):
        Strings.of(["a"])[1]
