"""Paths: the k shortest explanation chains from one entity to another.

Chains follow the direction in which effects travel: an actor POSES a threat, the threat
DISRUPTS a process, a failure of what a process DEPENDS_ON reaches the process (so that
relation is walked from target to source), and the process SAFEGUARDS an interest. Every
other relation type is walked from source to target. Paths are ranked by number of hops
(Yen's algorithm on the projection's arrays, keten.queries.simple_paths; paths of one
length come in the order it finds them), are simple (no entity twice), and each step lists
the stored relations that make it, in their stored direction.

>>> from keten.graph.projection import build_projection
>>> from keten.graph.store import EntityRow, RelationRow
>>> class Tiny:
...     def revision(self, clearance): return 1
...     def iter_entities(self, clearance): return iter([EntityRow("a:x", "Actor", "X"),
...         EntityRow("t:hack", "Threat", "Hack"), EntityRow("vp:grid", "VitalProcess", "Grid")])
...     def iter_relations(self, clearance): return iter([
...         RelationRow("a:x", "POSES", "t:hack"), RelationRow("t:hack", "DISRUPTS", "vp:grid")])
>>> answer = paths(build_projection(Tiny(), "red"), PathsRequest(source="a:x", target="vp:grid"))
>>> [n.id for n in answer.paths[0].nodes]
['a:x', 't:hack', 'vp:grid']
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from keten.graph.projection import TYPE_CODE, Projection
from keten.queries.cascade import SourceId
from keten.queries.errors import AnalysisInputError, UnknownEntityError
from keten.queries.simple_paths import k_shortest_paths
from keten.schema.relations import RelationType


class PathsRequest(BaseModel):
    """Query of `GET /analysis/paths`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source": "actor:ransomware-groups",
                    "target": "interest:economic-security",
                    "k": 3,
                    "relation_types": ["POSES", "DISRUPTS", "DEPENDS_ON", "SAFEGUARDS"],
                }
            ]
        },
    )

    source: SourceId
    target: SourceId
    k: Annotated[int, Field(ge=1, le=20)] = 3
    relation_types: Annotated[
        list[RelationType] | None, Field(description="Relation types to walk (default all).")
    ] = None
    max_hops: Annotated[int, Field(ge=1, le=20)] = 8


class PathNode(BaseModel):
    """An entity on a path."""

    id: str
    kind: str
    name: str


class PathRelation(BaseModel):
    """A stored relation that makes one step of a path."""

    source: str
    type: str
    target: str


class ExplanationPath(BaseModel):
    """One chain: its entities in order and, per step, the relations behind it."""

    hops: int
    nodes: list[PathNode]
    steps: list[list[PathRelation]]


class PathsResult(BaseModel):
    """Up to k chains, shortest first (empty when the target cannot be reached)."""

    paths: list[ExplanationPath]
    revision: int


def _step(p: Projection, u: int, v: int, types: set[str]) -> list[PathRelation]:
    """Stored relations behind the effect-direction step u -> v."""
    a, b = p.ids[u], p.ids[v]
    return [
        PathRelation(source=b, type=t, target=a)
        if t == RelationType.DEPENDS_ON
        else PathRelation(source=a, type=t, target=b)
        for t in sorted(types)
    ]


def paths(projection: Projection, request: PathsRequest) -> PathsResult:
    """The `k` shortest simple chains from `source` to `target` over the allowed types."""
    p = projection
    unknown = [i for i in (request.source, request.target) if i not in p.index]
    if unknown:
        raise UnknownEntityError(unknown)
    if request.source == request.target:
        raise AnalysisInputError("source and target are the same entity")
    allowed = {str(t) for t in request.relation_types or RelationType}
    edges = p.effect_edges
    walk = None
    if allowed != {str(t) for t in RelationType}:
        codes = np.zeros(len(TYPE_CODE), dtype=np.bool_)
        codes[[TYPE_CODE[t] for t in allowed]] = True
        walk = codes[edges.types]
    s, t = p.index[request.source], p.index[request.target]
    found = k_shortest_paths(edges.indptr, edges.heads, walk, s, t, request.k, request.max_hops)
    return PathsResult(
        paths=[
            ExplanationPath(
                hops=len(nodes) - 1,
                nodes=[PathNode(id=p.ids[u], kind=p.kinds[u], name=p.names[u]) for u in nodes],
                steps=[
                    _step(p, u, v, edges.types_between(u, v) & allowed) for u, v in pairwise(nodes)
                ],
            )
            for nodes in found
        ],
        revision=p.revision,
    )
