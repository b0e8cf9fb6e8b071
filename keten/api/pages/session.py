"""Who is looking at a page: a login session from the browser's cookie, or a key in the
API headers.

A browser cannot send `Authorization` headers on a link, so `POST /login` checks a key and
opens a server-side session (keten.api.sessions); the cookie (`keten_session`) holds only
the signed session id, never the key, and is HttpOnly and SameSite=Lax (Secure over
https): scripts cannot read it, and other sites cannot make the browser send it with a
form post. The session expires after a working day, ends at `POST /logout` and dies with
its key. Only the page routes read the cookie; the JSON API keeps to its headers, so the
cookie never authorises a write. A key in the headers wins over the cookie, and a missing
or stale cookie sends the browser to the login form with `next` set to the page it asked
for.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from starlette.exceptions import HTTPException
from starlette.responses import Response

from keten.api.deps import api_key_header, bearer, get_principal
from keten.api.keys import Principal
from keten.api.sessions import Sessions

COOKIE = "keten_session"
COOKIE_MAX_AGE = 8 * 3600
"""A login lasts a working day (the session's lifetime and the cookie's max age)."""


async def get_sessions(request: Request) -> Sessions:
    """The app's login sessions."""
    sessions: Sessions = request.app.state.sessions
    return sessions


SessionsDep = Annotated[Sessions, Depends(get_sessions)]


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


async def page_principal(
    request: Request,
    sessions: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    header_key: Annotated[str | None, Security(api_key_header)],
) -> Principal:
    """The caller: header key (401 problem if bad), else the cookie's session, else off to
    the login form.
    """
    if credentials or header_key:
        return await get_principal(request, credentials, header_key)
    cookie = request.cookies.get(COOKIE)
    principal = sessions.principal(cookie) if cookie else None
    if principal is None:
        raise to_login(request)
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def set_login_cookie(response: Response, value: str, secure: bool) -> None:
    """Give the browser the signed session id: HttpOnly, SameSite=Lax, for the whole site."""
    response.set_cookie(
        COOKIE,
        value,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def clear_login_cookie(response: Response) -> None:
    """Tell the browser to drop the session cookie (the session itself ends server-side)."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
