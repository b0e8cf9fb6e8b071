"""The integrated risk analysis, its risk diagram and scenario what-ifs over HTTP.

Everything is computed on the graph the caller's clearance may see: the projection comes
from the app's cache for that clearance, and the threats' stated classes are read from the
store with the same clearance, so a hidden threat, interest or dependency never shapes an
answer. The analysis is kept with the projection it read (keten.queries.risk.RiskCache) and
computed again only when that projection is replaced.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from keten.api.analysis_bodies import ScenariosBody
from keten.api.problems import responses
from keten.api.routers.analysis import ProjectionDep
from keten.queries.report import diagram_bytes
from keten.queries.risk import Prefer, RiskCache, RiskOptions, RiskResult
from keten.queries.scenarios import ScenariosResult, compare_scenarios

router = APIRouter(
    prefix="/analysis", tags=["analysis"], responses=responses(400, 401, 403, 404, 422)
)


def risk_options(
    horizon_hours: Annotated[
        float, Query(ge=0, le=1e6, description="Horizon of the chain effects that derive impact.")
    ] = 72.0,
    min_strength: Annotated[
        float, Query(ge=0, le=1, description="Ignore dependencies weaker than this.")
    ] = 0.0,
    prefer: Annotated[
        Prefer, Query(description="Which impact class wins where both exist.")
    ] = "stated",
    top: Annotated[int, Query(ge=0, le=100, description="Chain effects shown per threat.")] = 5,
) -> RiskOptions:
    """The analysis options from the query string."""
    return RiskOptions(
        horizon_hours=horizon_hours, min_strength=min_strength, prefer=prefer, top=top
    )


OptionsDep = Annotated[RiskOptions, Depends(risk_options)]


def get_risk(request: Request, projection: ProjectionDep, options: OptionsDep) -> RiskResult:
    """The integrated analysis of the caller's projection, computed once per projection
    and options (keten.queries.risk.RiskCache)."""
    cache: RiskCache = request.app.state.risks
    return cache.get(projection, options)


RiskDep = Annotated[RiskResult, Depends(get_risk)]


@router.get("/risk")
def risk(result: RiskDep) -> RiskResult:
    """The integrated analysis: every threat with its likelihood, impact per interest, score
    and actors, and per interest the threats ranked worst first.

    Impact classes are stated by contributors or derived from the threat's chain effects
    (`impact_basis` says which; `derivation` shows the processes, times and chains). The
    reference data's classes are indicative estimates, not national risk assessment scores.
    """
    return result


def diagram(result: RiskResult, fmt: str) -> Response:
    """The risk diagram in `fmt` (png or svg)."""
    media = {"png": "image/png", "svg": "image/svg+xml"}[fmt]
    return Response(diagram_bytes(result, fmt), media_type=media)


@router.get(
    "/risk/diagram.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The risk diagram."}},
)
def risk_diagram_png(result: RiskDep) -> Response:
    """The risk diagram (likelihood x highest impact) of the integrated analysis, as PNG."""
    return diagram(result, "png")


@router.get(
    "/risk/diagram.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "The risk diagram."}},
)
def risk_diagram_svg(result: RiskDep) -> Response:
    """The risk diagram (likelihood x highest impact) of the integrated analysis, as SVG."""
    return diagram(result, "svg")


@router.post("/scenarios")
def scenarios(body: Annotated[ScenariosBody, Body()], projection: ProjectionDep) -> ScenariosResult:
    """Several named scenarios (threats and/or disrupted entities, each with a horizon) side by
    side: per scenario the cascade totals and the interests hit with their times, and per pair
    what one reaches that the other does not and which interests each hits earlier.
    """
    return compare_scenarios(projection, body)
