"""Workspaces kept with a projection: handed out clean, never to two holders at once."""

from __future__ import annotations

import gc
import random
import weakref
from collections.abc import Callable

import numpy as np
import pytest

from keten.graph.projection import Projection
from keten.queries.workspace import SPARE_WORKSPACES, Workspace, borrowed_workspace
from tests.queries.conftest import Edge, random_network

Project = Callable[[list[tuple[str, str]], list[Edge]], Projection]


@pytest.fixture
def projection(project: Project) -> Projection:
    entities, relations = random_network(random.Random(3), 50)
    return project(entities, relations)


def assert_clean(work: Workspace) -> None:
    """Every array as a new workspace has it (what a search reads before it writes)."""
    fresh = Workspace(work.projection)
    for name in ("time", "depth", "pred", "settled", "group_count", "group_time", "pos"):
        assert np.array_equal(getattr(work, name), getattr(fresh, name)), name
    assert work.reached == 0


@pytest.mark.parametrize(
    ("sources", "horizon"),
    [(5, 1000.0), (1, 0.0)],  # much of the graph (arrays refilled), one node (walked back)
)
def test_a_workspace_comes_back_clean_and_is_kept(
    projection: Projection, sources: int, horizon: float
) -> None:
    with borrowed_workspace(projection) as work:
        reached = work.run(np.arange(sources, dtype=np.int64), horizon, 0.0)
        assert (reached > projection.node_count // 8) == (sources > 1)
    with borrowed_workspace(projection) as again:
        assert again is work
        assert_clean(again)


def test_holders_at_once_get_their_own_and_only_a_few_are_kept(projection: Projection) -> None:
    holders = [borrowed_workspace(projection) for _ in range(SPARE_WORKSPACES + 2)]
    held = [h.__enter__() for h in holders]
    assert len({id(w) for w in held}) == len(held)
    for holder in holders:
        holder.__exit__(None, None, None)
    with borrowed_workspace(projection) as first, borrowed_workspace(projection) as second:
        kept = {id(w) for w in held}
        assert id(first) in kept and id(second) in kept and first is not second


def test_a_workspace_that_saw_an_error_is_dropped(projection: Projection) -> None:
    with pytest.raises(RuntimeError), borrowed_workspace(projection) as broken:
        broken.run(np.array([0], dtype=np.int64), 1000.0, 0.0)
        raise RuntimeError("mid-search")
    with borrowed_workspace(projection) as work:
        assert work is not broken
        assert_clean(work)


def test_kept_workspaces_go_with_their_projection(project: Project) -> None:
    entities, relations = random_network(random.Random(4), 30)
    projection = project(entities, relations)
    with borrowed_workspace(projection):
        pass
    assert len(projection.workspaces) == 1
    gone = weakref.ref(projection)
    del projection
    gc.collect()
    assert gone() is None
