"""Browser pages: login, the index with entity search, the graph views, the analysis
tables (risk, embargo, scenarios, criticality, paths) and the report.

These answer HTML for people, not JSON for programs, so they are left out of the OpenAPI
schema. They see exactly what the JSON API would show the same key: every read takes the
key's clearance, and so does every download of a page's tables (`?download=csv|json`).
Errors are still RFC 9457 problems (an unknown id is a 404 problem). The views whose
analysis can take a while (cascade, risk, criticality, scenarios) send their title and a
"working" line at once and the content when it is ready. The whole-graph analyses (risk, its
diagrams and report, embargo, scenarios, criticality, paths) hold a slot of the app's
`AnalysisGate` like their API routes (keten.api.admission), taken after the login check
and kept until the page is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from keten.api.admission import gate_of
from keten.api.deps import KeyStoreDep, StoreDep, authenticate
from keten.api.keys import Principal
from keten.api.pages.analyses import (
    AnalysisPage,
    Names,
    criticality_page,
    embargo_page,
    paths_page,
    risk_page,
    scenarios_page,
)
from keten.api.pages.assets import ASSETS, asset_bytes
from keten.api.pages.errors import PageRoute
from keten.api.pages.frame import Frame, FrameDep, OpenFrameDep
from keten.api.pages.graph import DEFAULT_MAX_NODES, MAX_NODES, GraphPage
from keten.api.pages.i18n import Lang
from keten.api.pages.render import (
    HEADERS,
    graph_context,
    render,
    render_fragment,
    render_streamed,
)
from keten.api.pages.session import (
    COOKIE,
    SessionsDep,
    clear_login_cookie,
    safe_next,
    set_login_cookie,
)
from keten.api.pages.tables import Download, download
from keten.api.pages.views import (
    cascade_page,
    cascade_title,
    entity_or_404,
    neighbourhood_page,
    neighbourhood_title,
    supply_focus,
    supply_page,
    supply_title,
)
from keten.api.problems import ApiProblem
from keten.api.routers.supply import get_supply
from keten.graph.projection import Projection, ProjectionCache
from keten.graph.store import EntityFilter, GraphStore
from keten.queries.criticality import CriticalityRequest, criticality
from keten.queries.embargo import EmbargoRequest, embargo
from keten.queries.paths import PathsRequest, paths
from keten.queries.report import REPORT_PROCESSES, cited_sources, diagram_bytes, render_report
from keten.queries.risk import Prefer, RiskOptions
from keten.queries.riskpages import RiskAnalysis, RiskCache
from keten.queries.scenarios import ScenariosRequest, compare_scenarios
from keten.schema.kinds import EntityKind
from keten.schema.markings import Tlp

router = APIRouter(include_in_schema=False, route_class=PageRoute)
R = TypeVar("R")

MAX_LOGIN_BODY = 4096
SEARCH_LIMIT = 50
EXAMPLES = (
    ("vp:electricity-national", "/pages/neighbourhood/{}?depth=1", "Neighbourhood of {name}"),
    (
        "threat:power-outage",
        "/pages/cascade?sources={}&horizon_hours=72",
        "Chain effects of {names}",
    ),
    ("resource:gallium", "/pages/supply/{}", "Supply chain of {name}"),
)

EntityPath = Annotated[str, Path(min_length=1, max_length=200)]
EntityQuery = Annotated[str, Query(min_length=1, max_length=200)]
MaxNodes = Annotated[
    int, Query(ge=1, le=MAX_NODES, description="Most nodes drawn; the most relevant are kept.")
]
DownloadQuery = Annotated[
    Download | None, Query(description="Answer one of the page's tables as a file.")
]
TableQuery = Annotated[str | None, Query(max_length=100, description="Which table to download.")]
Horizon = Annotated[float, Query(ge=0, le=1e6)]
Strength = Annotated[float, Query(ge=0, le=1)]


async def page_slot(request: Request, frame: FrameDep) -> AsyncIterator[None]:
    """Page dependency: the page's analysis runs, and its streamed content is sent, holding
    a slot (taken after the login check, which is why it names the frame)."""
    async with gate_of(request).slot(request):
        yield


PageSlot = Depends(page_slot)


@router.get("/")
def root() -> Response:
    """A browser that opens the server's address lands on the index (or its login)."""
    return RedirectResponse("/pages", status_code=307)


