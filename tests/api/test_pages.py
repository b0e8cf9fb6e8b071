"""The browser pages on a real server over the reference knowledge base: login, clearance,
escaping, offline assets, node caps; then the same pages in headless Chromium.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from keten.api.app import create_app
from keten.api.keys import KeyStore, Role
from keten.api.pages.session import COOKIE
from keten.api.pages.style import TIME_BANDS, band_of
from keten.api.server import background_server
from keten.config import Settings
from keten.data import reference_bundle_path
from keten.graph.sqlite import SqliteStore
from keten.graph.store import RelationFilter
from keten.ingest import load_bundle, load_paths
from keten.schema.markings import Tlp
from tests.api.browser import Page, chromium, chromium_path

HOSTILE = '<img src=x onerror="alert(1)">'
EXTRA: dict[str, list[dict[str, Any]]] = {
    "entities": [
        {
            "id": "org:amber-operator@amber",
            "kind": "Organisation",
            "name": "Amber grid operator",
            "marking": "amber",
        },
        {"id": "org:hostile", "kind": "Organisation", "name": HOSTILE, "contributor": HOSTILE},
        {"id": "vp:hub", "kind": "VitalProcess", "name": "Hub"},
        *(
            {"id": f"org:spoke-{i}", "kind": "Organisation", "name": f"Spoke {i}"}
            for i in range(10)
        ),
        *({"id": f"org:leaf-{i}", "kind": "Organisation", "name": f"Leaf {i}"} for i in range(10)),
    ],
    "relations": [
        {
            "source": "org:amber-operator@amber",
            "target": "vp:electricity-national",
            "type": "DEPENDS_ON",
        },
        {"source": "org:hostile", "target": "vp:electricity-national", "type": "DEPENDS_ON"},
        *(
            {"source": f"org:spoke-{i}", "target": "vp:hub", "type": "DEPENDS_ON"}
            for i in range(10)
        ),
        *(
            {"source": f"org:leaf-{i}", "target": f"org:spoke-{i}", "type": "DEPENDS_ON"}
            for i in range(10)
        ),
    ],
}
"""An amber organisation hanging on the grid, a hostile name, and a hub with 10 spokes of
which each has one leaf (so a 2-hop page of 11 nodes must hold exactly the hub and spokes).
"""


@dataclass
class Site:
    """The running server with the reference data, and keys to visit it with."""

    url: str
    store: SqliteStore
    keys: KeyStore

    def key(self, clearance: Tlp = Tlp.RED) -> str:
        return self.keys.create(Role.READER, clearance, label="pages").secret

    def client(self, clearance: Tlp = Tlp.RED) -> httpx.Client:
        """A client that logged in with a new key through the login form."""
        client = httpx.Client(base_url=self.url, timeout=30)
        answer = client.post("/login", data={"key": self.key(clearance), "next": "/pages"})
        assert answer.status_code == 303, answer.text
        return client


@contextmanager
def serve_site(home: Path, *bundles: dict[str, Any]) -> Iterator[Site]:
    """The reference knowledge base plus `bundles` behind a real server on loopback."""
    store = SqliteStore(home / "keten.sqlite")
    load_paths(store, [reference_bundle_path()])
    for bundle in bundles:
        load_bundle(store, bundle)
    app = create_app(store, Settings(home=home))
    with background_server(app) as url:
        yield Site(url, store, app.state.keys)
    store.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Reference data with the test extras (hidden, hostile and hub-and-spoke records)."""
    with serve_site(tmp_path_factory.mktemp("pages"), EXTRA) as running:
        yield running


