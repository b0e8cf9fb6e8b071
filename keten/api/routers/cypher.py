"""Read-only Cypher on the Neo4j store: named analyst queries, and raw Cypher for RED keys.

The named queries (keten/graph/queries.yaml) show their Cypher, take typed parameters and
filter every node and relationship by the caller's clearance. Raw Cypher cannot be filtered
that way, so it is only for keys cleared for everything, and runs in a READ transaction
after write clauses are refused. On the embedded SQLite store they answer 409 with the reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, Field

from keten.api.deps import ReaderDep, StoreDep
from keten.api.problems import ApiProblem, responses
from keten.graph.named_queries import (
    CypherQueryError,
    CypherResult,
    CypherUnavailableError,
    load_queries,
    run,
    run_readonly,
)

router = APIRouter(prefix="/cypher", tags=["cypher"], responses=responses(401, 403, 409, 422))


class CypherRows(BaseModel):
    """Rows of a read query."""

    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool = Field(description="More rows matched than `limit`.")


class NamedRun(BaseModel):
    """Parameters of a named query."""

    params: dict[str, Any] = Field(default_factory=dict, examples=[{"id": "vp:drinking-water"}])
    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000


class RawRun(BaseModel):
    """A raw read-only Cypher statement."""

    cypher: Annotated[str, Field(min_length=1, max_length=20_000)] = Field(
        examples=["MATCH (p:VitalProcess) RETURN p.id AS id LIMIT 5"]
    )
    params: dict[str, Any] = Field(default_factory=dict)
    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000


def answer(result: CypherResult) -> CypherRows:
    """The result as the response model."""
    return CypherRows(columns=result.columns, rows=result.rows, truncated=result.truncated)


def problem(error: Exception) -> ApiProblem:
    """The problem for what the query layer refused."""
    if isinstance(error, CypherUnavailableError):
        return ApiProblem(409, "cypher-unavailable", str(error))
    if isinstance(error, PermissionError):
        return ApiProblem(403, "forbidden-clearance", str(error))
    return ApiProblem(422, "invalid-cypher", str(error))


@router.get("/queries")
def list_queries(principal: ReaderDep) -> list[dict[str, Any]]:
    """The named analyst queries, with their parameters and the Cypher behind each."""
    return [query.as_dict() for query in load_queries().values()]


@router.post("/queries/{name}")
def run_named(
    name: Annotated[str, Path(min_length=1, max_length=100)],
    body: Annotated[NamedRun, Body()],
    store: StoreDep,
    principal: ReaderDep,
) -> CypherRows:
    """Run a named query on what the caller's clearance may see."""
    try:
        return answer(run(store, name, body.params, principal.clearance, body.limit))
    except (CypherUnavailableError, CypherQueryError, PermissionError) as error:
        raise problem(error) from None


@router.post("")
def run_raw(body: Annotated[RawRun, Body()], store: StoreDep, principal: ReaderDep) -> CypherRows:
    """Run raw read-only Cypher (keys cleared for TLP:RED only)."""
    try:
        result = run_readonly(store, body.cypher, body.params, body.limit, principal.clearance)
    except (CypherUnavailableError, CypherQueryError, PermissionError) as error:
        raise problem(error) from None
    return answer(result)