@router.get("/login", response_class=HTMLResponse)
def login_form(
    frame: OpenFrameDep, next: Annotated[str | None, Query(max_length=2000)] = None
) -> HTMLResponse:
    """The login form: one field for an API key."""
    return render("login.html", frame, title=frame.lang._("Log in"), next=safe_next(next))


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another site (login CSRF)."""
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    return origin is None or origin in (f"http://{host}", f"https://{host}")


LOGIN_ERRORS = {401: "That key is unknown or revoked.", 429: "Too many failed keys; wait a minute."}


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request, keys: KeyStoreDep, sessions: SessionsDep, frame: OpenFrameDep
) -> Response:
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
    title = frame.lang._("Log in")
    if not secret:
        error = frame.lang._("Enter an API key.")
        return render("login.html", frame, status=401, title=title, next=target, error=error)
    try:
        principal = await run_in_threadpool(authenticate, request, keys, secret)
    except ApiProblem as refused:
        error = (
            frame.lang._(LOGIN_ERRORS[refused.status])
            if refused.status in LOGIN_ERRORS
            else (refused.detail)
        )
        page = render(
            "login.html", frame, status=refused.status, title=title, next=target, error=error
        )
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
def index(store: StoreDep, frame: FrameDep) -> HTMLResponse:
    """Links to every view, a search box, and examples that this key can open."""
    examples = []
    lang, clearance = frame.lang, reader_clearance(frame)
    for entity_id, href, label in EXAMPLES:
        row = store.get_entity(entity_id, clearance)
        if row is not None:
            name = lang.name(row.name, row.props)
            text = lang._(label, name=name, names=name)
            examples.append({"href": href.format(quote(entity_id)), "label": text})
    title = lang._("Explore keten")
    return render("index.html", frame, title=title, examples=examples)


def reader(frame: Frame) -> Principal:
    """The page's reader (every route but the login form has one)."""
    assert frame.principal is not None
    return frame.principal


def reader_clearance(frame: Frame) -> Tlp:
    """The clearance of the page's reader."""
    return reader(frame).clearance


@router.get("/pages/search", response_class=HTMLResponse)
def search(
    store: StoreDep,
    frame: FrameDep,
    q: Annotated[str, Query(max_length=200, description="Text in a name, alias or id.")] = "",
) -> HTMLResponse:
    """Entities matching `q` that the key may see, each with links to its views."""
    query = q.strip()
    results: list[dict[str, Any]] = []
    more = False
    if query:
        page = store.list_entities(
            EntityFilter(text=query, clearance=reader_clearance(frame)), limit=SEARCH_LIMIT
        )
        results = [
            {
                "id": r.id,
                "kind": r.kind,
                "marking": r.marking,
                "shown": frame.lang.name(r.name, r.props),
            }
            for r in page.items
        ]
        more = page.next_cursor is not None
    lang = frame.lang
    title = lang._("Search: {query}", query=query) if query else lang._("Search")
    return render("search.html", frame, title=title, query=query, results=results, more=more)


@router.get("/pages/neighbourhood")
def neighbourhood_form(
    id: EntityQuery,
    frame: FrameDep,
    depth: Annotated[int, Query(ge=1, le=3)] = 1,
) -> Response:
    """The index form's answer: on to the neighbourhood page of `id`."""
    target = f"/pages/neighbourhood/{quote(id.strip(), safe='')}?depth={depth}"
    return RedirectResponse(target, status_code=303)


@router.get("/pages/supply")
def supply_form(id: EntityQuery, frame: FrameDep) -> Response:
    """The index form's answer: on to the supply page of `id`."""
    return RedirectResponse(f"/pages/supply/{quote(id.strip(), safe='')}", status_code=303)


def more_of(request: Request) -> str | None:
    """This page's address with the largest node cap (None if it has that cap already)."""
    if request.query_params.get("max_nodes") == str(MAX_NODES):
        return None
    query = request.url.include_query_params(max_nodes=MAX_NODES).query
    return f"{request.url.path}?{query}"


def stem(path: str) -> str:
    """The start of a download's file name: the page's path without `/pages/`."""
    return path.removeprefix("/pages/").replace("/", "-") or "page"


def graph_view(
    request: Request,
    frame: Frame,
    title: str,
    build: Callable[[], GraphPage],
    fmt: Download | None,
    table: str | None,
) -> Response:
    """A graph page whose title and "working" line are sent at once and whose network
    follows when `build` has it, or one of its tables as a file (checks that decide the
    status, such as an unknown id, belong before this call)."""
    if fmt is not None:
        return download(build().tables, fmt, table, stem(request.url.path))
    more = more_of(request)
    return render_streamed("graph.html", frame, lambda: graph_context(build(), more), title=title)


