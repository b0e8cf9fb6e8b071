"""What every page knows besides its own content: who looks, in which language, and where.

A route takes `FrameDep` (a logged-in reader) or `OpenFrameDep` (the login form); the
templates get the frame's `context()`: the reader, the page language with its gettext
functions, the language switch, and the addresses of the page's downloads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.datastructures import URL
from starlette.responses import Response

from keten.api.keys import Principal
from keten.api.pages.i18n import LANG_COOKIE, LANGUAGE_NAMES, LANGUAGES, Lang, language_of
from keten.api.pages.session import PagePrincipal

LANG_COOKIE_AGE = 365 * 24 * 3600


@dataclass(frozen=True)
class Frame:
    """A page's reader (None on the login form), language and address."""

    lang: Lang
    url: URL
    principal: Principal | None
    chosen: bool
    """True when the address named the language (the switch): the answer keeps it."""

    def here(self, **params: str) -> str:
        """This page's path and query with `params` set (or dropped when empty)."""
        url = self.url.include_query_params(**{k: v for k, v in params.items() if v})
        dropped = [k for k, v in params.items() if not v]
        if dropped:
            url = url.remove_query_params(dropped)
        return url.path + (f"?{url.query}" if url.query else "")

    def download(self, table: str, fmt: str) -> str:
        """The address of one of this page's tables as a CSV or JSON file."""
        return self.here(download=fmt, table=table, lang="")

    def switch(self) -> list[dict[str, str]]:
        """The other languages, each with this page's address in it."""
        return [
            {"code": code, "name": LANGUAGE_NAMES[code], "href": self.here(lang=code)}
            for code in LANGUAGES
            if code != self.lang.code
        ]

    def context(self) -> dict[str, Any]:
        """What every template reads."""
        return {
            "frame": self,
            "principal": self.principal,
            "lang": self.lang.code,
            "gettext": template_gettext(self.lang),
        }

    def finish(self, response: Response) -> Response:
        """Keep a language chosen with the switch in a cookie for the next pages."""
        if self.chosen:
            response.set_cookie(
                LANG_COOKIE, self.lang.code, max_age=LANG_COOKIE_AGE, path="/", samesite="lax"
            )
        return response


def template_gettext(lang: Lang) -> Callable[..., str]:
    """`_()` of the templates in `lang`: escaped like Jinja's own newstyle gettext (the
    catalogue is trusted, the values filled in are not)."""

    @pass_context
    def gettext(context: Context, text: str, **values: Any) -> str:
        translated = lang.translations.gettext(text)
        if context.eval_ctx.autoescape:
            translated = Markup(translated)
        return translated % values if values else translated

    return gettext


def page_language(request: Request) -> tuple[Lang, bool]:
    """The page language and whether the address chose it."""
    asked = request.query_params.get("lang")
    code = language_of(
        asked, request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
    )
    return Lang(code), asked in LANGUAGES


def open_frame(request: Request) -> Frame:
    """The frame of a page anyone may open (the login form)."""
    lang, chosen = page_language(request)
    return Frame(lang, request.url, None, chosen)


def reader_frame(request: Request, principal: PagePrincipal) -> Frame:
    """The frame of a page for a logged-in reader (or a key in the headers)."""
    lang, chosen = page_language(request)
    return Frame(lang, request.url, principal, chosen)


OpenFrameDep = Annotated[Frame, Depends(open_frame)]
FrameDep = Annotated[Frame, Depends(reader_frame)]
