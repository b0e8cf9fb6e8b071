"""Cascade: what a disruption sets off, when, and why (the DESIGN.md cascade contract).

Sources fail at t = 0. A failure of B reaches A along `A -[:DEPENDS_ON]-> B` after the edge's
`buffer_hours`; a Threat source reaches X along `T -[:DISRUPTS]-> X` the same way. An edge
passes the disruption only when its strength >= `min_strength`. A's time to impact is the
minimum over its requirements, where an edge without `redundancy_group` is one requirement
and all DEPENDS_ON edges of A sharing a group name are one requirement that fails when its
*last* member fails. A member below `min_strength` never fails, so neither does its group.

Choices where the contract is silent:

* sources are in `affected` with time 0, depth 0 and `via` [];
* `via` lists the ids from a source up to the entity's predecessor: the chain explaining the
  time (for a redundancy group, the member that failed last);
* among equal times the smaller depth wins, then the smaller predecessor id; `affected` is
  sorted by (time, depth, id); `total` counts everything with time <= `horizon_hours`;
* interests are reached through SAFEGUARDS from affected vital processes, each with its
  earliest time and the processes that hit it in order of their time.

>>> from keten.graph.projection import build_projection
>>> from keten.graph.store import EntityRow, RelationRow
>>> class Tiny:
...     def revision(self, clearance): return 3
...     def iter_entities(self, clearance): return iter([
...         EntityRow("r:power", "Resource", "Power"),
...         EntityRow("vp:water", "VitalProcess", "Water")])
...     def iter_relations(self, clearance): return iter([
...         RelationRow("vp:water", "DEPENDS_ON", "r:power", props={"buffer_hours": 12})])
>>> result = cascade(build_projection(Tiny(), "red"), ["r:power"])
>>> [(a.id, a.time_to_impact_hours, a.via) for a in result.affected]
[('r:power', 0.0, []), ('vp:water', 12.0, ['r:power'])]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from keten.graph.projection import Int64Array, Projection
from keten.queries.cascade_search import (
    MAX_HORIZON_HOURS,
    MAX_ID_LENGTH,
    MAX_LIMIT,
    MAX_SOURCES,
    affected_records,
    interest_records,
    search,
)

if TYPE_CHECKING:
    from keten.queries.workspace import Workspace

SourceId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]


class CascadeRequest(BaseModel):
    """Body of `POST /analysis/cascade`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sources": ["vp:electricity-national"],
                    "horizon_hours": 72,
                    "min_strength": 0,
                    "limit": 100,
                }
            ]
        },
    )

    sources: Annotated[list[SourceId], Field(min_length=1, max_length=MAX_SOURCES)]
    horizon_hours: Annotated[float, Field(ge=0, le=MAX_HORIZON_HOURS)] = 72.0
    min_strength: Annotated[float, Field(ge=0, le=1)] = 0.0
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 100


class AffectedEntity(BaseModel):
    """One entity the disruption reaches within the horizon."""

    id: str
    kind: str
    name: str
    time_to_impact_hours: float
    depth: int = Field(description="Number of steps from a source along `via`.")
    via: list[str] = Field(description="Ids from a source to this entity's predecessor.")


class AffectedInterest(BaseModel):
    """A national-security interest reached through SAFEGUARDS."""

    id: str
    name: str
    time_to_impact_hours: float
    processes: list[str] = Field(description="Affected processes safeguarding it, by time.")


class CascadeResult(BaseModel):
    """Answer of a cascade: the first `limit` affected entities by time, and the interests."""

    total: int = Field(description="Entities affected within the horizon (sources included).")
    affected: list[AffectedEntity]
    interests: list[AffectedInterest]
    revision: int


def affected_entities(
    projection: Projection, work: Workspace, nodes: Iterable[int]
) -> list[AffectedEntity]:
    """The settled `nodes` of the last run of `work` as the answers list them."""
    return affected_records(projection, work, nodes, AffectedEntity)


def reached_interests(
    projection: Projection, order: Int64Array, time: np.ndarray
) -> list[AffectedInterest]:
    """Interests safeguarded by settled processes, earliest first (see interest_records)."""
    return interest_records(projection, order, time, AffectedInterest)


def cascade(
    projection: Projection,
    sources: Sequence[str],
    horizon_hours: float = 72.0,
    min_strength: float = 0.0,
    limit: int = 100,
) -> CascadeResult:
    """Entities and interests a failure of `sources` reaches within `horizon_hours`."""
    found = search(
        projection, sources, horizon_hours, min_strength, limit, AffectedEntity, AffectedInterest
    )
    return CascadeResult(
        total=found.total,
        affected=found.affected,
        interests=found.interests,
        revision=found.revision,
    )