@router.get("/pages/neighbourhood/{entity_id}", response_class=HTMLResponse)
def neighbourhood(
    request: Request,
    entity_id: EntityPath,
    store: StoreDep,
    frame: FrameDep,
    depth: Annotated[int, Query(ge=1, le=3, description="Hops either way.")] = 1,
    max_nodes: MaxNodes = DEFAULT_MAX_NODES,
    download: DownloadQuery = None,
    table: TableQuery = None,
) -> Response:
    """An entity and what lies within `depth` hops of it, coloured by kind (the title and a
    "working" line at once: a hub's neighbourhood takes a while)."""
    clearance, lang = reader_clearance(frame), frame.lang
    title = neighbourhood_title(entity_or_404(store, entity_id, clearance), lang)

    def build() -> GraphPage:
        return neighbourhood_page(store, entity_id, depth, clearance, max_nodes, lang)

    return graph_view(request, frame, title, build, download, table)


def page_projection(request: Request, frame: Frame) -> Projection:
    """The analysis graph as the page's reader may see it (shared with the JSON API)."""
    cache: ProjectionCache = request.app.state.projections
    return cache.get(reader_clearance(frame))


@router.get("/pages/cascade", response_class=HTMLResponse)
def cascade(
    request: Request,
    store: StoreDep,
    frame: FrameDep,
    sources: Annotated[list[str], Query(min_length=1, max_length=100)],
    horizon_hours: Horizon = 72.0,
    min_strength: Strength = 0.0,
    max_nodes: MaxNodes = DEFAULT_MAX_NODES,
    download: DownloadQuery = None,
    table: TableQuery = None,
) -> Response:
    """The chain effects of disrupting `sources` (repeat the parameter for several); the
    title and a "working" line come at once, the graph when the cascade is done."""
    clearance, lang = reader_clearance(frame), frame.lang
    title = cascade_title(store, sources, clearance, lang)  # 404 before anything is sent

    def build() -> GraphPage:
        projection = page_projection(request, frame)
        return cascade_page(
            store, projection, sources, horizon_hours, min_strength, clearance, max_nodes, lang
        )

    return graph_view(request, frame, title, build, download, table)


@router.get("/pages/supply/{resource_id}", response_class=HTMLResponse)
def supply(
    request: Request,
    resource_id: EntityPath,
    store: StoreDep,
    frame: FrameDep,
    max_nodes: MaxNodes = DEFAULT_MAX_NODES,
    download: DownloadQuery = None,
    table: TableQuery = None,
) -> Response:
    """A resource's suppliers (edge width = share), inputs, products and dependents."""
    clearance, lang = reader_clearance(frame), frame.lang
    title = supply_title(supply_focus(store, resource_id, clearance), lang)

    def build() -> GraphPage:
        return supply_page(store, resource_id, clearance, max_nodes, lang)

    return graph_view(request, frame, title, build, download, table)


# --- analysis pages: tables (and the risk diagram) ------------------------------------------


def analysis_answer(
    request: Request,
    frame: Frame,
    title: str,
    build: Callable[[], AnalysisPage],
    fmt: Download | None,
    table: str | None,
    *,
    streamed: bool = False,
    **head: Any,
) -> Response:
    """An analysis page (at once, or streamed behind a "working" line), or one of its
    tables as a file."""
    if fmt is not None:
        return download(build().tables, fmt, table, stem(request.url.path))
    if streamed:
        return render_streamed(
            "analysis.html", frame, lambda: build().context(), title=title, **head
        )
    return render("analysis.html", frame, title=title, **build().context(), **head)


@dataclass(frozen=True)
class Asked:
    """What an analysis page was asked: by whom and in which language (the frame), of which
    store, and whether for the page or for one of its tables as a file (`fmt`, `table`)."""

    request: Request
    store: GraphStore
    frame: Frame
    fmt: Download | None
    table: str | None

    def analysis(
        self,
        title: str,
        analyse: Callable[[Projection], R],
        present: Callable[[R, Names, Lang], AnalysisPage],
        *,
        streamed: bool = False,
    ) -> Response:
        """The page: `analyse` run on the reader's projection, its answer `present`ed with
        the reader's names in the page's language (see `analysis_answer`)."""
        lang = self.frame.lang
        names = Names(self.store, reader_clearance(self.frame), lang)

        def build() -> AnalysisPage:
            return present(analyse(page_projection(self.request, self.frame)), names, lang)

        return analysis_answer(
            self.request, self.frame, title, build, self.fmt, self.table, streamed=streamed
        )


