"""Analyses, each computed on the projection of the graph the caller's clearance may see.

The routes are thin: they take the query's own request model (bodies with strict numbers,
keten.api.analysis_bodies), pick the projection for the caller's clearance and assessment
rule from the app's `ProjectionCache` (rebuilt only when the store's revision moved) and hand
over. Unknown or hidden ids answer 404, impossible requests 422. Every route that runs on the
projection takes `assessments`: the POST routes as a query parameter of their own, the GET
routes as one more field of their query model (a query model forbids unknown parameters,
so the rule has to be one of its fields). The whole-graph ones (all but the cascade, whose
work is bounded by its horizon) run holding a slot of the app's `AnalysisGate`
(keten.api.admission): at most a few at once per process, 503 when none frees in time.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import Field

from keten.api.admission import AnalysisSlot
from keten.api.analysis_bodies import CascadeBody, InoperabilityBody, PropagationBody
from keten.api.answers import json_answer
from keten.api.deps import ReaderDep, StoreDep
from keten.api.keys import Principal
from keten.api.problems import responses
from keten.graph.assessments import AssessmentRule
from keten.graph.projection import Projection, ProjectionCache
from keten.queries.cascade import CascadeResult, cascade
from keten.queries.criticality import CriticalityRequest, CriticalityResult, criticality
from keten.queries.inoperability import InoperabilityResult, inoperability
from keten.queries.paths import PathsRequest, PathsResult, paths
from keten.queries.propagation import PropagationResult, propagate
from keten.queries.targeting import TargetingResult, resolve_capability, targeted_processes

router = APIRouter(
    prefix="/analysis", tags=["analysis"], responses=responses(400, 401, 403, 404, 422)
)


ASSESSMENTS = (
    "When institutes assessed a dependency differently: use all of them "
    "(default: the earliest failure wins) or only the most reliable one."
)


class CriticalityQuery(CriticalityRequest):
    """Query of `GET /analysis/criticality`, with the assessment rule."""

    assessments: Annotated[AssessmentRule, Field(description=ASSESSMENTS)] = "all"


class PathsQuery(PathsRequest):
    """Query of `GET /analysis/paths`, with the assessment rule."""

    assessments: Annotated[AssessmentRule, Field(description=ASSESSMENTS)] = "all"


def projection_for(request: Request, principal: Principal, rule: AssessmentRule) -> Projection:
    """The analysis graph of the current revision as the caller's clearance sees it."""
    cache: ProjectionCache = request.app.state.projections
    return cache.get(principal.clearance, rule)


def get_projection(
    request: Request,
    principal: ReaderDep,
    assessments: Annotated[AssessmentRule, Query(description=ASSESSMENTS)] = "all",
) -> Projection:
    """The projection for a route whose `assessments` is a query parameter of its own."""
    return projection_for(request, principal, assessments)


ProjectionDep = Annotated[Projection, Depends(get_projection)]


@router.post("/cascade", response_model=CascadeResult)
def run_cascade(body: Annotated[CascadeBody, Body()], projection: ProjectionDep) -> Response:
    """What a disruption of `sources` sets off within `horizon_hours`: when, and through what.

    Each affected entity comes with its time to impact, its depth and `via`, the chain of
    dependencies that explains the time; interests are listed with the processes that hit
    them.
    """
    answer = cascade(projection, body.sources, body.horizon_hours, body.min_strength, body.limit)
    return json_answer(answer)


@router.post("/propagation", dependencies=[AnalysisSlot], responses=responses(503))
def run_propagation(
    body: Annotated[PropagationBody, Body()], projection: ProjectionDep
) -> PropagationResult:
    """Monte Carlo: how likely each entity is to be hit, when each dependency passes a
    disruption on with probability `strength` (with a Wilson confidence interval).

    The same `seed` gives the same answer on the same revision.
    """
    return propagate(projection, body)


@router.post("/inoperability", dependencies=[AnalysisSlot], responses=responses(503))
def run_inoperability(
    body: Annotated[InoperabilityBody, Body()], projection: ProjectionDep
) -> InoperabilityResult:
    """Inoperability input-output model (IIM): the share of function each entity loses when
    the `perturbation` is applied, in equilibrium (`static`) or over time (`dynamic`).
    """
    return inoperability(projection, body)


@router.get("/criticality", dependencies=[AnalysisSlot], responses=responses(503))
def read_criticality(
    query: Annotated[CriticalityQuery, Query()], request: Request, principal: ReaderDep
) -> CriticalityResult:
    """The entities whose failure matters most: cascade size, PageRank as something needed,
    and betweenness on dependency chains.
    """
    return criticality(projection_for(request, principal, query.assessments), query)


@router.get("/paths", dependencies=[AnalysisSlot], responses=responses(503))
def read_paths(
    query: Annotated[PathsQuery, Query()], request: Request, principal: ReaderDep
) -> PathsResult:
    """Up to `k` shortest explanation paths from `source` to `target` (an actor to an
    interest, say), each step with the relations that make it.
    """
    return paths(projection_for(request, principal, query.assessments), query)


@router.get("/targeted", dependencies=[AnalysisSlot], responses=responses(503))
def read_targeted(
    capability: Annotated[
        str,
        Query(
            min_length=1,
            max_length=300,
            description="A technique, malware or tool: keten id, STIX id or ATT&CK id (T1566).",
        ),
    ],
    request: Request,
    principal: ReaderDep,
    store: StoreDep,
    assessments: Annotated[AssessmentRule, Query(description=ASSESSMENTS)] = "all",
) -> TargetingResult:
    """The vital processes targeted by the actors, campaigns and threats that use a
    capability (or its sub-techniques, or malware and tools that use it): directly
    (TARGETS), through an organisation that operates the process, or through a threat they
    pose that disrupts it. See `keten.queries.targeting`.
    """
    capability_id = resolve_capability(store, principal.clearance, capability)
    return targeted_processes(projection_for(request, principal, assessments), capability_id)
