"""Analyses, each computed on the projection of the graph the caller's clearance may see.

The routes are thin: they take the query's own request model, pick the projection for the
caller's clearance from the app's `ProjectionCache` (rebuilt only when the store's revision
moved) and hand over. Unknown or hidden ids answer 404, impossible requests 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from keten.api.deps import ReaderDep
from keten.api.problems import responses
from keten.graph.assessments import AssessmentRule
from keten.graph.projection import Projection, ProjectionCache
from keten.queries.cascade import CascadeRequest, CascadeResult, cascade
from keten.queries.criticality import CriticalityRequest, CriticalityResult, criticality
from keten.queries.inoperability import InoperabilityRequest, InoperabilityResult, inoperability
from keten.queries.paths import PathsRequest, PathsResult, paths
from keten.queries.propagation import PropagationRequest, PropagationResult, propagate

router = APIRouter(
    prefix="/analysis", tags=["analysis"], responses=responses(400, 401, 403, 404, 422)
)


def get_projection(
    request: Request,
    principal: ReaderDep,
    assessments: Annotated[
        AssessmentRule,
        Query(
            description="When institutes assessed a dependency differently: use all of them "
            "(default: the earliest failure wins) or only the most reliable one."
        ),
    ] = "all",
) -> Projection:
    """The analysis graph of the current revision as the caller's clearance sees it."""
    cache: ProjectionCache = request.app.state.projections
    return cache.get(principal.clearance, assessments)


ProjectionDep = Annotated[Projection, Depends(get_projection)]


@router.post("/cascade")
def run_cascade(
    body: Annotated[CascadeRequest, Body()], projection: ProjectionDep
) -> CascadeResult:
    """What a disruption of `sources` sets off within `horizon_hours`: when, and through what.

    Each affected entity comes with its time to impact, its depth and `via`, the chain of
    dependencies that explains the time; interests are listed with the processes that hit
    them.
    """
    return cascade(projection, body.sources, body.horizon_hours, body.min_strength, body.limit)


@router.post("/propagation")
def run_propagation(
    body: Annotated[PropagationRequest, Body()], projection: ProjectionDep
) -> PropagationResult:
    """Monte Carlo: how likely each entity is to be hit, when each dependency passes a
    disruption on with probability `strength` (with a Wilson confidence interval).

    The same `seed` gives the same answer on the same revision.
    """
    return propagate(projection, body)


@router.post("/inoperability")
def run_inoperability(
    body: Annotated[InoperabilityRequest, Body()], projection: ProjectionDep
) -> InoperabilityResult:
    """Inoperability input-output model (IIM): the share of function each entity loses when
    the `perturbation` is applied, in equilibrium (`static`) or over time (`dynamic`).
    """
    return inoperability(projection, body)


@router.get("/criticality")
def read_criticality(
    query: Annotated[CriticalityRequest, Query()], projection: ProjectionDep
) -> CriticalityResult:
    """The entities whose failure matters most: cascade size, PageRank as something needed,
    and betweenness on dependency chains.
    """
    return criticality(projection, query)


@router.get("/paths")
def read_paths(query: Annotated[PathsRequest, Query()], projection: ProjectionDep) -> PathsResult:
    """Up to `k` shortest explanation paths from `source` to `target` (an actor to an
    interest, say), each step with the relations that make it.
    """
    return paths(projection, query)