def risk_options(
    horizon_hours: Horizon = 72.0,
    min_strength: Strength = 0.0,
    prefer: Prefer = "stated",
) -> RiskOptions:
    """The risk analysis options of a page's query (the chain effects listed per threat are
    the report's, five)."""
    return RiskOptions(horizon_hours=horizon_hours, min_strength=min_strength, prefer=prefer)


def risk_of(request: Request, frame: Frame, options: RiskOptions) -> RiskAnalysis:
    """The integrated analysis of the reader's projection (cached like the API's)."""
    cache: RiskCache = request.app.state.risks
    return cache.get(page_projection(request, frame), options)


@router.get("/pages/risk", response_class=HTMLResponse, dependencies=[PageSlot])
def risk(
    request: Request,
    store: StoreDep,
    frame: FrameDep,
    horizon_hours: Horizon = 72.0,
    min_strength: Strength = 0.0,
    prefer: Prefer = "stated",
    download: DownloadQuery = None,
    table: TableQuery = None,
) -> Response:
    """The risk diagram and the threats behind it, as the reader's clearance sees them."""
    options = risk_options(horizon_hours, min_strength, prefer)
    query = request.url.remove_query_params(["download", "table", "lang"]).query
    risks: RiskCache = request.app.state.risks
    asked = Asked(request, store, frame, download, table)
    return asked.analysis(
        frame.lang._("Risk diagram and threats"),
        lambda projection: risks.get(projection, options).summary,
        lambda result, names, lang: risk_page(result, names, lang, query),
        streamed=True,
    )


def diagram_answer(
    request: Request, store: GraphStore, frame: Frame, options: RiskOptions, fmt: str
) -> Response:
    """The risk diagram of the reader's analysis as PNG or SVG, in the page's language."""
    result = risk_of(request, frame, options).summary
    media = {"png": "image/png", "svg": "image/svg+xml"}[fmt]
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    names = Names(store, reader_clearance(frame), frame.lang)
    return Response(diagram_bytes(result, fmt, names), media_type=media, headers=headers)


@router.get("/pages/risk/diagram.png", dependencies=[PageSlot])
def risk_diagram_png(
    request: Request,
    store: StoreDep,
    frame: FrameDep,
    horizon_hours: Horizon = 72.0,
    min_strength: Strength = 0.0,
    prefer: Prefer = "stated",
) -> Response:
    """The risk diagram for a logged-in browser (the API's own needs a key header)."""
    options = risk_options(horizon_hours, min_strength, prefer)
    return diagram_answer(request, store, frame, options, "png")


@router.get("/pages/risk/diagram.svg", dependencies=[PageSlot])
def risk_diagram_svg(
    request: Request,
    store: StoreDep,
    frame: FrameDep,
    horizon_hours: Horizon = 72.0,
    min_strength: Strength = 0.0,
    prefer: Prefer = "stated",
) -> Response:
    """The risk diagram as SVG for a logged-in browser."""
    options = risk_options(horizon_hours, min_strength, prefer)
    return diagram_answer(request, store, frame, options, "svg")


@router.get("/pages/report", response_class=HTMLResponse, dependencies=[PageSlot])
def report(
    request: Request,
    store: StoreDep,
    frame: FrameDep,
    horizon_hours: Horizon = 72.0,
    min_strength: Strength = 0.0,
    prefer: Prefer = "stated",
) -> Response:
    """The integrated risk report (one self-contained HTML file, as `keten report` writes)
    on what the reader's clearance may see: whole tables, full names in the diagram, the
    first `REPORT_PROCESSES` processes per derivation."""
    analysis = risk_of(request, frame, risk_options(horizon_hours, min_strength, prefer))
    result, projection = analysis.summary, analysis.projection
    assert projection is not None
    names = Names(store, reader_clearance(frame), frame.lang)
    top = render_fragment("report_top.html", frame)
    icon = '<link rel="icon" href="/pages/static/keten-icon.svg" type="image/svg+xml">'
    sources = cited_sources(store, result, projection)
    threats = analysis.every_threat(REPORT_PROCESSES)
    html = render_report(result, sources, w=names, top=top, head=icon, threats=threats)
    return frame.finish(HTMLResponse(html, headers=HEADERS))


