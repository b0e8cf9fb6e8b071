"""Browser pages: login, the index with entity search, and the three graph views.

These answer HTML for people, not JSON for programs, so they are left out of the OpenAPI
schema. They see exactly what the JSON API would show the same key: every read takes the
key's clearance. Errors are still RFC 9457 problems (an unknown id is a 404 problem).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from keten.api.deps import KeyStoreDep, StoreDep, authenticate
from keten.api.pages.assets import ASSETS, asset_bytes
from keten.api.pages.graph import DEFAULT_MAX_NODES, MAX_NODES
from keten.api.pages.render import render, render_graph
from keten.api.pages.session import (
    COOKIE,
    PagePrincipal,
    PageProjection,
    SessionsDep,
    clear_login_cookie,
    safe_next,
    set_login_cookie,
)
from keten.api.pages.views import cascade_page, neighbourhood_page, supply_page
from keten.api.problems import ApiProblem
from keten.graph.store import EntityFilter

router = APIRouter(include_in_schema=False)

MAX_LOGIN_BODY = 4096
SEARCH_LIMIT = 50
EXAMPLES = (
    ("vp:electricity-national", "/pages/neighbourhood/{}?depth=1", "Neighbourhood of {}"),
    ("threat:power-outage", "/pages/cascade?sources={}&horizon_hours=72", "Chain effects of {}"),
    ("resource:gallium", "/pages/supply/{}", "Supply chain of {}"),
)

EntityPath = Annotated[str, Path(min_length=1, max_length=200)]
EntityQuery = Annotated[str, Query(min_length=1, max_length=200)]
MaxNodes = Annotated[
    int, Query(ge=1, le=MAX_NODES, description="Most nodes drawn; the most relevant are kept.")
]


@router.get("/")
def root() -> Response:
    """A browser that opens the server's address lands on the index (or its login)."""
    return RedirectResponse("/pages", status_code=307)


