"""Search workspaces and the kernels that run them: compiled ahead where that was built,
numba's otherwise.

A one-shot process (a CLI command) that runs one search should not import numba for it:
`kernels()` loads the module compiled ahead (keten.queries.ahead) and imports no numba, or,
where none could be built, falls back to numba's cached kernels (keten.queries.kernel). Both
are the same Python functions compiled by numba's pipeline, so they give the same answers
(tests/queries/test_ahead.py). `KETEN_KERNELS=numba` always takes numba's.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from keten.graph.projection import Int64Array, Projection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kernels:
    """The search kernels a workspace runs, and where they came from."""

    settle: Callable[..., int]
    reset: Callable[..., None]
    origin: str
    """"ahead" (the compiled module) or "numba"."""


@functools.cache
def kernels() -> Kernels:
    """The kernels of this process: the module compiled ahead (built now if missing and not
    failed before), else numba's."""
    if os.environ.get("KETEN_KERNELS", "") != "numba":
        from keten.queries import ahead

        module = ahead.load()
        if module is None and ahead.failed() is None:
            try:
                module = ahead.build()
            except Exception as exc:  # no compiler, read-only folders...
                log.warning("search kernels not compiled ahead, numba's are used: %s", exc)
        if module is not None:
            compiled = ahead.AheadKernels(module)
            return Kernels(compiled.settle, compiled.reset, "ahead")
    from keten.queries import kernel

    return Kernels(kernel.settle, kernel.reset, "numba")


class Workspace:
    """State arrays for repeated searches on one projection (one per thread or call)."""

    def __init__(self, projection: Projection) -> None:
        n = projection.node_count
        groups = projection.group_size.shape[0]
        self.projection = projection
        self.kernels = kernels()
        self.time = np.full(n, np.inf)
        self.depth = np.full(n, -1, dtype=np.int64)
        self.pred = np.full(n, -1, dtype=np.int64)
        self.settled = np.zeros(n, dtype=np.bool_)
        self.group_count = np.zeros(groups, dtype=np.int32)
        self.group_time = np.full(groups, -np.inf)
        self.group_depth = np.zeros(groups, dtype=np.int64)
        self.group_pred = np.full(groups, -1, dtype=np.int64)
        self.heap = np.empty(n, dtype=np.int64)
        self.pos = np.full(n, -1, dtype=np.int64)
        self.order = np.empty(n, dtype=np.int64)
        self.reached = 0
        """Nodes the last run settled that `clear` has not reset yet."""

    def run(
        self, sources: Int64Array, horizon: float, min_strength: float, sample: bool = False
    ) -> int:
        """One search from `sources`; results stay in the arrays until `clear`."""
        p = self.projection
        self.reached = int(
            self.kernels.settle(
                p.indptr,
                p.targets,
                p.buffer_hours,
                p.strength,
                p.group,
                p.group_size,
                sources,
                float(horizon),
                float(min_strength),
                sample,
                *self._labels(),
                self.group_depth,
                self.group_pred,
                self.heap,
                self.pos,
                self.order,
            )
        )
        return self.reached

    def clear(self, count: int | None = None) -> None:
        """Reset the state after a run of `count` settled nodes (by default the last run's).

        A run that settled much of the graph is undone by filling whole arrays (memset speed)
        rather than by walking every edge of every node it settled.
        """
        count = self.reached if count is None else count
        if count > self.projection.node_count // 8:
            self.time.fill(np.inf)
            self.depth.fill(-1)
            self.pred.fill(-1)
            self.settled.fill(False)
            self.group_count.fill(0)
            self.group_time.fill(-np.inf)
            self.reached = 0
            return
        p = self.projection
        self.kernels.reset(
            p.indptr,
            p.group,
            self.order,
            count,
            *self._labels(),
        )
        self.reached = 0

    def _labels(self) -> tuple[np.ndarray, ...]:
        """The state both kernels take in this order: labels, settled flags, group state."""
        return (
            self.time, self.depth, self.pred, self.settled, self.group_count, self.group_time
        )  # fmt: skip


SPARE_WORKSPACES = 4
"""Clean workspaces kept per projection for the next searches (each holds a dozen arrays
the size of the graph, so more would cost memory at national scale)."""
_spare_lock = threading.Lock()


@contextmanager
def borrowed_workspace(projection: Projection) -> Iterator[Workspace]:
    """A clean workspace for `projection`, taken from those kept with it or made new.

    A new workspace allocates arrays the size of the whole graph, which made a search that
    reaches ten entities cost more on a big graph than on a small one. On a normal exit the
    workspace is cleared (only what the search touched) and kept for the next caller; after
    an exception it is dropped, since its state is unknown. The spares live on the
    projection, so they go when a newer revision replaces it.
    """
    with _spare_lock:
        spare = projection.workspaces
        work = spare.pop() if spare else None
    work = work or Workspace(projection)
    yield work
    if work.reached:
        work.clear()
    with _spare_lock:
        if len(spare) < SPARE_WORKSPACES:
            spare.append(work)
