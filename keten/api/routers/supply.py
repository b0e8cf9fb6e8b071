"""The strategic dependency monitor over HTTP: dependencies and embargo under `/analysis`.

Thin wrappers around keten.queries.dependencies and keten.queries.embargo. Both read only
what the caller's clearance may see: shares, countries and links marked above it are left
out of the figures, and the embargo's cascade runs on the caller's projection.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from keten.api.deps import ReaderDep, StoreDep
from keten.api.problems import responses
from keten.api.routers.analysis import ProjectionDep
from keten.queries.dependencies import DependencyReport, Thresholds, dependency_report, read_supply
from keten.queries.embargo import EmbargoRequest, EmbargoResult, embargo

router = APIRouter(
    prefix="/analysis", tags=["analysis"], responses=responses(400, 401, 403, 404, 422)
)


def split_codes(values: list[str]) -> list[str]:
    """`flagged=CN,RU&flagged=IR` -> ["CN", "RU", "IR"]."""
    return [code.strip() for value in values for code in value.split(",") if code.strip()]


@router.get("/dependencies")
def dependencies(
    store: StoreDep,
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
) -> DependencyReport:
    """Per resource: HHI of its suppliers, non-EU and flagged shares, top supplier, the vital
    processes that need it, and the EU 2021 screening flags, with a time series per year.
    """
    data = read_supply(store, principal.clearance)
    thresholds = Thresholds(hhi=hhi_threshold, non_eu_share=non_eu_threshold)
    return dependency_report(
        data, year, scope, split_codes(flagged), thresholds, strategic_only=strategic_only
    )


@router.post("/embargo")
def run_embargo(
    body: Annotated[EmbargoRequest, Body()],
    store: StoreDep,
    principal: ReaderDep,
    projection: ProjectionDep,
) -> EmbargoResult:
    """What a supply stop by `country` takes away from each resource (passed down INPUT_TO),
    and the cascade from the resources whose shortfall reaches `threshold`.
    """
    return embargo(read_supply(store, principal.clearance), projection, body)
