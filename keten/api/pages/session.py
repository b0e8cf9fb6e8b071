"""Who is looking at a page: a key from the browser's login cookie, or from the API headers.

A browser cannot send `Authorization` headers on a link, so `POST /login` checks a key
and stores it in an HttpOnly, SameSite=Lax cookie (`keten_key`): scripts cannot read it,
and other sites cannot make the browser send it with a form post. Only the page routes
read the cookie; the JSON API keeps to its headers, so the cookie never authorises a
write. A key in the headers wins over the cookie, and a missing or stale cookie sends the
browser to the login form with `next` set to the page it asked for.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from starlette.exceptions import HTTPException
from starlette.responses import Response

from keten.api.deps import KeyStoreDep, api_key_header, bearer, get_principal
from keten.api.keys import Principal
from keten.graph.projection import Projection, ProjectionCache

COOKIE = "keten_key"
COOKIE_MAX_AGE = 8 * 3600
"""A login lasts a working day."""


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this server, else the index (no open redirects).

    >>> safe_next("/pages/cascade?sources=a"), safe_next("//evil.example"), safe_next(None)
    ('/pages/cascade?sources=a', '/pages', '/pages')
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/pages"
    return target


def to_login(request: Request) -> HTTPException:
    """A 303 to the login form that comes back to the requested page."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(303, "log in first", headers={"Location": f"/login?next={quote(here)}"})


def page_principal(
    request: Request,
    keys: KeyStoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    header_key: Annotated[str | None, Security(api_key_header)],
) -> Principal:
    """The caller: header key (401 problem if bad), else cookie key, else off to login."""
    if credentials or header_key:
        return get_principal(request, keys, credentials, header_key)
    secret = request.cookies.get(COOKIE)
    principal = keys.verify(secret) if secret else None
    if principal is None:
        raise to_login(request)
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def page_projection(request: Request, principal: PagePrincipal) -> Projection:
    """The analysis graph as the page's caller may see it (shared with the JSON API)."""
    cache: ProjectionCache = request.app.state.projections
    return cache.get(principal.clearance)


PageProjection = Annotated[Projection, Depends(page_projection)]


def set_login_cookie(response: Response, secret: str, secure: bool) -> None:
    """Remember `secret` in the browser: HttpOnly, SameSite=Lax, for the whole site."""
    response.set_cookie(
        COOKIE,
        secret,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def clear_login_cookie(response: Response) -> None:
    """Forget the key."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
