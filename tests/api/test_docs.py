"""`/docs` and `/redoc` work offline: every script and style comes from keten itself, under
the pages' Content-Security-Policy; the OpenAPI document and the docs are open (no key).
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from keten.api.docs import ASSETS
from tests.api.browser import Page, chromium, chromium_path
from tests.api.conftest import Api

REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
URL_ATTRIBUTES = ("src", "href", "spec-url", "data-openapi-url")
TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class Links(HTMLParser):
    """Every src and href of a page, and the elements it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        self.urls += [value or "" for name, value in attrs if name in URL_ATTRIBUTES]
        self._in_script = tag == "script" and "src" not in values

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def links(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_are_open_and_reference_only_local_assets(shared_api: Api, path: str) -> None:
    answer = httpx.get(shared_api.url + path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    page = links(answer.text)
    assert page.urls, "the page links nothing"
    assert page.inline_scripts == 0
    for url in page.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert url == "/openapi.json" or url.startswith("/docs/static/"), url
    assert "/openapi.json" in page.urls


def test_every_linked_asset_is_served_with_its_type(shared_api: Api) -> None:
    linked = {
        url
        for path in ("/docs", "/redoc")
        for url in links(httpx.get(shared_api.url + path).text).urls
        if url.startswith("/docs/static/")
    }
    assert {f"/docs/static/{name}" for name in ASSETS} == linked
    for url in sorted(linked):
        answer = httpx.get(shared_api.url + url)
        assert answer.status_code == 200, url
        assert answer.headers["content-type"].startswith(TYPES[Path(url).suffix]), url
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert len(answer.content) > 100
    swagger = httpx.get(shared_api.url + "/docs/static/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in swagger


def test_unknown_assets_are_problems_and_the_document_is_open(shared_api: Api) -> None:
    missing = httpx.get(shared_api.url + "/docs/static/../keys.sqlite")
    assert missing.status_code == 404
    unknown = httpx.get(shared_api.url + "/docs/static/evil.js")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    spec = httpx.get(shared_api.url + "/openapi.json")
    assert spec.status_code == 200
    assert "Documentation policy: open" in spec.json()["info"]["description"]
    assert httpx.get(shared_api.url + "/docs/oauth2-redirect").status_code == 404


# --- in a real browser -------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="chromium is not installed (.ci/run installs it with apt)"
)


@pytest.fixture(scope="module")
def tab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """A Chromium tab (the browser has no network but loopback here, as offline as can be)."""
    with chromium(tmp_path_factory.mktemp("chromium")) as browser:
        yield browser.new_page()


@needs_chromium
@pytest.mark.browser
def test_swagger_ui_renders_every_operation_offline(shared_api: Api, tab: Page) -> None:
    tab.goto(shared_api.url + "/docs")
    spec = httpx.get(shared_api.url + "/openapi.json").json()
    # Swagger UI shows an operation once under each of its tags
    shown = sum(
        len(op.get("tags") or [""]) for item in spec["paths"].values() for op in item.values()
    )
    count = tab.wait_until(
        f"document.querySelectorAll('.opblock').length >= {shown} && "
        "document.querySelectorAll('.opblock').length"
    )
    assert count == shown
    assert tab.evaluate("document.querySelector('.btn.authorize') !== null")
    assert tab.errors() == []
    assert all(url.startswith(shared_api.url) for url in tab.requested()), tab.requested()


@needs_chromium
@pytest.mark.browser
def test_redoc_renders_the_reference_offline(shared_api: Api, tab: Page) -> None:
    tab.goto(shared_api.url + "/redoc")
    tab.wait_until("document.querySelectorAll('[data-section-id^=\"operation/\"]').length > 10")
    title = tab.evaluate("document.querySelector('.api-info h1')?.textContent || ''")
    assert title.startswith("keten")
    # Redoc's sidebar always links its maker's logo on a CDN: the CSP refuses it, so the
    # only off-site URL the page tries is that image, and it never loads
    refused_logo = f"{shared_api.url}/redoc Loading the image '{REDOCLY_LOGO}' violates"
    errors = tab.errors()
    assert [e for e in errors if not e.startswith(refused_logo)] == []
    elsewhere = {url for url in tab.requested() if not url.startswith((shared_api.url, "data:"))}
    assert elsewhere <= {REDOCLY_LOGO}
    assert not elsewhere or any(e.startswith(refused_logo) for e in errors)
