"""Criticality: which entities matter most if they fail, by three complementary measures.

* `cascade_size`: how many other entities a failure reaches within the horizon (the cascade
  kernel, run once per candidate);
* `pagerank`: importance as something needed, on the dependency graph (A -> B when A
  depends on B, weighted by strength; parallel dependencies add up), so that being needed
  by much-needed things counts;
* `betweenness`: how often an entity lies on the shortest dependency chains between others
  (exact on small graphs, estimated from sampled sources on large ones).

Cascade sizes are computed for every entity when the graph has at most `candidates`
entities and for the `candidates` entities with the highest PageRank otherwise; the others
report None. Every vital process of a 100k-entity graph takes well under a second.

The answer is sorted by cascade size (None last), then PageRank, then id.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from keten.graph.projection import EDGE_DEPENDS_ON, Projection
from keten.schema.entities import EntityKind

MAX_CANDIDATES = 100_000
"""Most entities whose cascade size one request computes (every process of 1M entities)."""


class CriticalityRequest(BaseModel):
    """Query of `GET /analysis/criticality`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"horizon_hours": 72, "limit": 20, "kind": "Resource"}]},
    )

    horizon_hours: Annotated[float, Field(ge=0, le=1e6)] = 72.0
    min_strength: Annotated[float, Field(ge=0, le=1)] = 0.0
    kind: Annotated[EntityKind | None, Field(description="Rank only entities of this kind.")] = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 20
    candidates: Annotated[int, Field(ge=1, le=MAX_CANDIDATES)] = 50
    betweenness_samples: Annotated[int, Field(ge=1, le=5000)] = 200
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


class CriticalEntity(BaseModel):
    """The measures of one entity."""

    id: str
    kind: str
    name: str
    cascade_size: int | None = Field(description="Others reached within the horizon.")
    pagerank: float
    betweenness: float


class CriticalityResult(BaseModel):
    """The most critical entities, and how the measures were obtained."""

    entities: list[CriticalEntity]
    cascade_sizes_computed: int
    betweenness_sampled: bool
    revision: int


def dependency_graph(projection: Projection) -> sp.csr_matrix:
    """A -> B for each `A DEPENDS_ON B`, weighted by summed strength."""
    p = projection
    n = p.node_count
    needed = np.repeat(np.arange(n), np.diff(p.indptr))
    depends = p.edge_kind == EDGE_DEPENDS_ON
    return sp.csr_matrix((p.strength[depends], (p.targets[depends], needed[depends])), shape=(n, n))


def cascade_sizes(
    projection: Projection, nodes: npt.NDArray[np.int64], horizon: float, min_strength: float
) -> npt.NDArray[np.int64]:
    """For each node, how many others its failure reaches within the horizon.

    One search per node: each settles only what it reaches, with a workspace kept on the
    projection. Carrying 512 candidates at once bit-parallel (as propagation does with its
    runs) was measured 4x slower on 100k entities / 1M relations: different sources reach
    nodes at different times, so lanes rarely share a walk.
    """
    from keten.queries.workspace import borrowed_workspace

    sizes = np.empty(nodes.shape[0], dtype=np.int64)
    with borrowed_workspace(projection) as work:
        for i, node in enumerate(nodes.tolist()):
            count = work.run(np.array([node], dtype=np.int64), horizon, min_strength)
            sizes[i] = count - 1
            work.clear(count)
    return sizes


def criticality(projection: Projection, request: CriticalityRequest) -> CriticalityResult:
    """Rank entities by cascade size, PageRank and betweenness."""
    from keten.queries.centrality import betweenness, pagerank  # numba loads on first use

    p = projection
    n = p.node_count
    graph = dependency_graph(p)
    rank = pagerank(graph)
    sampled = request.betweenness_samples < n
    between = betweenness(graph, request.betweenness_samples if sampled else None, request.seed)
    eligible = np.arange(n, dtype=np.int64)
    if request.kind is not None:
        kinds = np.asarray(p.kinds, dtype=object)
        eligible = eligible[kinds == request.kind.value]
    by_rank = eligible[np.lexsort((eligible, -rank[eligible]))]
    chosen = by_rank[: request.candidates]
    size = np.full(n, -1, dtype=np.int64)
    size[chosen] = cascade_sizes(p, chosen, request.horizon_hours, request.min_strength)
    order = eligible[np.lexsort((eligible, -rank[eligible], -size[eligible]))]
    entities = [
        CriticalEntity(
            id=p.ids[u],
            kind=p.kinds[u],
            name=p.names[u],
            cascade_size=None if size[u] < 0 else int(size[u]),
            pagerank=float(rank[u]),
            betweenness=float(between[u]),
        )
        for u in order[: request.limit].tolist()
    ]
    return CriticalityResult(
        entities=entities,
        cascade_sizes_computed=int(chosen.shape[0]),
        betweenness_sampled=sampled,
        revision=p.revision,
    )