@pytest.fixture(scope="module")
def reference_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The reference knowledge base alone, as a user sees it (the README screenshots)."""
    with serve_site(tmp_path_factory.mktemp("reference")) as running:
        yield running


@pytest.fixture(scope="module")
def red(site: Site) -> Iterator[httpx.Client]:
    """A client logged in with a red key (on the requesting module's `site`)."""
    client = site.client(Tlp.RED)
    yield client
    client.close()


@pytest.fixture(scope="module")
def green(site: Site) -> Iterator[httpx.Client]:
    """A client logged in with a green key (on the requesting module's `site`)."""
    client = site.client(Tlp.GREEN)
    yield client
    client.close()


def graph_data(html: str) -> dict[str, Any]:
    """The JSON block the page script draws from."""
    match = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', html, re.S)
    assert match, "no graph data on the page"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def node_ids(html: str) -> set[str]:
    return {node["id"] for node in graph_data(html)["nodes"]}


class Links(HTMLParser):
    """Every src and href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value or "" for name, value in attrs if name in ("src", "href", "action")]


VIEWS = {
    "index": "/pages",
    "search": "/pages/search?q=water",
    "neighbourhood": "/pages/neighbourhood/vp:electricity-national?depth=1",
    "cascade": "/pages/cascade?sources=threat:power-outage&horizon_hours=72",
    "supply": "/pages/supply/resource:gallium",
    "risk": "/pages/risk",
    "embargo": "/pages/embargo?country=CN",
    "scenarios": "/pages/scenarios?scenario=threat:power-outage&scenario=threat:severe-storm",
    "criticality": "/pages/criticality",
    "paths": "/pages/paths?source=actor:ransomware-groups&target=interest:economic-security",
}
GRAPHS = ("neighbourhood", "cascade", "supply")


# --- login -------------------------------------------------------------------------------


def test_a_page_without_a_key_sends_the_browser_to_the_login_form(site: Site) -> None:
    root = httpx.get(site.url + "/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/pages"
    answer = httpx.get(site.url + VIEWS["cascade"], follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=" + quote(VIEWS["cascade"])
    form = httpx.get(site.url + answer.headers["location"])
    assert form.status_code == 200
    assert 'name="key"' in form.text and f'value="{escape(VIEWS["cascade"])}"' in form.text


def test_login_sets_an_http_only_lax_cookie_and_goes_back(site: Site) -> None:
    key = site.key()
    answer = httpx.post(
        site.url + "/login",
        data={"key": key, "next": "/pages/search?q=gas"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/pages/search?q=gas"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and key not in cookie  # a session id, not the key
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie


def test_login_refuses_bad_keys_and_foreign_redirects_and_sites(site: Site) -> None:
    bad = httpx.post(site.url + "/login", data={"key": "kt_000000000000_nope", "next": "/pages"})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    assert "set-cookie" not in bad.headers
    empty = httpx.post(site.url + "/login", data={"next": "/pages"})
    assert empty.status_code == 401 and "Enter an API key" in empty.text
    away = httpx.post(
        site.url + "/login",
        data={"key": site.key(), "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/pages"
    forged = httpx.post(
        site.url + "/login", data={"key": site.key()}, headers={"Origin": "http://evil.example"}
    )
    assert forged.status_code == 403
    assert forged.headers["content-type"].startswith("application/problem+json")


def test_a_revoked_key_ends_its_login_and_a_bad_header_is_a_problem(site: Site) -> None:
    client = site.client()
    index = client.get("/pages")
    assert index.status_code == 200
    key_id = re.search(r"key ([0-9a-f]{12}) ·", index.text).group(1)  # type: ignore[union-attr]
    assert site.keys.revoke(key_id)
    assert client.get("/pages", follow_redirects=False).status_code == 303
    answer = httpx.get(site.url + "/pages", headers={"X-API-Key": "kt_000000000000_nope"})
    assert answer.status_code == 401
    assert answer.json()["type"].endswith("invalid-key")
    header = httpx.get(site.url + "/pages", headers={"X-API-Key": site.key()})
    assert header.status_code == 200


def test_logout_ends_the_session(site: Site) -> None:
    client = site.client()
    old = client.cookies[COOKIE]
    answer = client.post("/logout", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert COOKIE not in client.cookies
    assert client.get("/pages", follow_redirects=False).status_code == 303
    again = httpx.get(site.url + "/pages", cookies={COOKIE: old}, follow_redirects=False)
    assert again.status_code == 303  # the old cookie is dead server-side, not just forgotten


# --- offline and safe ----------------------------------------------------------------------


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_pages_load_nothing_from_other_origins(red: httpx.Client, view: str) -> None:
    answer = red.get(VIEWS[view])
    assert answer.status_code == 200, answer.text
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    parser = Links()
    parser.feed(answer.text)
    assert parser.urls
    assert all(url.startswith("/") and not url.startswith("//") for url in parser.urls), parser.urls
    assert "/pages/static/keten-icon.svg" in parser.urls  # no browser asks for /favicon.ico
    for url in parser.urls:
        if url.startswith("/pages/static/"):
            asset = red.get(url)
            assert asset.status_code == 200
            assert not re.search(rb"@import|url\(\s*['\"]?(https?:)?//", asset.content)


def test_the_vis_network_library_is_served_by_keten(site: Site) -> None:
    script = httpx.get(site.url + "/pages/static/vis-network.min.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert b"vis-network" in script.content[:200] and len(script.content) > 100_000
    assert httpx.get(site.url + "/pages/static/nope.js").status_code == 404
    assert httpx.get(site.url + "/pages/static/templates%2Fbase.html").status_code == 404


def test_hostile_names_are_escaped_everywhere(red: httpx.Client) -> None:
    for url in (
        "/pages/search?q=img",
        "/pages/neighbourhood/org:hostile",
        "/pages/cascade?sources=vp:electricity-national",
    ):
        html = red.get(url).text
        assert "<img" not in html
    html = red.get("/pages/neighbourhood/org:hostile").text
    names = {node["id"]: node["name"] for node in graph_data(html)["nodes"]}
    assert names["org:hostile"] == HOSTILE  # drawn as text on the canvas, not parsed


# --- clearance ---------------------------------------------------------------------------


def test_pages_show_only_what_the_clearance_allows(red: httpx.Client, green: httpx.Client) -> None:
    page = "/pages/neighbourhood/vp:electricity-national"
    assert "org:amber-operator@amber" in node_ids(red.get(page).text)
    green_html = green.get(page).text
    assert "org:amber-operator@amber" not in green_html and "Amber grid operator" not in green_html
    hidden = green.get("/pages/neighbourhood/org:amber-operator@amber")
    assert hidden.status_code == 404
    assert green.get("/pages/cascade?sources=org:amber-operator@amber").status_code == 404
    cascade = "/pages/cascade?sources=vp:electricity-national&horizon_hours=1000"
    assert "org:amber-operator@amber" in node_ids(red.get(cascade).text)
    assert "org:amber-operator@amber" not in green.get(cascade).text
    assert "Amber grid operator" in red.get("/pages/search?q=amber").text
    assert "Amber grid operator" not in green.get("/pages/search?q=amber").text


# --- the views ---------------------------------------------------------------------------


def test_neighbourhood_keeps_the_closest_hops_and_says_when_it_cut(red: httpx.Client) -> None:
    html = red.get("/pages/neighbourhood/vp:hub?depth=2&max_nodes=11").text
    assert node_ids(html) == {"vp:hub", *(f"org:spoke-{i}" for i in range(10))}
    assert "Showing 11 of 21 entities" in html
    assert 'href="/pages/neighbourhood/vp:hub?depth=2&amp;max_nodes=500"' in html
    few = red.get("/pages/cascade?sources=vp:hub&max_nodes=500&horizon_hours=0").text
    assert "Show up to" not in few
    full = red.get("/pages/neighbourhood/vp:hub?depth=2").text
    assert len(node_ids(full)) == 21 and 'class="note"' not in full
    edges = graph_data(full)["edges"]
    assert {(e["from"], e["to"]) for e in edges} >= {("org:leaf-3", "org:spoke-3")}


def test_nodes_carry_provenance_and_kind_colours(red: httpx.Client, site: Site) -> None:
    html = red.get("/pages/neighbourhood/vp:electricity-national").text
    nodes = {node["id"]: node for node in graph_data(html)["nodes"]}
    row = site.store.get_entity("vp:electricity-national")
    assert row is not None
    title = nodes[row.id]["title"]
    assert f"marking: TLP:{row.marking.upper()}" in title
    assert f"grading: {row.props['reliability']}{row.props['credibility']}" in title
    assert row.props["source_ids"][0] in title
    assert nodes["org:hostile"]["color"] != nodes[row.id]["color"]  # Organisation vs process
    amber = graph_data(red.get("/pages/neighbourhood/org:amber-operator@amber").text)["nodes"]
    assert [n["color"]["border"] for n in amber if n["id"] == "org:amber-operator@amber"] == [
        "#FFC000"
    ]
    assert "border: TLP:AMBER" in red.get("/pages/neighbourhood/org:amber-operator@amber").text


def test_cascade_colours_each_node_by_the_api_time_to_impact(red: httpx.Client, site: Site) -> None:
    body = {"sources": ["threat:power-outage"], "horizon_hours": 72, "limit": 1000}
    api = httpx.post(
        site.url + "/analysis/cascade", json=body, headers={"X-API-Key": site.key()}
    ).json()
    html = red.get(VIEWS["cascade"]).text
    nodes = {node["id"]: node for node in graph_data(html)["nodes"]}
    assert len(api["affected"]) > 3
    for item in api["affected"]:
        assert (
            nodes[item["id"]]["color"]["background"] == band_of(item["time_to_impact_hours"]).colour
        )
    for interest in api["interests"]:
        assert interest["id"] in nodes
    assert all(band.label in html for band in TIME_BANDS)
    cut = red.get(VIEWS["cascade"] + "&max_nodes=3").text
    assert len(graph_data(cut)["nodes"]) == 3 + len(api["interests"])
    assert f"Showing the 3 earliest of {api['total']} affected entities" in cut


def test_cascade_rejects_bad_input_with_problems(red: httpx.Client) -> None:
    unknown = red.get("/pages/cascade?sources=vp:nope")
    assert unknown.status_code == 404 and "vp:nope" in unknown.text
    assert red.get("/pages/cascade").status_code == 422
    assert red.get("/pages/cascade?sources=vp:hub&horizon_hours=-1").status_code == 422


def test_supply_shows_the_shares_that_the_store_holds(red: httpx.Client, site: Site) -> None:
    shares = site.store.list_relations(
        RelationFilter(type="SOURCED_FROM", source="resource:gallium"), limit=100
    ).items
    assert shares
    html = red.get(VIEWS["supply"]).text
    edges = {(e["from"], e["to"]): e for e in graph_data(html)["edges"]}
    for share in shares:
        edge = edges[(share.source, share.target)]
        assert edge["text"].startswith(f"{share.props['share']:.0%}")
        assert edge["width"] == pytest.approx(1 + 7 * share.props["share"])
    products = site.store.list_relations(
        RelationFilter(type="INPUT_TO", source="resource:gallium"), limit=100
    ).items
    assert {p.target for p in products} <= node_ids(html)
    assert "Who supplies Gallium" in html and 'href="/pages/neighbourhood/country%3ACN"' in html
    not_resource = red.get("/pages/supply/vp:electricity-national")
    assert not_resource.status_code == 422


def test_search_lists_matches_with_links_to_their_views(red: httpx.Client) -> None:
    html = red.get("/pages/search?q=gallium").text
    assert 'href="/pages/neighbourhood/resource%3Agallium"' in html
    assert 'href="/pages/supply/resource%3Agallium"' in html
    assert "No entity matches" in red.get("/pages/search?q=zzzz-nothing").text
    index = red.get("/pages").text
    assert 'action="/pages/search"' in index and "/pages/supply/resource%3Agallium" in index
    for form in ("cascade", "neighbourhood", "supply"):
        assert f'action="/pages/{form}"' in index


def test_the_index_forms_lead_to_their_views(red: httpx.Client) -> None:
    answer = red.get("/pages/neighbourhood?id=vp:hub&depth=2", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/pages/neighbourhood/vp%3Ahub?depth=2"
    supply = red.get("/pages/supply?id=resource:gallium", follow_redirects=True)
    assert supply.status_code == 200 and "Supply chain of Gallium" in supply.text
    assert red.get("/pages/supply?id=").status_code == 422


# --- in a real browser -------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="chromium is not installed (.ci/run installs it with apt)"
)


@pytest.fixture(scope="module")
def browser_page(reference_site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """One logged-in tab: the login form is filled in and posted like a person would."""
    with chromium(tmp_path_factory.mktemp("chromium")) as browser:
        tab = browser.new_page()
        tab.log_in(reference_site.url, reference_site.key(Tlp.RED))
        assert tab.evaluate("location.pathname") == "/pages", tab.evaluate(
            "document.body.innerText"
        )[:300]
        yield tab


@needs_chromium
@pytest.mark.browser
def test_the_browser_harness_catches_a_javascript_error(browser_page: Page) -> None:
    browser_page.goto("data:text/html,<script>throw new Error('deliberate')</script>")
    assert any("deliberate" in error for error in browser_page.errors())


@needs_chromium
@pytest.mark.browser
def test_the_login_cookie_is_invisible_to_scripts(browser_page: Page, reference_site: Site) -> None:
    browser_page.goto(reference_site.url + "/pages")
    assert COOKIE not in browser_page.evaluate("document.cookie")
    assert browser_page.evaluate("document.querySelector('.who').textContent").startswith("key ")


@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_each_view_draws_in_chromium_without_errors(
    browser_page: Page, reference_site: Site, view: str, tmp_path: Path
) -> None:
    site = reference_site
    url = site.url + VIEWS[view]
    browser_page.goto(url)
    if view not in GRAPHS:
        assert browser_page.evaluate("document.querySelector('form[role=search]') !== null")
        assert browser_page.evaluate(
            "document.querySelector('#working') === null || "
            "getComputedStyle(document.querySelector('#working')).display === 'none'"
        )
        if view == "risk":  # the diagram loads by the login session
            browser_page.wait_until("document.querySelector('figure img').complete")
            assert browser_page.evaluate("document.querySelector('figure img').naturalWidth") > 500
    else:
        browser_page.wait_until("document.getElementById('graph').dataset.drawn === 'true'")
        served = httpx.get(url, headers={"X-API-Key": site.key()}).text
        expected = len(graph_data(served)["nodes"])
        drawn = browser_page.evaluate("document.getElementById('graph').dataset.nodeCount")
        assert int(drawn) == expected > 1
        assert browser_page.evaluate("document.querySelector('#graph canvas').width") > 300
        assert browser_page.evaluate("window.ketenNetwork.physics.options.enabled") is False
        overlay = "getComputedStyle(document.getElementById('graph'), '::after').content"
        assert browser_page.evaluate(overlay) == "none"  # the "laying out" line is gone
    assert browser_page.errors() == []
    assert all(u.startswith((site.url, "data:")) for u in browser_page.requested())
    folder = Path(os.environ.get("KETEN_SCREENSHOTS") or tmp_path)
    png = browser_page.screenshot(folder / f"{view}.png")
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


@needs_chromium
@pytest.mark.browser
def test_double_clicking_a_node_opens_its_neighbourhood(
    browser_page: Page, reference_site: Site
) -> None:
    browser_page.goto(reference_site.url + VIEWS["supply"])
    browser_page.wait_until("document.getElementById('graph').dataset.drawn === 'true'")
    browser_page.mark()
    browser_page.evaluate("ketenNetwork.emit('doubleClick', {nodes: ['country:CN']}), 0")
    browser_page.wait_for_load()
    assert browser_page.evaluate("location.pathname") == "/pages/neighbourhood/country%3ACN"
    browser_page.wait_until("document.getElementById('graph').dataset.drawn === 'true'")
    assert browser_page.errors() == []
