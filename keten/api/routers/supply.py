"""The strategic dependency monitor over HTTP: dependencies and embargo under `/analysis`.

Thin wrappers around keten.queries.dependencies and keten.queries.embargo. Both read only
what the caller's clearance may see: shares, countries and links marked above it are left
out of the figures, and the embargo's cascade runs on the caller's projection.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from keten.api.admission import AnalysisSlot
from keten.api.analysis_bodies import EmbargoBody
from keten.api.deps import ReaderDep
from keten.api.problems import responses
from keten.api.routers.analysis import ProjectionDep, projection_for
from keten.queries.dependencies import (
    DEPENDENCY_LINES,
    DEPENDENCY_PROCESSES,
    DependencyReport,
    SupplyCache,
    SupplyData,
    Thresholds,
    dependency_report,
    projection_dependents,
)
from keten.queries.embargo import EmbargoResult, embargo

router = APIRouter(
    prefix="/analysis", tags=["analysis"], responses=responses(400, 401, 403, 404, 422)
)


_cache_lock = threading.Lock()


def get_supply(request: Request, principal: ReaderDep) -> SupplyData:
    """The supply data of the current revision as the caller's clearance sees it (cached)."""
    state = request.app.state
    with _cache_lock:
        if getattr(state, "supply", None) is None:
            state.supply = SupplyCache(state.store)
    cache: SupplyCache = state.supply
    return cache.get(principal.clearance)


SupplyDep = Annotated[SupplyData, Depends(get_supply)]


def split_codes(values: list[str]) -> list[str]:
    """`flagged=CN,RU&flagged=IR` -> ["CN", "RU", "IR"]."""
    return [code.strip() for value in values for code in value.split(",") if code.strip()]


@router.get("/dependencies", dependencies=[AnalysisSlot], responses=responses(503))
def dependencies(
    data: SupplyDep,
    request: Request,
    principal: ReaderDep,
    year: Annotated[
        int | None, Query(ge=1900, le=2100, description="Year of the headline (default latest).")
    ] = None,
    scope: Annotated[
        str | None, Query(min_length=1, max_length=200, examples=["imports_value"])
    ] = None,
    flagged: Annotated[
        list[str],
        Query(
            max_length=300,
            description="More countries to flag (ISO2, ids or names; comma-separated or repeated).",
            examples=[["CN,RU"]],
        ),
    ] = [],  # noqa: B006  (FastAPI copies query defaults)
    hhi_threshold: Annotated[float, Query(ge=0, le=1, description="Concentration flag above.")] = (
        0.4
    ),
    non_eu_threshold: Annotated[
        float, Query(ge=0, le=1, description="Import-dependence flag above.")
    ] = 0.5,
    strategic_only: Annotated[bool, Query(description="Only resources flagged strategic.")] = False,
    limit: Annotated[
        int, Query(ge=1, le=10_000, description="Lines given, strategic first (`total`: all).")
    ] = DEPENDENCY_LINES,
    max_processes: Annotated[
        int, Query(ge=1, le=1000, description="Vital processes given per line, closest first.")
    ] = DEPENDENCY_PROCESSES,
) -> DependencyReport:
    """Per resource: HHI of its suppliers, non-EU and flagged shares, top supplier, the vital
    processes that need it, and the EU 2021 screening flags, with a time series per year.

    The first `limit` resources (strategic first, then by HHI; `total` counts all), each
    with its `max_processes` closest vital processes. The processes are found on the
    caller's projection (every visible dependency), as the embargo's cascade is.
    """
    thresholds = Thresholds(hhi=hhi_threshold, non_eu_share=non_eu_threshold)
    return dependency_report(
        data,
        year,
        scope,
        split_codes(flagged),
        thresholds,
        strategic_only=strategic_only,
        limit=limit,
        max_processes=max_processes,
        dependents=projection_dependents(projection_for(request, principal, "all")),
    )


@router.post("/embargo", dependencies=[AnalysisSlot], responses=responses(503))
def run_embargo(
    body: Annotated[EmbargoBody, Body()], data: SupplyDep, projection: ProjectionDep
) -> EmbargoResult:
    """What a supply stop by `country` takes away from each resource (passed down INPUT_TO),
    and the cascade from the resources whose shortfall reaches `threshold`.
    """
    return embargo(data, projection, body)
