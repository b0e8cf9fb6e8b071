"""Problems on the pages as pages: a browser that asked for HTML gets the problem (status,
what is wrong) in the site's frame, in its language, with a way back; a program that asked
for anything else still gets the RFC 9457 problem+json the API answers.

The pages router uses `PageRoute`, which catches keten's problems and request validation
errors of its own routes only; redirects (to the login form) and every other exception pass
on to the app's handlers unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from keten.api.pages.frame import open_frame
from keten.api.pages.render import render
from keten.api.problems import ApiProblem, validation_errors
from keten.queries.errors import AnalysisInputError, UnknownEntityError

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def wants_html(request: Request) -> bool:
    """True when the client asked for HTML (a browser), not for anything (`*/*`)."""
    return "text/html" in request.headers.get("accept", "")


def problem_page(request: Request, error: Exception) -> Response:
    """The page that says what went wrong with `error` (status as the problem's)."""
    frame = open_frame(request)
    lang = frame.lang
    errors: list[str] = []
    if isinstance(error, RequestValidationError):
        status, detail = 422, lang._("Some of the page's parameters are missing or wrong.")
        errors = [f"{e['where']} {e['field']}: {e['why']}" for e in validation_errors(error)]
    elif isinstance(error, UnknownEntityError):
        status, detail = 404, lang._("unknown entity id(s): {ids}", ids=", ".join(error.ids))
    elif isinstance(error, AnalysisInputError):
        status, detail = 422, str(error)
    elif isinstance(error, ApiProblem) and error.slug == "analysis-busy":
        retry = error.headers.get("Retry-After", "")
        status = 503
        detail = lang._(
            "The server is busy with other analyses; try again in {seconds} s.", seconds=retry
        )
    else:
        assert isinstance(error, ApiProblem)
        status, detail = error.status, error.detail
    title = lang._("Not found") if status == 404 else lang._("This page cannot be shown")
    return render("problem.html", frame, status=status, title=title, detail=detail, errors=errors)


class PageRoute(APIRoute):
    """A page route whose problems are answered as a page to a browser."""

    def get_route_handler(self) -> Handler:
        """The route's handler, answering its problems as pages when HTML was asked for."""
        handle = super().get_route_handler()

        async def handle_page(request: Request) -> Response:
            try:
                return await handle(request)
            except (
                ApiProblem,
                RequestValidationError,
                UnknownEntityError,
                AnalysisInputError,
            ) as error:
                if not wants_html(request):
                    raise
                page = problem_page(request, error)
                if isinstance(error, ApiProblem):  # Retry-After of a 503, say
                    page.headers.update(error.headers)
                return page

        return handle_page
