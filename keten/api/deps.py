"""Typed dependencies of the routes: the store, the key store, the caller and their rights.

Routes take these as `Annotated` aliases, so that a handler's signature says what it needs:
`store: StoreDep`, `principal: ReaderDep` (any valid key), `ContributorDep`, `AdminDep`.
A key is accepted in `Authorization: Bearer KEY` or in `X-API-Key`; failed keys are rate
limited per client address and per key id (see keten.api.ratelimit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from keten.api.keys import KeyStore, Principal, Role, split_key
from keten.api.problems import ApiProblem
from keten.api.ratelimit import TOO_MANY, FailureLimiter, wait_detail
from keten.graph.store import GraphStore

MAX_ID = 200
"""Longest entity id or relation key the API accepts (the schema's limit)."""

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer KEY`")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key.")


async def get_store(request: Request) -> GraphStore:
    """The graph store the app was made with (async: a lookup costs no trip to a thread)."""
    store: GraphStore = request.app.state.store
    return store


async def get_key_store(request: Request) -> KeyStore:
    """The key store of the app."""
    keys: KeyStore = request.app.state.keys
    return keys


StoreDep = Annotated[GraphStore, Depends(get_store)]
KeyStoreDep = Annotated[KeyStore, Depends(get_key_store)]


def client_address(request: Request) -> str:
    """The address failures are counted against (uvicorn's, after any trusted proxy)."""
    return request.client.host if request.client else "unknown"


def authenticate(request: Request, keys: KeyStore, secret: str) -> Principal:
    """The principal of `secret`: 429 problem (with Retry-After) when its client or key id
    failed too often lately, 401 problem when it is not a live key.

    The limit is checked before the key is, so a refused attempt costs no scrypt; a key
    that passed before in this process is let through whatever the limits say, so an
    attack on a key id does not lock out those already using it.
    """
    limiter: FailureLimiter = request.app.state.auth_failures
    client, key_id = client_address(request), split_key(secret)
    if not keys.verified_before(secret):
        wait = limiter.retry_after(client, key_id)
        if wait:
            headers = {"Retry-After": str(wait)}
            raise ApiProblem(429, TOO_MANY, wait_detail(wait), headers=headers)
    principal = keys.verify(secret)
    if principal is None:
        limiter.failed(client, key_id)
        raise ApiProblem(401, "invalid-key", "the key is unknown or revoked")
    return principal


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    header_key: Annotated[str | None, Security(api_key_header)],
) -> Principal:
    """The caller of a valid key; 401 problem when the key is missing, unknown or revoked,
    429 when this client or key id failed too often lately.

    A key that passed before costs one indexed read (is it revoked?), done on the event
    loop; a new or wrong one costs a scrypt, done on a worker thread so the loop serves on.
    """
    secret = credentials.credentials if credentials else header_key
    if not secret:
        raise ApiProblem(401, "missing-key", "send a key in `Authorization: Bearer` or X-API-Key")
    keys: KeyStore = request.app.state.keys
    if keys.verified_before(secret):
        return authenticate(request, keys, secret)
    return await run_in_threadpool(authenticate, request, keys, secret)


def require_role(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through keys whose role includes `role`, else a 403 problem.

    It checks the key itself (one dependency, not a chain of them), since every keyed
    request pays for each level FastAPI resolves.
    """

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
        header_key: Annotated[str | None, Security(api_key_header)],
    ) -> Principal:
        principal = await get_principal(request, credentials, header_key)
        if not principal.role.includes(role):
            detail = f"this needs the {role.value} role; the key is a {principal.role.value}"
            raise ApiProblem(403, "forbidden-role", detail)
        return principal

    return check


ReaderDep = Annotated[Principal, Depends(require_role(Role.READER))]
ContributorDep = Annotated[Principal, Depends(require_role(Role.CONTRIBUTOR))]
ReviewerDep = Annotated[Principal, Depends(require_role(Role.REVIEWER))]
AdminDep = Annotated[Principal, Depends(require_role(Role.ADMIN))]

LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Page size, 1 to 1000.")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=1000, description="`next_cursor` of the previous page."),
]
EntityIdQuery = Annotated[str, Query(min_length=1, max_length=MAX_ID)]
AsOfQuery = Annotated[
    datetime | None,
    Query(
        description="List the records as they were at this time (ISO 8601, UTC if no zone).",
        examples=["2026-01-01T00:00:00Z"],
    ),
]
