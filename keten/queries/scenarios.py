"""Scenario what-ifs: several named combinations of threats and disruptions, side by side.

A scenario is a list of source ids (threats, which strike what they DISRUPT, and/or any
entity disrupted at t = 0) with its own horizon. Each runs as one cascade (DESIGN.md
contract); the answer gives per scenario the totals, counts by kind, the first entities hit
and the interests hit with their times, then for every pair of scenarios what one reaches
that the other does not and which interests each reaches earlier.

>>> ScenarioSpec(name="storm", sources=["threat:severe-storm"]).horizon_hours
72.0
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from keten.graph.projection import Projection
from keten.queries.cascade import (
    AffectedEntity,
    AffectedInterest,
    SourceId,
    affected_entities,
    reached_interests,
)
from keten.queries.cascade_search import source_indices

if TYPE_CHECKING:
    from keten.queries.workspace import Workspace

ScenarioName = Annotated[str, Field(min_length=1, max_length=100)]


class ScenarioSpec(BaseModel):
    """One named scenario."""

    model_config = ConfigDict(extra="forbid")

    name: ScenarioName
    sources: Annotated[list[SourceId], Field(min_length=1, max_length=1000)]
    horizon_hours: Annotated[float, Field(ge=0, le=1e6)] = 72.0


class ScenariosRequest(BaseModel):
    """Body of `POST /analysis/scenarios`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "scenarios": [
                        {"name": "storm", "sources": ["threat:severe-storm"]},
                        {
                            "name": "storm and cyber",
                            "sources": ["threat:severe-storm", "threat:state-cyber-sabotage"],
                        },
                    ],
                    "min_strength": 0,
                    "limit": 20,
                }
            ]
        },
    )

    scenarios: Annotated[list[ScenarioSpec], Field(min_length=1, max_length=10)]
    min_strength: Annotated[float, Field(ge=0, le=1)] = 0.0
    limit: Annotated[
        int, Field(ge=1, le=10_000, description="Entities listed per scenario and difference.")
    ] = 20

    @field_validator("scenarios")
    @classmethod
    def names_are_unique(cls, scenarios: list[ScenarioSpec]) -> list[ScenarioSpec]:
        """Scenarios are compared by name, so a name may be used once."""
        seen = Counter(s.name for s in scenarios)
        twice = sorted(name for name, count in seen.items() if count > 1)
        if twice:
            raise ValueError(f"scenario names must be unique; used more than once: {twice}")
        return scenarios


class ScenarioOutcome(BaseModel):
    """What one scenario sets off."""

    name: str
    sources: list[str]
    horizon_hours: float
    total: int = Field(description="Entities affected within the horizon (sources included).")
    by_kind: dict[str, int]
    affected: list[AffectedEntity]
    interests: list[AffectedInterest]


class InterestTiming(BaseModel):
    """An interest both scenarios hit, with each scenario's time."""

    id: str
    hours_a: float
    hours_b: float


class ScenarioDifference(BaseModel):
    """How scenario `a` and scenario `b` differ."""

    a: str
    b: str
    only_in_a_total: int
    only_in_b_total: int
    only_in_a: list[str] = Field(description="Entities only `a` reaches (first `limit` by id).")
    only_in_b: list[str]
    interests_only_in_a: list[str]
    interests_only_in_b: list[str]
    earlier_in_a: list[InterestTiming]
    earlier_in_b: list[InterestTiming]


class ScenariosResult(BaseModel):
    """Answer of `POST /analysis/scenarios`."""

    scenarios: list[ScenarioOutcome]
    differences: list[ScenarioDifference]
    revision: int


def run_scenario(
    projection: Projection, work: Workspace, spec: ScenarioSpec, min_strength: float, limit: int
) -> tuple[ScenarioOutcome, set[str]]:
    """One scenario's outcome and the full set of ids it reaches."""
    starts = source_indices(projection, spec.sources)
    count = work.run(starts, spec.horizon_hours, min_strength)
    try:
        order = work.order[:count].copy()
        ids, kinds = projection.ids, projection.kinds
        affected = affected_entities(projection, work, order[:limit].tolist())
        interests = reached_interests(projection, order, work.time)
    finally:
        work.clear(count)
    reached = [ids[u] for u in order.tolist()]
    outcome = ScenarioOutcome(
        name=spec.name,
        sources=list(dict.fromkeys(spec.sources)),
        horizon_hours=spec.horizon_hours,
        total=count,
        by_kind=dict(sorted(Counter(kinds[u] for u in order.tolist()).items())),
        affected=affected,
        interests=interests,
    )
    return outcome, set(reached)


def compare(
    a: ScenarioOutcome, b: ScenarioOutcome, reach_a: set[str], reach_b: set[str], limit: int
) -> ScenarioDifference:
    """What `a` reaches that `b` does not (and back), and who hits shared interests first."""
    hours_a = {i.id: i.time_to_impact_hours for i in a.interests}
    hours_b = {i.id: i.time_to_impact_hours for i in b.interests}
    shared = sorted(set(hours_a) & set(hours_b))
    timings = [InterestTiming(id=i, hours_a=hours_a[i], hours_b=hours_b[i]) for i in shared]
    only_a, only_b = sorted(reach_a - reach_b), sorted(reach_b - reach_a)
    return ScenarioDifference(
        a=a.name,
        b=b.name,
        only_in_a_total=len(only_a),
        only_in_b_total=len(only_b),
        only_in_a=only_a[:limit],
        only_in_b=only_b[:limit],
        interests_only_in_a=sorted(set(hours_a) - set(hours_b)),
        interests_only_in_b=sorted(set(hours_b) - set(hours_a)),
        earlier_in_a=[t for t in timings if t.hours_a < t.hours_b],
        earlier_in_b=[t for t in timings if t.hours_b < t.hours_a],
    )


def compare_scenarios(projection: Projection, request: ScenariosRequest) -> ScenariosResult:
    """Run every scenario on `projection` and compare each pair (in the order given)."""
    from keten.queries.workspace import borrowed_workspace

    with borrowed_workspace(projection) as work:
        runs = [
            run_scenario(projection, work, spec, request.min_strength, request.limit)
            for spec in request.scenarios
        ]
    differences = [
        compare(a, b, reach_a, reach_b, request.limit)
        for (a, reach_a), (b, reach_b) in itertools.combinations(runs, 2)
    ]
    return ScenariosResult(
        scenarios=[outcome for outcome, _ in runs],
        differences=differences,
        revision=projection.revision,
    )
