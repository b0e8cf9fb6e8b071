"""The kernels compiled ahead answer exactly as numba's do, and refuse arrays they would
misread.

Both are the same Python functions of keten.queries.kernel; these tests hold the compiled
module (built here if `make install` did not build it) to numba's results, label for label,
on the reference knowledge base and on random networks with buffers, strengths, thresholds
and redundancy groups.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keten.graph.projection import Projection, build_projection
from keten.graph.sqlite import SqliteStore
from keten.queries import ahead, kernel
from keten.queries.workspace import Workspace
from keten.schema.markings import Tlp
from tests.queries.conftest import random_network


@pytest.fixture(scope="module")
def compiled() -> ahead.AheadKernels:
    return ahead.AheadKernels(ahead.build())


def state(p: Projection) -> list[Any]:
    """Fresh state arrays, as `Workspace` makes them (time ... order)."""
    work = Workspace.__new__(Workspace)
    Workspace.__init__(work, p)
    names = "time depth pred settled group_count group_time group_depth group_pred heap pos order"
    return [getattr(work, name) for name in names.split()]


def search(settle: Any, p: Projection, sources: list[int], horizon: float, floor: float):
    arrays = state(p)
    starts = np.array(sources, dtype=np.int64)
    count = settle(
        p.indptr, p.targets, p.buffer_hours, p.strength, p.group, p.group_size, starts,
        horizon, floor, False, *arrays,
    )  # fmt: skip
    return count, arrays


def assert_same(compiled: ahead.AheadKernels, p: Projection, sources: list[int], horizon: float,
                floor: float) -> int:  # fmt: skip
    count, mine = search(compiled.settle, p, sources, horizon, floor)
    expected, theirs = search(kernel.settle, p, sources, horizon, floor)
    assert count == expected
    assert np.array_equal(mine[-1][:count], theirs[-1][:count])  # settled in the same order
    for a, b in zip(mine[:3], theirs[:3], strict=True):  # time, depth, pred of every node
        assert np.array_equal(a, b)
    return count


def test_the_reference_knowledge_base_from_every_entity(
    compiled: ahead.AheadKernels, sqlite_store: SqliteStore
) -> None:
    from keten.data import reference_bundle_path
    from keten.ingest.loader import load_paths

    load_paths(sqlite_store, [reference_bundle_path()])
    p = build_projection(sqlite_store, Tlp.RED)
    reached = [assert_same(compiled, p, [u], 168.0, 0.0) for u in range(p.node_count)]
    assert max(reached) > 10  # some sources set off real cascades
    assert_same(compiled, p, list(range(0, p.node_count, 7)), 24.0, 0.5)


@pytest.mark.parametrize("seed", range(8))
def test_random_networks(compiled: ahead.AheadKernels, project: Any, seed: int) -> None:
    rng = random.Random(seed)
    entities, relations = random_network(rng, 60)
    p = project(entities, relations)
    assert p.group_size.shape[0] > 0  # redundancy groups take part
    for _ in range(10):
        sources = rng.sample(range(p.node_count), rng.choice([1, 1, 2, 5]))
        assert_same(compiled, p, sources, rng.choice([0.0, 3.0, 12.0, 1e6]),
                    rng.choice([0.0, 0.0, 0.3, 0.6]))  # fmt: skip


def test_reset_undoes_a_search(compiled: ahead.AheadKernels, project: Any) -> None:
    p = project(*random_network(random.Random(11), 40))
    count, arrays = search(compiled.settle, p, [0, 1], 1e6, 0.0)
    time, depth, pred, settled, group_count, group_time = arrays[:6]
    order = arrays[-1]
    compiled.reset(p.indptr, p.group, order, count, time, depth, pred, settled, group_count,
                   group_time)  # fmt: skip
    for made, fresh in zip(arrays[:6], state(p)[:6], strict=True):
        assert np.array_equal(made, fresh)


def test_arrays_are_given_their_dtype_and_state_arrays_must_have_it(
    compiled: ahead.AheadKernels, project: Any
) -> None:
    p = project(*random_network(random.Random(5), 30))
    expected, _ = search(kernel.settle, p, [0], 1e6, 0.0)
    arrays = state(p)
    starts = [0]  # a list, not an int64 array: converted
    indptr = p.indptr.astype(np.int32)  # another dtype: converted (a copy)
    count = compiled.settle(
        indptr, p.targets, p.buffer_hours, p.strength, p.group, p.group_size, starts,
        1e6, 0.0, False, *arrays,
    )  # fmt: skip
    assert count == expected
    arrays = state(p)
    arrays[0] = arrays[0].astype(np.float32)  # the results would land in a copy
    with pytest.raises(TypeError, match="time"):
        compiled.settle(
            p.indptr, p.targets, p.buffer_hours, p.strength, p.group, p.group_size,
            np.array([0]), 1e6, 0.0, False, *arrays,
        )  # fmt: skip


def test_the_module_name_follows_the_kernel_source() -> None:
    name = ahead.module_name()
    assert name.startswith(ahead.PREFIX)
    assert ahead.load() is not None  # built for this source by the fixture or make install
    assert Path(ahead.load().__file__).name.startswith(name)  # type: ignore[union-attr, arg-type]


def kernels_of(env: dict[str, str]) -> str:
    code = (
        "import sys; from keten.queries.workspace import kernels; "
        "print(kernels().origin, 'numba' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_process_takes_the_compiled_module_without_numba_unless_told(
    compiled: ahead.AheadKernels,
) -> None:
    import os

    base = {k: v for k, v in os.environ.items() if k != "KETEN_KERNELS"}
    assert kernels_of(base) == "ahead False"
    assert kernels_of({**base, "KETEN_KERNELS": "numba"}) == "numba True"
