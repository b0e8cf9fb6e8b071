"""HTML rendering of the pages with Jinja2 (autoescaped: names and ids are untrusted text).

The templates live in keten/api/static/pages/templates, where the package data of the
wheel already reaches; `/pages/static/` serves only the named assets, never a template.

Every page answer carries a Content-Security-Policy that allows scripts only from keten
itself and forbids every other origin, so a page cannot load from a CDN by accident and
injected markup could not run a script.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse

from keten.api.pages.graph import MAX_NODES, GraphPage, page_link
from keten.api.pages.style import shape_symbol

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

environment = Environment(
    loader=PackageLoader("keten.api", "static/pages/templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.globals.update(link=page_link, symbol=shape_symbol)


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page from `template` with the security headers."""
    html = environment.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def render_graph(page: GraphPage, more: str | None = None, **context: Any) -> HTMLResponse:
    """A graph page: the network's data and the legend, notes and table around it; `more`
    is the address of the same view with the largest node cap, offered when it was cut.
    """
    data = page.data()
    return render(
        "graph.html",
        title=page.title,
        subtitle=page.subtitle,
        notes=page.notes,
        legend=page.legend + page.marking_legend(),
        table=page.table,
        table_columns=page.table_columns,
        table_caption=page.table_caption,
        data=data,
        node_count=len(data["nodes"]),
        more=more if page.cut else None,
        most=MAX_NODES,
        **context,
    )