@router.get("/login", response_class=HTMLResponse)
def login_form(next: Annotated[str | None, Query(max_length=2000)] = None) -> HTMLResponse:
    """The login form: one field for an API key."""
    return render("login.html", title="Log in", next=safe_next(next))


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another site (login CSRF)."""
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    return origin is None or origin in (f"http://{host}", f"https://{host}")


LOGIN_ERRORS = {401: "That key is unknown or revoked.", 429: "Too many failed keys; wait a minute."}


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, keys: KeyStoreDep, sessions: SessionsDep) -> Response:
    """Check the key (rate limited like the API's) and open a session whose signed id goes
    into an HttpOnly cookie; back to the login form if the key is bad.
    """
    if not same_origin(request):
        raise ApiProblem(403, "cross-site-login", "the login form was posted from another site")
    body = await request.body()
    if len(body) > MAX_LOGIN_BODY:
        raise ApiProblem(413, "login-too-large", f"a login form is at most {MAX_LOGIN_BODY} bytes")
    form = parse_qs(body.decode("utf-8", errors="replace"))
    secret = (form.get("key") or [""])[0].strip()
    target = safe_next(next(iter(form.get("next", [])), None))
    if not secret:
        error = "Enter an API key."
        return render("login.html", status=401, title="Log in", next=target, error=error)
    try:
        principal = await run_in_threadpool(authenticate, request, keys, secret)
    except ApiProblem as refused:
        error = LOGIN_ERRORS.get(refused.status, refused.detail)
        page = render("login.html", status=refused.status, title="Log in", next=target, error=error)
        page.headers.update(refused.headers)
        return page
    cookie = await run_in_threadpool(sessions.open, principal.key_id)
    response = RedirectResponse(target, status_code=303)
    set_login_cookie(response, cookie, secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, sessions: SessionsDep) -> Response:
    """End the session server-side and drop the cookie; back to the login form."""
    cookie = request.cookies.get(COOKIE)
    if cookie:
        sessions.close(cookie)
    response = RedirectResponse("/login", status_code=303)
    clear_login_cookie(response)
    return response


@router.get("/pages/static/{name}")
def static_asset(name: Annotated[str, Path(max_length=100)]) -> Response:
    """vis-network and keten's page script and style (no data; open like /login)."""
    if name not in ASSETS:
        raise ApiProblem(404, "not-found", f"no page asset {name!r}")
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(asset_bytes(name), media_type=ASSETS[name].media_type, headers=headers)


@router.get("/pages", response_class=HTMLResponse)
def index(store: StoreDep, principal: PagePrincipal) -> HTMLResponse:
    """Links to the views, a search box, and examples that this key can open."""
    examples = []
    for entity_id, href, label in EXAMPLES:
        row = store.get_entity(entity_id, principal.clearance)
        if row is not None:
            examples.append(
                {"href": href.format(quote(entity_id)), "label": label.format(row.name)}
            )
    return render("index.html", title="Explore keten", principal=principal, examples=examples)


@router.get("/pages/search", response_class=HTMLResponse)
def search(
    store: StoreDep,
    principal: PagePrincipal,
    q: Annotated[str, Query(max_length=200, description="Text in a name, alias or id.")] = "",
) -> HTMLResponse:
    """Entities matching `q` that the key may see, each with links to its views."""
    query = q.strip()
    results, more = [], False
    if query:
        page = store.list_entities(
            EntityFilter(text=query, clearance=principal.clearance), limit=SEARCH_LIMIT
        )
        results, more = page.items, page.next_cursor is not None
    title = f"Search: {query}" if query else "Search"
    return render(
        "search.html", title=title, principal=principal, query=query, results=results, more=more
    )


@router.get("/pages/neighbourhood")
def neighbourhood_form(
    id: EntityQuery,
    principal: PagePrincipal,
    depth: Annotated[int, Query(ge=1, le=3)] = 1,
) -> Response:
    """The index form's answer: on to the neighbourhood page of `id`."""
    target = f"/pages/neighbourhood/{quote(id.strip(), safe='')}?depth={depth}"
    return RedirectResponse(target, status_code=303)


@router.get("/pages/supply")
def supply_form(id: EntityQuery, principal: PagePrincipal) -> Response:
    """The index form's answer: on to the supply page of `id`."""
    return RedirectResponse(f"/pages/supply/{quote(id.strip(), safe='')}", status_code=303)


def more_of(request: Request) -> str | None:
    """This page's address with the largest node cap (None if it has that cap already)."""
    if request.query_params.get("max_nodes") == str(MAX_NODES):
        return None
    query = request.url.include_query_params(max_nodes=MAX_NODES).query
    return f"{request.url.path}?{query}"


@router.get("/pages/neighbourhood/{entity_id}", response_class=HTMLResponse)
def neighbourhood(
    request: Request,
    entity_id: EntityPath,
    store: StoreDep,
    principal: PagePrincipal,
    depth: Annotated[int, Query(ge=1, le=3, description="Hops either way.")] = 1,
    max_nodes: MaxNodes = DEFAULT_MAX_NODES,
) -> HTMLResponse:
    """An entity and what lies within `depth` hops of it, coloured by kind."""
    page = neighbourhood_page(store, entity_id, depth, principal.clearance, max_nodes)
    return render_graph(page, more_of(request), principal=principal)


@router.get("/pages/cascade", response_class=HTMLResponse)
def cascade(
    request: Request,
    store: StoreDep,
    principal: PagePrincipal,
    projection: PageProjection,
    sources: Annotated[list[str], Query(min_length=1, max_length=100)],
    horizon_hours: Annotated[float, Query(ge=0, le=1e6)] = 72.0,
    min_strength: Annotated[float, Query(ge=0, le=1)] = 0.0,
    max_nodes: MaxNodes = DEFAULT_MAX_NODES,
) -> HTMLResponse:
    """The chain effects of disrupting `sources` (repeat the parameter for several)."""
    page = cascade_page(
        store, projection, sources, horizon_hours, min_strength, principal.clearance, max_nodes
    )
    return render_graph(page, more_of(request), principal=principal)


@router.get("/pages/supply/{resource_id}", response_class=HTMLResponse)
def supply(
    request: Request,
    resource_id: EntityPath,
    store: StoreDep,
    principal: PagePrincipal,
    max_nodes: MaxNodes = DEFAULT_MAX_NODES,
) -> HTMLResponse:
    """A resource's suppliers (edge width = share), inputs, products and dependents."""
    page = supply_page(store, resource_id, principal.clearance, max_nodes)
    return render_graph(page, more_of(request), principal=principal)
