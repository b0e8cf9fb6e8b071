"""The FastAPI application: `create_app()` wires the store, the keys, the login sessions,
the limit on failed keys, the problem handlers, the offline docs and one router per area.

>>> import tempfile, pathlib
>>> from keten.config import Settings
>>> from keten.graph.sqlite import SqliteStore
>>> home = pathlib.Path(tempfile.mkdtemp())
>>> app = create_app(SqliteStore(home / "g.sqlite"), Settings(home=home))
>>> "/analysis/cascade" in app.openapi()["paths"]
True
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

import keten
from keten.api import docs, problems
from keten.api.admission import AnalysisGate
from keten.api.keys import KeyStore
from keten.api.limits import MAX_BODY_BYTES, BodyLimit
from keten.api.pages.session import COOKIE_MAX_AGE
from keten.api.ratelimit import AuthLimits, FailureGate, FailureLimiter
from keten.api.routers import (
    analysis,
    cypher,
    entities,
    export,
    health,
    ingest,
    keys,
    pages,
    relations,
    risk,
    submissions,
    supply,
)
from keten.api.sessions import Sessions
from keten.config import Settings
from keten.graph import GraphStore, open_store
from keten.graph.projection import ProjectionCache
from keten.queries.riskpages import RiskCache

DESCRIPTION = """
keten is a knowledge network for national-security analysis: interests, threats, actors,
vital processes, supply chains, and the chain effects ("keteneffecten") of a disruption.

Every operation below but `/health` needs an API key, sent as `Authorization: Bearer KEY`
or `X-API-Key: KEY` (make one with `keten keys create --role reader --clearance green`).
Roles are cumulative: reader (read and analyse) < contributor (submit knowledge) <
reviewer < admin (deletes and keys). A key's TLP clearance bounds everything it sees:
records marked above it are never returned, counted or used in an analysis; keys that write
are cleared for green at least. Failed keys are rate limited per client address and per key
id: past the limit the answer is 429 with `Retry-After`.
Errors are RFC 9457 problem details (`application/problem+json`).

**Documentation policy: open.** This document (`/openapi.json`), `/docs` and `/redoc` need
no key: they describe routes and shapes and hold no records (their examples are public
reference data). Both pages work offline: keten serves their scripts itself.
"""

TAGS = [
    {"name": "health", "description": "Liveness; the only open route."},
    {"name": "entities", "description": "Interests, threats, actors, processes, resources..."},
    {"name": "relations", "description": "Typed, directed relations between entities."},
    {"name": "ingest", "description": "Whole bundles, all-or-nothing."},
    {"name": "analysis", "description": "Chain effects and the other analyses."},
    {"name": "export", "description": "The graph as a bundle or STIX 2.1, within clearance."},
    {"name": "keys", "description": "API keys (admin; only keys within its clearance)."},
    {"name": "submissions", "description": "Knowledge proposed by institutes, and its review."},
    {"name": "audit", "description": "Who changed what, when, from which submission."},
    {"name": "cypher", "description": "Read-only Cypher on the Neo4j store (named queries)."},
]


COMMON_ERRORS = {
    "400": "Bad request: the body is not valid JSON.",
    "413": "Payload too large: the body is over the server's cap.",
}
"""Problems any operation with a body may answer (before its own validation runs)."""
KEYED_ERRORS = {
    "401": "Unauthorized: the key is missing, unknown or revoked.",
    "429": "Too many failed keys from this client or for this key id; see `Retry-After`.",
}
"""Problems any operation that needs a key may answer."""


def operation_id(route: APIRoute) -> str:
    """Stable OpenAPI operation ids (`entities-read_entity`) for generated clients."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def declare_common_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Add to every operation the problems that the app's middleware and key check can
    answer whatever the route: 400 and 413 where there is a body, 401 and 429 where a key
    is needed. Routes' own descriptions of those statuses are kept.
    """
    problem = problems.responses(400)[400]
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            common = dict(COMMON_ERRORS) if "requestBody" in operation else {}
            if operation.get("security"):
                common |= KEYED_ERRORS
            answers = operation.setdefault("responses", {})
            for status, description in common.items():
                answers.setdefault(status, {**problem, "description": description})
    return spec


def with_common_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi` that also declares the common problems (built once, then cached)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_common_errors(build())
        return app.openapi_schema

    return openapi


def create_app(
    store: GraphStore | None = None,
    settings: Settings | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    auth_limits: AuthLimits | None = None,
    session_seconds: float = COOKIE_MAX_AGE,
) -> FastAPI:
    """The API over `store` (opened from `settings` when None, and then closed on shutdown).

    `auth_limits` bound failed keys (default: from the KETEN_AUTH_* variables);
    `session_seconds` is how long a browser login lasts.
    """
    settings = settings or Settings.from_env()
    owns_store = store is None
    graph = store if store is not None else open_store(settings)
    key_store = KeyStore(settings.keys_path)
    sessions = Sessions(key_store, settings.home / "session.key", session_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from keten.queries.kernel import warm_up

        warm_up()  # compiled kernels loaded before the first request, not during it
        app.state.projections.open_kept()  # and the projections kept beside the store
        yield
        key_store.close()
        if owns_store:
            graph.close()

    app = FastAPI(
        title="keten",
        summary="Knowledge network for national-security analysis.",
        description=DESCRIPTION,
        version=getattr(keten, "__version__", "0.1.0"),
        openapi_tags=TAGS,
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.openapi = with_common_errors(app)  # type: ignore[method-assign]
    app.state.store = graph
    app.state.keys = key_store
    app.state.sessions = sessions
    limiter = FailureLimiter(auth_limits or AuthLimits.from_env())
    app.state.auth_failures = limiter
    app.state.settings = settings
    app.state.projections = ProjectionCache(graph, settings.projection_dir, background=True)
    app.state.risks = RiskCache(graph)
    app.state.analysis_gate = AnalysisGate(settings.analysis_slots, settings.analysis_wait_seconds)
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(FailureGate, limiter=limiter, keys=key_store)  # outermost: cheapest
    routers = (health, entities, relations, ingest, submissions, analysis, supply, risk)
    for module in (*routers, export, cypher, keys, pages, docs):
        app.include_router(module.router)
    return app
