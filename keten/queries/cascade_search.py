"""The cascade's search and its answer as plain records, without pydantic.

keten.queries.cascade holds the contract (what the search computes and in what order) and the
API's request and answer models; the work is here. Each function takes the record type it
builds (`entity`, `interest`): the API passes its pydantic models, and a one-shot command
(`keten cascade`) the plain dataclasses below, so that it answers without importing pydantic
and building the models, which took about a tenth of its CPU time. The limits of a request are
named here once, for the request model and for the command's check alike.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np

from keten.graph.projection import Int64Array, Projection
from keten.graph.projection_strings import pick
from keten.queries.errors import AnalysisInputError, UnknownEntityError

if TYPE_CHECKING:
    from keten.queries.workspace import Workspace

MAX_SOURCES = 1000
MAX_ID_LENGTH = 200
MAX_HORIZON_HOURS = 1e6
MAX_LIMIT = 10_000
"""The limits of a cascade request (`POST /analysis/cascade`)."""


def request_fits(sources: Sequence[str], horizon: float, min_strength: float, limit: int) -> bool:
    """True when a request is within every limit of the request model, so that a caller
    holding plain values may skip building the model (which names the field when not)."""
    return (
        1 <= len(sources) <= MAX_SOURCES
        and all(1 <= len(s) <= MAX_ID_LENGTH for s in sources)
        and 0 <= horizon <= MAX_HORIZON_HOURS
        and 0 <= min_strength <= 1
        and 1 <= limit <= MAX_LIMIT
        and not math.isnan(horizon + min_strength)
    )


@dataclass(slots=True)
class Affected:
    """One entity the disruption reaches (the fields of the API's AffectedEntity)."""

    id: str
    kind: str
    name: str
    time_to_impact_hours: float
    depth: int
    via: list[str]


@dataclass(slots=True)
class Hit:
    """An interest reached through SAFEGUARDS (the fields of the API's AffectedInterest)."""

    id: str
    name: str
    time_to_impact_hours: float
    processes: list[str]


E = TypeVar("E")
H = TypeVar("H")


@dataclass(slots=True)
class Found(Generic[E, H]):
    """A cascade's answer with records of the caller's types (the API's CascadeResult)."""

    total: int
    affected: list[E]
    interests: list[H]
    revision: int


def source_indices(projection: Projection, sources: Sequence[str]) -> Int64Array:
    """Node indices of `sources` (duplicates dropped); unknown or hidden ids raise."""
    unknown = [s for s in dict.fromkeys(sources) if s not in projection.index]
    if unknown:
        raise UnknownEntityError(unknown)
    return np.array(sorted({projection.index[s] for s in sources}), dtype=np.int64)


def via_chain(pred: Int64Array, node: int, ids: Sequence[str]) -> list[str]:
    """Ids from the source to the predecessor of `node`, following `pred`."""
    chain: list[str] = []
    u = int(pred[node])
    while u >= 0:
        chain.append(ids[u])
        u = int(pred[u])
    chain.reverse()
    return chain


def affected_records(
    projection: Projection, work: Workspace, nodes: Iterable[int], entity: Callable[..., E]
) -> list[E]:
    """The settled `nodes` of the last run of `work` as the answers list them."""
    ids = projection.ids
    return [
        entity(
            id=ids[u],
            kind=projection.kinds[u],
            name=projection.names[u],
            time_to_impact_hours=float(work.time[u]),
            depth=int(work.depth[u]),
            via=via_chain(work.pred, u, ids),
        )
        for u in nodes
    ]


def interest_records(
    projection: Projection, order: Int64Array, time: np.ndarray, interest: Callable[..., H]
) -> list[H]:
    """Interests safeguarded by settled processes; `order` is by time so first hit is earliest.

    A national cascade reaches thousands of processes, each listed under every interest it
    safeguards, so the pairs are found and grouped with numpy and each id is decoded once.
    """
    sg = projection.safeguards_indptr
    counts = sg[order + 1] - sg[order]
    hits, counts = order[counts > 0], counts[counts > 0]
    if hits.shape[0] == 0:
        return []
    # the (process, interest) pairs in process order, then grouped by interest (stable sort)
    process = np.repeat(np.arange(hits.shape[0]), counts)
    first = np.repeat(sg[hits] - np.cumsum(counts) + counts, counts)
    target = projection.safeguards[first + np.arange(process.shape[0])]
    grouped = np.argsort(target, kind="stable")
    process, target = process[grouped], target[grouped]
    bounds = np.flatnonzero(np.diff(target, prepend=-1, append=-1))
    hit_ids = pick(projection.ids, hits)
    found = [
        (
            float(time[hits[process[a]]]),
            projection.ids[int(target[a])],
            int(target[a]),
            [hit_ids[k] for k in process[a:b].tolist()],
        )
        for a, b in itertools.pairwise(bounds.tolist())
    ]
    found.sort(key=lambda f: (f[0], f[1]))
    return [
        interest(id=i, name=projection.names[node], time_to_impact_hours=t, processes=processes)
        for t, i, node, processes in found
    ]


def search(
    projection: Projection,
    sources: Sequence[str],
    horizon_hours: float,
    min_strength: float,
    limit: int,
    entity: Callable[..., E],
    interest: Callable[..., H],
) -> Found[E, H]:
    """Entities and interests a failure of `sources` reaches within `horizon_hours`, as
    records of the types given."""
    if not sources:
        raise AnalysisInputError("a cascade needs at least one source id")
    starts = source_indices(projection, sources)
    from keten.queries.workspace import borrowed_workspace

    with borrowed_workspace(projection) as work:
        count = work.run(starts, horizon_hours, min_strength)
        order = work.order[:count]
        affected = affected_records(projection, work, order[:limit].tolist(), entity)
        interests = interest_records(projection, order, work.time, interest)
    return Found(count, affected, interests, projection.revision)
