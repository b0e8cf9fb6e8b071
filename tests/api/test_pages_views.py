"""The analyst's pages beyond the three graphs, on a real server: every view reachable and
titled, every table downloadable (CSV and JSON, same rows, same clearance), the risk
diagram by login session, the whole report, slow views streamed, Dutch pages and names.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from starlette.datastructures import URL

from keten.api.pages.analyses import AnalysisPage
from keten.api.pages.frame import Frame
from keten.api.pages.i18n import LANG_COOKIE, Lang
from keten.api.pages.render import MARKER, render_streamed
from keten.api.pages.session import COOKIE
from keten.api.pages.tables import Table
from keten.queries.errors import UnknownEntityError
from keten.schema.markings import Tlp
from tests.api.test_pages import EXTRA, Site, graph_data, green, red, serve_site

__all__ = ["green", "red"]  # logged-in clients of this module's own site

DUTCH: dict[str, list[dict[str, Any]]] = {
    "entities": [
        {"id": "vp:hub", "kind": "VitalProcess", "name": "Hub", "name_nl": "Knooppunt"},
    ],
}
"""The hub of EXTRA again, now with its Dutch name (a partial record merges)."""

VIEWS = {
    "/pages/neighbourhood/vp:hub?depth=2": "Neighbourhood of Hub",
    "/pages/cascade?sources=threat:power-outage": (
        "Chain effects of Large-scale power outage from technical failure"
    ),
    "/pages/supply/resource:gallium": "Supply chain of Gallium",
    "/pages/embargo?country=CN": "Embargo by CN",
    "/pages/risk": "Risk diagram and threats",
    "/pages/scenarios?scenario=threat:power-outage&scenario=threat:severe-storm": (
        "Scenarios side by side"
    ),
    "/pages/criticality": "Most critical entities",
    "/pages/paths?source=actor:ransomware-groups&target=interest:economic-security": (
        "Paths from Ransomware groups to Economic security"
    ),
    "/pages/search?q=water": "Search: water",
}
"""Every view with an example and the title it must have (the reference data's names)."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve_site(tmp_path_factory.mktemp("views"), EXTRA, DUTCH) as running:
        yield running


class Page(HTMLParser):
    """The heading, links, form actions, image sources and table sections of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.h1 = ""
        self.urls: list[str] = []
        self.rows: dict[str, int] = {}
        self.section: str | None = None
        self.in_h1 = self.in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.urls += [v or "" for k, v in attrs if k in ("href", "action", "src")]
        if tag == "h1":
            self.in_h1 = True
        if tag == "section" and (found.get("id") or "").startswith("table-"):
            self.section = (found["id"] or "")[len("table-") :]
            self.rows[self.section] = 0
        if tag == "tbody":
            self.in_body = True
        if tag == "tr" and self.in_body and self.section:
            self.rows[self.section] += 1

    def handle_endtag(self, tag: str) -> None:
        self.in_h1 = self.in_h1 and tag != "h1"
        self.in_body = self.in_body and tag != "tbody"
        if tag == "section":
            self.section = None

    def handle_data(self, data: str) -> None:
        if self.in_h1:
            self.h1 += data


def parsed(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def test_every_view_is_reached_from_the_index_and_says_what_it_shows(red: httpx.Client) -> None:
    index = parsed(red.get("/pages").text)
    for target in (
        "/pages/search",
        "/pages/neighbourhood",
        "/pages/cascade",
        "/pages/supply",
        "/pages/embargo",
        "/pages/paths",
        "/pages/scenarios",
        "/pages/risk",
        "/pages/criticality",
        "/pages/report",
    ):
        assert target in index.urls, target
    for url, title in VIEWS.items():
        answer = red.get(url)
        assert answer.status_code == 200, (url, answer.text[:300])
        page = parsed(answer.text)
        assert page.h1.strip() == title, url
        assert f"<title>{title} · keten</title>" in answer.text


def test_every_table_downloads_as_csv_and_json_with_the_rows_shown(red: httpx.Client) -> None:
    seen = 0
    for url in VIEWS:
        page = parsed(red.get(url).text)
        for key, shown in page.rows.items():
            joiner = "&" if "?" in url else "?"
            as_json = red.get(f"{url}{joiner}download=json&table={key}")
            as_csv = red.get(f"{url}{joiner}download=csv&table={key}")
            assert as_json.status_code == as_csv.status_code == 200, (url, key)
            assert as_csv.headers["content-type"].startswith("text/csv")
            assert "attachment" in as_csv.headers["content-disposition"]
            rows = as_json.json()["rows"]
            assert len(rows) == shown, (url, key)
            written = list(csv.DictReader(io.StringIO(as_csv.text)))
            assert written == [{k: str(v) for k, v in row.items()} for row in rows]
            seen += 1
    assert seen >= 12
    missing = red.get("/pages/risk?download=csv&table=nope")
    assert missing.status_code == 404 and "threats" in missing.json()["detail"]
    assert red.get("/pages/risk?download=xls").status_code == 422


def test_downloads_hold_what_the_page_may_show_and_no_more(
    red: httpx.Client, green: httpx.Client
) -> None:
    url = "/pages/cascade?sources=vp:electricity-national&horizon_hours=1000&download=csv"
    assert "org:amber-operator@amber" in red.get(url).text
    low = green.get(url)
    assert low.status_code == 200
    assert "amber" not in low.text.lower()
    hidden = "/pages/cascade?sources=org:amber-operator@amber&download=json"
    assert green.get(hidden).status_code == 404
    nb = "/pages/neighbourhood/vp:electricity-national?download=json"
    assert "Amber grid operator" in red.get(nb).text
    assert "Amber grid operator" not in green.get(nb).text


def test_a_login_session_reaches_the_risk_diagram_and_no_api(site: Site, red: httpx.Client) -> None:
    page = red.get("/pages/risk").text
    assert 'src="/pages/risk/diagram.png"' in page and 'href="/pages/report"' in page
    png = red.get("/pages/risk/diagram.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    svg = red.get("/pages/risk/diagram.svg?horizon_hours=24")
    assert svg.status_code == 200 and b"<svg" in svg.content
    api = httpx.get(site.url + "/analysis/risk/diagram.png", cookies={COOKIE: red.cookies[COOKIE]})
    assert api.status_code == 401  # the cookie opens pages, never the JSON API
    assert (
        httpx.get(site.url + "/pages/risk/diagram.png", follow_redirects=False).status_code == 303
    )


def test_the_report_page_shows_whole_tables(red: httpx.Client) -> None:
    report = red.get("/pages/report")
    assert report.status_code == 200
    assert "more</p>" not in report.text and "<details><summary>All " in report.text
    assert "script-src 'self'" in report.headers["content-security-policy"]


def test_a_slow_view_sends_its_title_and_a_working_line_before_the_answer() -> None:
    release = threading.Event()

    def work() -> dict[str, Any]:
        assert release.wait(10)
        table = Table("t", "Rows", ["entity"], [{"entity": "Late row"}])
        return AnalysisPage(tables=[table]).context()

    frame = Frame(Lang("en"), URL("http://x/pages/risk"), None, False)
    response = render_streamed("analysis.html", frame, work, title="Slow view")

    async def two_parts() -> tuple[str, str]:
        parts = response.body_iterator
        first = await anext(parts)
        release.set()
        second = await anext(parts)
        return str(first), str(second)

    first, second = asyncio.run(two_parts())
    assert (
        "<h1>Slow view</h1>" in first and 'id="working"' in first and first.endswith(MARKER + "\n")
    )
    assert "Late row" not in first and "Late row" in second
    assert '<div class="content">' in second and second.rstrip().endswith("</html>")


@pytest.mark.parametrize(
    "url",
    [
        "/pages/neighbourhood/vp:hub?depth=2",
        "/pages/supply/resource:gallium",
        "/pages/cascade?sources=threat:power-outage",
    ],
)
def test_the_graph_views_send_their_title_before_the_graph(red: httpx.Client, url: str) -> None:
    page = red.get(url).text
    assert 'id="working"' in page
    assert page.index("<h1>") < page.index(MARKER) < page.index('id="graph-data"')


def test_a_streamed_view_that_fails_says_so_in_the_page(red: httpx.Client) -> None:
    answer = red.get("/pages/scenarios?scenario=vp:nope")
    assert answer.status_code == 404  # ids are checked before anything is sent
    page = red.get("/pages/cascade?sources=threat:power-outage").text
    assert 'id="working"' in page and MARKER in page and "graph-data" in page


def test_pages_speak_dutch_to_a_dutch_browser_and_show_dutch_names(site: Site) -> None:
    client = site.client(Tlp.RED)
    dutch = {"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.5"}
    index = client.get("/pages", headers=dutch)
    assert '<html lang="nl">' in index.text and "<h1>Verken keten</h1>" in index.text
    assert 'hreflang="en"' in index.text  # the switch to English
    hub = client.get("/pages/neighbourhood/vp:hub", headers=dutch).text
    assert "<h1>Omgeving van Knooppunt</h1>" in hub
    assert "Vitaal proces" in hub and "Legenda" in hub  # the legend too
    assert {n["name"] for n in graph_data(hub)["nodes"] if n["id"] == "vp:hub"} == {"Knooppunt"}
    english = client.get("/pages/neighbourhood/vp:hub?lang=en", headers=dutch)
    assert "<h1>Neighbourhood of Hub</h1>" in english.text
    assert english.cookies.get(LANG_COOKIE) == "en"
    kept = client.get("/pages/neighbourhood/vp:hub", headers=dutch).text
    assert "<h1>Neighbourhood of Hub</h1>" in kept  # the switch is remembered
    back = client.get("/pages/search?q=hub&lang=nl").text
    assert "Knooppunt" in back and "Zoeken: hub" in back
    table = client.get("/pages/neighbourhood/vp:hub?download=json&lang=nl").json()
    assert {"entity": "Knooppunt", "id": "vp:hub"}.items() <= table["rows"][0].items()
    client.close()
    login = httpx.get(site.url + "/login", headers={"Accept-Language": "nl"})
    assert "API-sleutel" in login.text


def test_the_json_download_names_its_table(red: httpx.Client) -> None:
    answer = red.get("/pages/supply/resource:gallium?download=json")
    body = json.loads(answer.content)
    assert body["table"] == "suppliers" and body["rows"]
    assert "supply-resource-gallium-suppliers.json" in answer.headers["content-disposition"]


@pytest.mark.parametrize(
    ("lang", "said"),
    [("en", "unknown entity id(s): vp:gone"), ("nl", "onbekende id(&#39;s): vp:gone")],
)
def test_an_id_hidden_while_a_streamed_view_works_is_said_in_the_page(lang: str, said: str) -> None:
    def work() -> dict[str, Any]:
        raise UnknownEntityError(["vp:gone"])

    frame = Frame(Lang(lang), URL("http://x/pages/criticality"), None, False)
    response = render_streamed("analysis.html", frame, work, title="Gone")

    async def whole() -> str:
        return "".join([str(part) async for part in response.body_iterator])

    page = asyncio.run(whole())
    assert response.status_code == 200  # sent before the work ended
    assert said in page and 'class="error"' in page


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
"""What Chromium sends when it opens a page."""


def test_a_browser_is_told_what_is_wrong_in_a_page_and_a_program_in_a_problem(
    red: httpx.Client,
) -> None:
    unknown = red.get("/pages/neighbourhood/vp:nope", headers=BROWSER)
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in unknown.text and "unknown entity id(s): vp:nope" in unknown.text
    dutch = red.get("/pages/neighbourhood/vp:nope?lang=nl", headers=BROWSER)
    assert dutch.status_code == 404 and "onbekende id(&#39;s): vp:nope" in dutch.text
    assert 'href="/pages"' in unknown.text and 'hreflang="nl"' in unknown.text
    missing = red.get("/pages/cascade?lang=nl", headers=BROWSER)
    assert (
        missing.status_code == 422 and "<code>query sources: Field required</code>" in missing.text
    )
    assert "Deze pagina kan niet worden getoond" in missing.text
    wrong = red.get("/pages/supply/vp:electricity-national", headers=BROWSER)
    assert wrong.status_code == 422 and "not a Resource" in wrong.text
    program = red.get("/pages/neighbourhood/vp:nope")
    assert program.status_code == 404
    assert program.headers["content-type"].startswith("application/problem+json")
    assert program.json()["detail"] == "unknown entity id(s): 'vp:nope'"
    away = httpx.get(red.base_url.join("/pages/neighbourhood/vp:nope"), headers=BROWSER)
    assert away.status_code == 303  # not logged in: still the way to the login form
