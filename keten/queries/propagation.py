"""Propagation: the probability that a disruption reaches each entity (Monte Carlo).

Strengths become probabilities: in each run every edge passes the disruption on with
probability `strength` (independently, one draw per edge per run), after which the run is an
ordinary cascade with the same buffers, redundancy groups and horizon. The share of runs
that reach an entity estimates its probability of disruption; the interval is Wilson's score
interval, which stays inside [0, 1] and behaves at 0 and 1 where the normal one does not.

Runs go 1,024 at a time, one per bit of sixteen words (keten.queries.bitsets), so that 10,000
runs cost about what a few hundred single runs would; batches of runs are shared out over
threads, as many as the cores and a memory budget allow. They are compiled (numba) and
seeded per batch, so the same request gives the same answer whatever the number of threads.

>>> wilson(np.array([5]), 10, 0.95)[0].round(3)
array([0.237])
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from statistics import NormalDist
from typing import Annotated

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from keten.graph.projection import Projection
from keten.queries.cascade import SourceId
from keten.queries.cascade_search import source_indices


class PropagationRequest(BaseModel):
    """Body of `POST /analysis/propagation`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"sources": ["threat:power-outage"], "horizon_hours": 72, "runs": 2000}]
        },
    )

    sources: Annotated[list[SourceId], Field(min_length=1, max_length=1000)]
    horizon_hours: Annotated[float, Field(ge=0, le=1e6)] = 72.0
    min_strength: Annotated[float, Field(ge=0, le=1)] = 0.0
    runs: Annotated[int, Field(ge=1, le=10_000)] = 1000
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95
    limit: Annotated[int, Field(ge=1, le=10_000)] = 100


class DisruptionChance(BaseModel):
    """Estimated probability that one entity is disrupted within the horizon."""

    id: str
    kind: str
    name: str
    probability: float
    ci_low: float
    ci_high: float


class PropagationResult(BaseModel):
    """Entities reached in at least one run, most likely first."""

    runs: int
    seed: int
    confidence: float
    total: int = Field(description="Entities reached in at least one run.")
    entities: list[DisruptionChance]
    revision: int


def wilson(
    hits: npt.NDArray[np.int64], runs: int, confidence: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Wilson score interval (low, high) for `hits` successes out of `runs`."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = hits / runs
    centre = (p + z * z / (2 * runs)) / (1 + z * z / runs)
    half = z / (1 + z * z / runs) * np.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


BATCHES_PER_TASK = 1
"""Batches (of LANES runs) per thread task: one, so that the ten batches of 10,000 runs share
out evenly over two cores and the progress bar moves; a task's setup (arrays the size of the
graph, allocated lazily) is small next to a batch."""
WORKSPACE_BUDGET = 320 * 2**20
"""Bytes of per-thread search state (a row of LANES bits per entity, twice, and per group
member) that the threads may take together: at 100k entities a thread needs about 30 MB, so
every core runs; at 1M about 300 MB, so one thread does and a server stays within its memory."""

Progress = Callable[[int], None]
"""Called with the number of runs done so far, after each task."""


def thread_count(nodes: int, members: int, tasks: int) -> int:
    """Threads for `tasks` batches: one per core (at most four), fewer when their search state
    would pass WORKSPACE_BUDGET, never none.

    >>> thread_count(100_000, 50_000, 10) == min(4, os.cpu_count() or 1)
    True
    >>> thread_count(1_000_000, 500_000, 10)
    1
    """
    from keten.queries.bitsets import LANES

    per_thread = (2 * nodes + members) * LANES // 8
    return max(1, min(4, os.cpu_count() or 1, tasks, WORKSPACE_BUDGET // per_thread))


def run_hits(
    projection: Projection,
    sources: npt.NDArray[np.int64],
    horizon: float,
    min_strength: float,
    runs: int,
    seed: int,
    progress: Progress | None = None,
    workers: int | None = None,
    words: int = 0,
) -> npt.NDArray[np.int64]:
    """How many of `runs` sampled cascades from `sources` reach each node (bit-parallel;
    `words` per row, 0 for as few as the runs need: see `propagation_hits`)."""
    from keten.queries.bitsets import LANES, propagation_hits, search_arrays  # numba loads here

    p = projection
    extra = search_arrays(p)
    batches = -(-runs // LANES)
    tasks = [
        (first, min(first + BATCHES_PER_TASK, batches))
        for first in range(0, batches, BATCHES_PER_TASK)
    ]

    def task(first: int, last: int) -> tuple[npt.NDArray[np.int64], int]:
        hits = np.zeros(p.node_count, dtype=np.int64)
        propagation_hits(
            extra, sources, horizon, min_strength, runs, seed, first, last, hits, words
        )
        return hits, min(last * LANES, runs) - first * LANES

    total = np.zeros(p.node_count, dtype=np.int64)
    done = 0
    workers = workers or thread_count(p.node_count, int(extra.node_slots[-1]), len(tasks))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in as_completed([pool.submit(task, *t) for t in tasks]):
            hits, count = future.result()
            total += hits
            done += count
            if progress is not None:
                progress(done)
    return total


def propagate(
    projection: Projection, request: PropagationRequest, progress: Progress | None = None
) -> PropagationResult:
    """Run `request.runs` sampled cascades from the sources and summarise per entity.

    `progress`, when given, hears how many runs are done as they finish.
    """
    p = projection
    starts = source_indices(p, request.sources)
    hits = run_hits(
        p,
        starts,
        float(request.horizon_hours),
        float(request.min_strength),
        request.runs,
        request.seed,
        progress,
    )
    reached = np.flatnonzero(hits)
    order = reached[np.lexsort((reached, -hits[reached]))][: request.limit]
    low, high = wilson(hits[order], request.runs, request.confidence)
    entities = [
        DisruptionChance(
            id=p.ids[u],
            kind=p.kinds[u],
            name=p.names[u],
            probability=float(hits[u] / request.runs),
            ci_low=float(lo),
            ci_high=float(hi),
        )
        for u, lo, hi in zip(order.tolist(), low.tolist(), high.tolist(), strict=True)
    ]
    return PropagationResult(
        runs=request.runs,
        seed=request.seed,
        confidence=request.confidence,
        total=int(reached.shape[0]),
        entities=entities,
        revision=p.revision,
    )
