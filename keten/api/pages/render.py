"""HTML rendering of the pages with Jinja2 (autoescaped: names and ids are untrusted text).

The templates live in keten/api/static/pages/templates, where the package data of the
wheel already reaches; `/pages/static/` serves only the named assets, never a template.

Every page answer carries a Content-Security-Policy that allows scripts only from keten
itself and forbids every other origin, so a page cannot load from a CDN by accident and
injected markup could not run a script.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, Response, StreamingResponse

from keten.api.pages.frame import Frame
from keten.api.pages.graph import MAX_NODES, GraphPage, page_link
from keten.api.pages.style import shape_symbol
from keten.api.problems import ApiProblem
from keten.queries.errors import AnalysisInputError, UnknownEntityError

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

log = logging.getLogger(__name__)

MARKER = "<!--keten:content-->"
"""Where a streamed page's content starts: everything before it is sent at once."""

environment = Environment(
    loader=PackageLoader("keten.api", "static/pages/templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)
environment.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
environment.globals.update(link=page_link, symbol=shape_symbol)


def render(template: str, frame: Frame, status: int = 200, **context: Any) -> HTMLResponse:
    """A page from `template` in the frame's language, with the security headers."""
    html = environment.get_template(template).render(**frame.context(), **context)
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    frame.finish(response)
    return response


def render_fragment(template: str, frame: Frame, **context: Any) -> str:
    """A piece of HTML from `template` in the frame's language (to put in a page that is
    not one of these templates, such as the report)."""
    return environment.get_template(template).render(**frame.context(), **context)


def render_streamed(
    template: str, frame: Frame, work: Callable[[], dict[str, Any]], **head: Any
) -> Response:
    """A page whose top (title and a "working" line) is sent at once, and whose content
    follows when `work` (run in a worker thread) has it; a problem it raises is shown in
    the page.

    Checks that decide the status (an unknown id is a 404) belong before this call: once
    the top is sent, the status is 200.
    """
    page = environment.get_template(template)
    base = {**frame.context(), **head, "streamed": True}
    top = page.render(**base, pending=True).partition(MARKER)[0]

    def chunks() -> Iterator[str]:
        yield top + MARKER + "\n"
        try:
            html = page.render(**{**base, **work()})
        except ApiProblem as problem:
            html = page.render(**{**base, "problem": problem})
        except UnknownEntityError as error:  # e.g. hidden while the page worked
            unknown = frame.lang._("unknown entity id(s): {ids}", ids=", ".join(error.ids))
            html = page.render(**{**base, "problem": ApiProblem(422, "analysis", unknown)})
        except AnalysisInputError as error:
            html = page.render(**{**base, "problem": ApiProblem(422, "analysis", str(error))})
        except Exception:  # the status is sent already: say so in the page, log the rest
            log.exception("a streamed page failed")
            said = frame.lang._("The analysis failed; the server's log says why.")
            html = page.render(**{**base, "problem": ApiProblem(500, "internal", said)})
        yield html.partition(MARKER)[2]

    response = StreamingResponse(chunks(), media_type="text/html; charset=utf-8", headers=HEADERS)
    frame.finish(response)
    return response


def graph_context(page: GraphPage, more: str | None = None) -> dict[str, Any]:
    """What graph.html shows of `page`: the network's data and the legend, notes and tables
    around it; `more` is the address of the same view with the largest node cap, offered
    when it was cut.
    """
    data = page.data()
    return {
        "title": page.title,
        "subtitle": page.subtitle,
        "notes": page.notes,
        "legend": page.legend + page.marking_legend(),
        "tables": page.tables,
        "data": data,
        "node_count": len(data["nodes"]),
        "more": more if page.cut else None,
        "most": MAX_NODES,
    }