def checked(model: Callable[..., Any], **values: Any) -> Any:
    """`model(**values)`, or a 422 problem naming what is wrong."""
    try:
        return model(**values)
    except ValidationError as error:
        detail = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'query'}: {e['msg']}" for e in error.errors()
        )
        raise ApiProblem(422, "invalid-query", detail) from error


@router.get("/pages/embargo", response_class=HTMLResponse, dependencies=[PageSlot])
def embargo_view(
    request: Request,
    store: StoreDep,
    frame: FrameDep,
    country: EntityQuery,
    threshold: Annotated[float, Query(gt=0, le=1)] = 0.3,
    horizon_hours: Horizon = 168.0,
    min_strength: Strength = 0.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    download: DownloadQuery = None,
    table: TableQuery = None,
) -> Response:
    """What a supply stop by `country` takes away from each resource, and what follows."""
    body = checked(
        EmbargoRequest,
        country=country,
        threshold=threshold,
        horizon_hours=horizon_hours,
        min_strength=min_strength,
        limit=limit,
    )
    asked = Asked(request, store, frame, download, table)
    return asked.analysis(
        frame.lang._("Embargo by {country}", country=country),
        lambda projection: embargo(get_supply(request, reader(frame)), projection, body),
        embargo_page,
    )


@router.get("/pages/scenarios", response_class=HTMLResponse, dependencies=[PageSlot])
def scenarios_view(
    request: Request,
    store: StoreDep,
    frame: FrameDep,
    scenario: Annotated[
        list[str],
        Query(min_length=1, max_length=10, description="Disrupted ids, comma-separated."),
    ],
    horizon_hours: Horizon = 72.0,
    min_strength: Strength = 0.0,
    download: DownloadQuery = None,
    table: TableQuery = None,
) -> Response:
    """Scenarios side by side (A, B, ... in the order given): what each reaches, and when."""
    clearance = reader_clearance(frame)
    specs = [
        {
            "name": chr(ord("A") + n),
            "sources": [s.strip() for s in value.split(",") if s.strip()],
            "horizon_hours": horizon_hours,
        }
        for n, value in enumerate(scenario)
    ]
    body = checked(ScenariosRequest, scenarios=specs, min_strength=min_strength)
    for spec in body.scenarios:  # unknown or hidden ids: 404 before anything is sent
        for source in spec.sources:
            entity_or_404(store, source, clearance)
    title = frame.lang._("Scenarios side by side")
    asked = Asked(request, store, frame, download, table)
    return asked.analysis(
        title, lambda p: compare_scenarios(p, body), scenarios_page, streamed=True
    )


@router.get("/pages/criticality", response_class=HTMLResponse, dependencies=[PageSlot])
def criticality_view(
    request: Request,
    store: StoreDep,
    frame: FrameDep,
    kind: EntityKind | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    horizon_hours: Horizon = 72.0,
    download: DownloadQuery = None,
    table: TableQuery = None,
) -> Response:
    """The entities whose failure matters most (cascade size, PageRank, betweenness)."""
    body = checked(CriticalityRequest, kind=kind, limit=limit, horizon_hours=horizon_hours)
    title = frame.lang._("Most critical entities")
    asked = Asked(request, store, frame, download, table)
    return asked.analysis(title, lambda p: criticality(p, body), criticality_page, streamed=True)


@router.get("/pages/paths", response_class=HTMLResponse, dependencies=[PageSlot])
def paths_view(
    request: Request,
    store: StoreDep,
    frame: FrameDep,
    source: EntityQuery,
    target: EntityQuery,
    k: Annotated[int, Query(ge=1, le=20)] = 3,
    max_hops: Annotated[int, Query(ge=1, le=20)] = 8,
    download: DownloadQuery = None,
    table: TableQuery = None,
) -> Response:
    """Up to `k` shortest paths from `source` to `target`, each step with its relations."""
    clearance, lang = reader_clearance(frame), frame.lang
    ends = [entity_or_404(store, entity, clearance) for entity in (source, target)]
    body = checked(PathsRequest, source=source, target=target, k=k, max_hops=max_hops)
    title = lang._(
        "Paths from {source} to {target}",
        source=lang.name(ends[0].name, ends[0].props),
        target=lang.name(ends[1].name, ends[1].props),
    )
    asked = Asked(request, store, frame, download, table)
    return asked.analysis(
        title,
        lambda projection: paths(projection, body),
        paths_page,
    )
