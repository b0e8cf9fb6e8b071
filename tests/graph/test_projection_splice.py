"""Splicing equals numpy's delete then insert; ranks find new places in old arrays."""

from __future__ import annotations

import numpy as np
import pytest

from keten.graph.projection_splice import MANY, PIECE, Ranks, sorted_range, splice


@pytest.mark.parametrize("seed", range(10))
def test_splice_equals_delete_then_insert(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(300):
        n = int(rng.integers(0, 40))
        column = rng.integers(0, 1000, n).astype(rng.choice([np.int32, np.float64, np.int8]))
        drop = np.sort(rng.choice(n, size=int(rng.integers(0, n + 1)), replace=False)).astype(
            np.int64
        )
        left = n - drop.shape[0]
        at = np.sort(rng.integers(0, left + 1, int(rng.integers(0, 6)))).astype(np.int64)
        values = rng.integers(0, 100, at.shape[0])
        made = splice(column, drop, at, values)
        assert made.dtype == column.dtype
        np.testing.assert_array_equal(made, np.insert(np.delete(column, drop), at, values))
        moved = splice(column, drop, at, values, lambda part: part * 2)  # kept ones only
        expected = np.insert(np.delete(column, drop) * 2, at, values)
        np.testing.assert_array_equal(moved, expected.astype(column.dtype))


def test_many_changes_take_numpy_s_way() -> None:
    column = np.arange(3 * MANY)
    drop = np.arange(0, 3 * MANY, 2, dtype=np.int64)
    made = splice(column, drop, np.array([0], dtype=np.int64), np.array([-1]), lambda p: p + 1)
    np.testing.assert_array_equal(made, np.insert(np.delete(column, drop) + 1, [0], [-1]))


def test_long_runs_move_in_pieces() -> None:
    column = np.arange(3 * PIECE + 5, dtype=np.int32)
    made = splice(column, np.array([7], dtype=np.int64), np.array([PIECE], dtype=np.int64),
                  np.array([-1]), lambda p: p + 1)  # fmt: skip
    np.testing.assert_array_equal(made, np.insert(np.delete(column, [7]) + 1, [PIECE], [-1]))


def test_ranks_map_new_indices_onto_old_arrays() -> None:
    # old entities 0..5; 2 removed; one added before old 4: new = [0, 1, 3, new, 4, 5]
    remap = np.array([0, 1, -1, 2, 4, 5])
    ranks = Ranks(remap, 6, 6)
    assert [ranks.old_of(i) for i in range(6)] == [0, 1, 3, -1, 4, 5]
    assert [ranks.floor(i) for i in range(7)] == [0, 1, 2, 4, 4, 5, 6]
    np.testing.assert_array_equal(ranks.apply(np.array([0, 3, 5], dtype=np.int32)), [0, 2, 5])
    same = Ranks(None, 4, 4)
    assert same.old_of(2) == 2 and same.floor(9) == 4 and same.old_of(4) == -1


def test_sorted_range() -> None:
    column = np.array([1, 2, 2, 2, 5, 7])
    assert sorted_range(column, 2) == (1, 4)
    assert sorted_range(column, 3) == (4, 4)
    assert sorted_range(column, 2, 2, 5) == (2, 4)
