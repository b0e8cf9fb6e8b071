"""The integrated risk analysis, its risk diagram and scenario what-ifs over HTTP.

Everything is computed on the graph the caller's clearance may see: the projection comes
from the app's cache for that clearance, and the threats' stated classes are read from the
store with the same clearance, so a hidden threat, interest or dependency never shapes an
answer. The analysis is kept with the projection it read (keten.queries.riskpages.RiskCache)
and computed again only when that projection is replaced; it is kept compact (no process
listed) and each page's processes are listed when the page is asked for. Every route here
runs holding a slot of the app's `AnalysisGate` (keten.api.admission).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from keten.api.admission import AnalysisSlot
from keten.api.analysis_bodies import ScenariosBody
from keten.api.answers import json_answer
from keten.api.deps import CursorQuery
from keten.api.problems import ApiProblem, invalid_cursor, responses
from keten.api.routers.analysis import ProjectionDep
from keten.queries.report import diagram_bytes
from keten.queries.risk import Prefer, RiskOptions, RiskResult
from keten.queries.riskpages import RiskAnalysis, RiskCache
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


def options_key(options: RiskOptions) -> str:
    """A short digest of the options, so a cursor is only read with the options it came from."""
    return hashlib.sha256(options.model_dump_json().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RiskCursor:
    """Where the next page of one analysis starts: an offset in its rankings, the revision
    it was computed on and its options (opaque to clients: URL-safe base64 of JSON)."""

    offset: int
    revision: int
    options: str

    def write(self) -> str:
        """The cursor as the client sees it."""
        text = json.dumps([self.offset, self.revision, self.options])
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def read(cls, cursor: str) -> RiskCursor:
        """The cursor a page gave; 422 problem for anything else."""
        try:
            raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            offset, revision, options = raw
            if not (isinstance(offset, int) and isinstance(revision, int) and offset >= 0):
                raise ValueError(raw)
            return cls(offset, revision, str(options))
        except (ValueError, TypeError):  # not base64, not JSON, not three values
            raise invalid_cursor() from None

    def check(self, revision: int, options: str) -> None:
        """409 when the analysis changed since the cursor was given, 422 when the options
        differ from those of the first page (the rankings would not continue)."""
        if options != self.options:
            raise ApiProblem(422, "invalid-cursor", "the cursor was given with other options")
        if revision != self.revision:
            detail = (
                f"the analysis changed since this cursor (revision {self.revision}, now "
                f"{revision}); ask again without a cursor"
            )
            raise ApiProblem(409, "stale-cursor", detail)


def get_risk(request: Request, projection: ProjectionDep, options: OptionsDep) -> RiskAnalysis:
    """The integrated analysis of the caller's projection, computed once per projection
    and options (keten.queries.riskpages.RiskCache)."""
    cache: RiskCache = request.app.state.risks
    return cache.get(projection, options)


RiskDep = Annotated[RiskAnalysis, Depends(get_risk)]


@router.get(
    "/risk",
    response_model=RiskResult,
    dependencies=[AnalysisSlot],
    responses=responses(409, 503),
)
def risk(
    analysis: RiskDep,
    options: OptionsDep,
    cursor: CursorQuery = None,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Threats per page, and per interest.")
    ] = 100,
    processes: Annotated[
        int, Query(ge=1, le=10000, description="Processes listed per derived impact.")
    ] = 50,
) -> Response:
    """The integrated analysis: every threat with its likelihood, impact per interest, score
    and actors, and per interest the threats ranked worst first.

    Impact classes are stated by contributors or derived from the threat's chain effects
    (`impact_basis` says which; `derivation` shows the processes, times and chains). The
    reference data's classes are indicative estimates, not national risk assessment scores.

    It comes a page at a time: `limit` threats of the ranking and the same window of each
    interest's ranking, with at most `processes` processes per derivation (totals and
    points count them all); `next_cursor` asks for the next page of the same analysis.
    """
    key = options_key(options)
    result = analysis.summary
    page = RiskCursor(offset=0, revision=result.revision, options=key)
    if cursor is not None:
        page = RiskCursor.read(cursor)
        page.check(result.revision, key)
    answer = analysis.page(page.offset, limit, processes)
    end = page.offset + limit
    if end < result.threats_total:
        answer.next_cursor = RiskCursor(end, result.revision, page.options).write()
    return json_answer(answer)


def diagram(result: RiskResult, fmt: str) -> Response:
    """The risk diagram in `fmt` (png or svg)."""
    media = {"png": "image/png", "svg": "image/svg+xml"}[fmt]
    return Response(diagram_bytes(result, fmt), media_type=media)


@router.get(
    "/risk/diagram.png",
    response_class=Response,
    dependencies=[AnalysisSlot],
    responses={
        200: {"content": {"image/png": {}}, "description": "The risk diagram."},
        **responses(503),
    },
)
def risk_diagram_png(analysis: RiskDep) -> Response:
    """The risk diagram (likelihood x highest impact) of the integrated analysis, as PNG."""
    return diagram(analysis.summary, "png")


@router.get(
    "/risk/diagram.svg",
    response_class=Response,
    dependencies=[AnalysisSlot],
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "The risk diagram."},
        **responses(503),
    },
)
def risk_diagram_svg(analysis: RiskDep) -> Response:
    """The risk diagram (likelihood x highest impact) of the integrated analysis, as SVG."""
    return diagram(analysis.summary, "svg")


@router.post("/scenarios", dependencies=[AnalysisSlot], responses=responses(503))
def scenarios(body: Annotated[ScenariosBody, Body()], projection: ProjectionDep) -> ScenariosResult:
    """Several named scenarios (threats and/or disrupted entities, each with a horizon) side by
    side: per scenario the cascade totals and the interests hit with their times, and per pair
    what one reaches that the other does not and which interests each hits earlier.
    """
    return compare_scenarios(projection, body)
