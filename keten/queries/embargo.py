"""Embargo: what a supply stop by one country takes away, and the chain effects that follow.

Step 1, shortfalls. A resource's own shortfall is the country's share in its supply (the
same year and scope the dependency monitor uses: each resource's latest, or `year`). It is
passed down `INPUT_TO`: a product misses at least what its scarcest input misses, scaled by
the link's `strength` (default 1, "how much of the product needs this input"):

    shortfall(P) = max(own share of P, max over inputs I of shortfall(I) * strength(I -> P))

This is the fixed-proportions (Leontief) reading of a bill of materials: without substitutes
a product can be made only as far as its scarcest input allows, so the shortfall of the
worst input carries over; shortfalls never add up past the largest, so they stay in [0, 1].
It is computed as a widest path with multiplicative weights (strengths <= 1), so cycles in
INPUT_TO cannot inflate it. `via` names the chain from the resource the shortfall starts at.

Step 2, cascade. Resources whose shortfall is >= `threshold` count as disrupted and are the
sources of the ordinary cascade (keten.queries.cascade), whose `affected`, `interests` and
`total` are returned as they are.

>>> inputs = {"r:ore": [("r:metal", 0.5)], "r:metal": [("r:part", 1.0)]}
>>> result = propagate_shortfalls({"r:ore": 0.8, "r:part": 0.3}, inputs)
>>> {k: (round(v, 2), via) for k, (v, via) in sorted(result.items())}
{'r:metal': (0.4, ['r:ore']), 'r:ore': (0.8, []), 'r:part': (0.4, ['r:ore', 'r:metal'])}
"""

from __future__ import annotations

import heapq
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from keten.graph.projection import Projection
from keten.queries.cascade import AffectedEntity, AffectedInterest, cascade
from keten.queries.dependencies import SupplyData, latest_year, resolve_country, yearly_shares
from keten.queries.errors import UnknownEntityError


class EmbargoRequest(BaseModel):
    """Body of `POST /analysis/embargo`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"country": "CN", "threshold": 0.3, "horizon_hours": 168}]},
    )

    country: Annotated[str, Field(min_length=1, max_length=200, description="ISO2, id or name.")]
    threshold: Annotated[
        float, Field(gt=0, le=1, description="Shortfall from which a resource counts as lost.")
    ] = 0.3
    horizon_hours: Annotated[float, Field(ge=0, le=1e6)] = 168.0
    year: Annotated[int | None, Field(ge=1900, le=2100)] = None
    scope: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    min_strength: Annotated[float, Field(ge=0, le=1)] = 0.0
    limit: Annotated[int, Field(ge=1, le=10_000)] = 100


class Shortfall(BaseModel):
    """The part of a resource's supply that the embargo takes away."""

    id: str
    name: str
    shortfall: float = Field(description="In [0, 1]; own share or passed down INPUT_TO.")
    own_share: float = Field(description="The country's own share in this resource's supply.")
    via: list[str] = Field(description="Resources the shortfall came down from, first first.")
    disrupted: bool = Field(description="shortfall >= threshold: a source of the cascade.")


class EmbargoResult(BaseModel):
    """Shortfalls per resource and the cascade from the disrupted ones (the cascade's shape)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "country": "country:CN",
                    "threshold": 0.3,
                    "shortfalls": [
                        {"id": "resource:gallium", "name": "Gallium", "shortfall": 0.71,
                         "own_share": 0.71, "via": [], "disrupted": True},
                        {"id": "resource:semiconductors", "name": "Semiconductors",
                         "shortfall": 0.71, "own_share": 0.0, "via": ["resource:gallium"],
                         "disrupted": True},
                    ],
                    "total": 3,
                    "affected": [
                        {"id": "vp:internet-access", "kind": "VitalProcess",
                         "name": "Internet access", "time_to_impact_hours": 2160, "depth": 1,
                         "via": ["resource:semiconductors"]},
                    ],
                    "interests": [],
                    "revision": 12,
                }
            ]
        }
    )  # fmt: skip

    country: str
    threshold: float
    shortfalls: list[Shortfall]
    total: int = Field(description="Entities affected within the horizon (disrupted included).")
    affected: list[AffectedEntity]
    interests: list[AffectedInterest]
    revision: int


Inputs = dict[str, list[tuple[str, float]]]


def propagate_shortfalls(
    own: dict[str, float], inputs: Inputs
) -> dict[str, tuple[float, list[str]]]:
    """Shortfall and `via` chain of every resource reached from `own` down INPUT_TO."""
    best = {resource: share for resource, share in own.items() if share > 0}
    parent: dict[str, str] = {}
    heap = [(-share, resource) for resource, share in best.items()]
    heapq.heapify(heap)
    done: set[str] = set()
    while heap:
        negative, node = heapq.heappop(heap)
        if node in done:
            continue
        done.add(node)
        for product, strength in inputs.get(node, []):
            passed = -negative * strength
            if passed > best.get(product, 0.0) and product not in done:
                best[product] = passed
                parent[product] = node
                heapq.heappush(heap, (-passed, product))
    return {node: (share, _via(parent, node)) for node, share in best.items()}


def _via(parent: dict[str, str], node: str) -> list[str]:
    chain: list[str] = []
    while node in parent:
        node = parent[node]
        chain.append(node)
    chain.reverse()
    return chain


def own_shares(
    data: SupplyData, country: str, year: int | None, scope: str | None
) -> dict[str, float]:
    """Each resource's share from `country` in the year (and scope) the monitor would use."""
    own: dict[str, float] = {}
    for resource, records in data.shares.items():
        by_year = yearly_shares(records, scope)
        chosen = year if year is not None else latest_year(by_year)
        share = sum(r.share for r in by_year.get(chosen, []) if r.country == country)
        if share > 0:
            own[resource] = min(share, 1.0)
    return own


def shortfalls(data: SupplyData, request: EmbargoRequest, country: str) -> list[Shortfall]:
    """Shortfalls above zero, largest first."""
    own = own_shares(data, country, request.year, request.scope)
    found = [
        Shortfall(
            id=resource,
            name=data.resources[resource].name if resource in data.resources else resource,
            shortfall=round(value, 6),
            own_share=own.get(resource, 0.0),
            via=via,
            disrupted=value >= request.threshold,
        )
        for resource, (value, via) in propagate_shortfalls(own, data.inputs).items()
    ]
    found.sort(key=lambda s: (-s.shortfall, s.id))
    return found


def embargo(data: SupplyData, projection: Projection, request: EmbargoRequest) -> EmbargoResult:
    """Shortfalls from a supply stop by `request.country` and the cascade that follows."""
    country = resolve_country(request.country, data.countries)
    if country is None:
        raise UnknownEntityError([request.country])
    lost = shortfalls(data, request, country)
    sources = [s.id for s in lost if s.disrupted and s.id in projection.index]
    result = EmbargoResult(
        country=country,
        threshold=request.threshold,
        shortfalls=lost,
        total=0,
        affected=[],
        interests=[],
        revision=projection.revision,
    )
    if sources:
        chain = cascade(
            projection, sources, request.horizon_hours, request.min_strength, request.limit
        )
        result.total, result.affected, result.interests = (
            chain.total,
            chain.affected,
            chain.interests,
        )
    return result
