"""RFC 9457 problem details: every error the API answers has the same shape.

FastAPI answers errors as `{"detail": ...}` by default; analysts' tools get one shape
instead, `application/problem+json` with `type`, `title`, `status` and `detail`, and an
`errors` list naming each bad field or record when there are several. The handlers here
cover request validation, malformed JSON, HTTP errors, refused bundles, analysis errors and,
as a last resort, anything unexpected (answered as a 500 problem without internals).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from keten.graph.store import StoreUnavailableError
from keten.ingest import BundleRejected
from keten.queries.errors import AnalysisInputError, UnknownEntityError

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://keten.example/problems/"
log = logging.getLogger("keten.api")

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    499: "Client closed request",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(BaseModel):
    """An RFC 9457 problem document, as every error answer of the API is."""

    type: str = Field(examples=[TYPE_BASE + "not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no entity 'vp:drinking-water'"])
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="One entry per bad field or record, when there are several."
    )


class ApiProblem(Exception):
    """Raise to answer with a problem; `slug` becomes the problem `type` URI and `headers`
    go out with it (`Retry-After` on a 429, say).
    """

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})


def invalid_cursor() -> ApiProblem:
    """The 422 for a cursor that no page of the listing produced."""
    return ApiProblem(422, "invalid-cursor", "the cursor is not one this listing produced")


def problem_response(
    status: int,
    slug: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json answer."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(
        body, status_code=status, media_type=MEDIA_TYPE, headers=dict(headers or {})
    )


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring problem answers for these statuses."""
    schema = Problem.model_json_schema()
    return {
        status: {
            "description": TITLES.get(status, "Error"),
            "content": {MEDIA_TYPE: {"schema": schema}},
        }
        for status in statuses
    }


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as `where` (body, query, path, header), `field` and `why`."""
    errors = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        where, field = (loc[0], ".".join(loc[1:])) if loc else ("request", "")
        errors.append({"where": where, "field": field, "why": error.get("msg", "invalid")})
    return errors


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Request validation: malformed JSON is a 400, any other bad input a 422."""
    assert isinstance(exc, RequestValidationError)
    if any(error.get("type") == "json_invalid" for error in exc.errors()):
        return problem_response(400, "malformed-json", "the request body is not valid JSON")
    errors = validation_errors(exc)
    fields = ", ".join(f"{e['where']} {e['field']}".strip() for e in errors[:5])
    return problem_response(422, "invalid-request", f"invalid input: {fields}", errors)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette and FastAPI HTTP errors (404 for unknown paths, 405, ...)."""
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
    slug = TITLES.get(exc.status_code, "error").lower().replace(" ", "-")
    return problem_response(exc.status_code, slug, detail, headers=exc.headers)


async def on_api_problem(request: Request, exc: Exception) -> JSONResponse:
    """Problems raised by keten's own routes."""
    assert isinstance(exc, ApiProblem)
    return problem_response(exc.status, exc.slug, exc.detail, exc.errors, exc.headers)


async def on_bundle_rejected(request: Request, exc: Exception) -> JSONResponse:
    """A refused bundle or record: 422 with every problem the loader found."""
    assert isinstance(exc, BundleRejected)
    errors = [problem.as_dict() for problem in exc.problems]
    detail = f"refused, nothing was written: {exc.total} problem(s)"
    return problem_response(422, "bundle-refused", detail, errors)


async def on_unknown_entity(request: Request, exc: Exception) -> JSONResponse:
    """An analysis named ids that are unknown (or hidden, which must look the same)."""
    assert isinstance(exc, UnknownEntityError)
    errors = [{"value": entity_id, "why": "unknown entity id"} for entity_id in exc.ids]
    return problem_response(404, "not-found", str(exc), errors[:100])


async def on_analysis_input(request: Request, exc: Exception) -> JSONResponse:
    """An analysis request that is well-formed but cannot be answered."""
    return problem_response(422, "invalid-analysis", str(exc))


async def on_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The store cannot be reached (a Neo4j server gone): 503, and the next request retries.

    The detail names where and what to check, never the credentials.
    """
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(503, "store-unavailable", str(exc), headers={"Retry-After": "5"})


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Last resort: log the error, answer a 500 problem that reveals nothing internal."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "internal-error", "an unexpected error occurred")


def install(app: FastAPI) -> None:
    """Register the problem handlers on `app`."""
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(ApiProblem, on_api_problem)
    app.add_exception_handler(BundleRejected, on_bundle_rejected)
    app.add_exception_handler(UnknownEntityError, on_unknown_entity)
    app.add_exception_handler(AnalysisInputError, on_analysis_input)
    app.add_exception_handler(StoreUnavailableError, on_store_unavailable)
    app.add_exception_handler(Exception, on_unexpected)
