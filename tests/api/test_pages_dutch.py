"""Every page in Dutch, over real HTTP and in headless Chromium: no English left.

A text on a Dutch page is either data (names, ids, props of the records shown, read from
the store itself) or text of the pages, which must come from the Dutch catalogue. The check
strips the data from each visible text and asks that every word left is a word of some
Dutch translation in the catalogue (or a short list of names that are the same in both
languages, such as CSV). It also asks that no English message whose Dutch differs shows up,
so an English sentence with Dutch values in it fails too. The report and the risk caveat,
written by `keten.queries`, are held to the same rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

from keten.api.keys import Role
from keten.api.pages.analyses import Names
from keten.api.pages.i18n import Lang
from keten.api.pages.style import TIME_BANDS
from keten.graph.projection import build_projection
from keten.graph.store import EntityFilter, RelationFilter
from keten.queries.report import draw_diagram
from keten.queries.risk import CAVEAT, IMPACT_RULE, SCORE_RULE, integrated_analysis
from keten.schema.kinds import EntityKind
from keten.schema.markings import Tlp
from tests.api.browser import Page, chromium, chromium_path
from tests.api.test_pages import EXTRA, Site, graph_data, serve_site
from tests.api.test_pages_views import DUTCH

PO = Path(__file__).parents[2] / "keten/api/static/pages/locale/nl/LC_MESSAGES/keten.po"
PAGES = {
    "login": "/login",
    "index": "/pages",
    "search": "/pages/search?q=vp:hub",
    "empty search": "/pages/search",
    "neighbourhood": "/pages/neighbourhood/vp:hub?depth=2",
    "cascade": "/pages/cascade?sources=threat:power-outage&max_nodes=3",
    "supply": "/pages/supply/resource:gallium",
    "embargo": "/pages/embargo?country=CN",
    "risk": "/pages/risk",
    "scenarios": "/pages/scenarios?scenario=threat:power-outage&scenario=threat:severe-storm",
    "criticality": "/pages/criticality",
    "paths": "/pages/paths?source=actor:ransomware-groups&target=interest:economic-security",
    "report": "/pages/report",
}
"""Every page route (the diagram images are checked through the figure they are drawn from)."""
SAME_IN_BOTH = {"keten", "csv", "json", "png", "svg", "tlp", "api", "utc", "english", "nederlands"}
"""Words that are the same in Dutch and English texts of the pages."""


@cache
def catalogue() -> dict[str, str]:
    """English message id to its Dutch text."""
    with PO.open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if m.id and m.string}


@cache
def dutch_words() -> frozenset[str]:
    """Every word of every Dutch text in the catalogue, lower case."""
    words = {w.lower() for text in catalogue().values() for w in re.findall(r"[^\W\d_]+", text)}
    return frozenset(words | SAME_IN_BOTH)


def english_fragments() -> list[str]:
    """Pieces of English messages whose Dutch differs, long enough to be no accident."""
    found = []
    for english, dutch in catalogue().items():
        if english != dutch:
            found += [p.strip() for p in re.split(r"\{\w+\}|%\(\w+\)s", english)]
    return [p for p in found if len(p) >= 14 or (" " in p and len(p) >= 10)]


def data_texts(site: Site) -> re.Pattern[str]:
    """Every string the store holds for its records, except the threat themes (which the
    pages translate): names, Dutch names, ids, aliases, contributors, sources, types."""
    texts: set[str] = set()
    for row in site.store.list_entities(EntityFilter(), limit=100_000).items:
        texts |= {row.id, row.name, row.kind}
        texts |= strings(v for k, v in row.props.items() if k != "theme")
    for rel in site.store.list_relations(RelationFilter(), limit=100_000).items:
        texts |= {rel.type, *rel.props} | strings(rel.props.values())
    ordered = sorted((t for t in texts if t.strip()), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in ordered) + r")(?!\w)")


def strings(values: Iterable[Any]) -> set[str]:
    """The strings among `values`, also inside lists and dicts (keys too)."""
    found: set[str] = set()
    for value in values:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, list | tuple):
            found |= strings(value)
        elif isinstance(value, dict):
            found |= strings(value) | strings(value.values())
    return found


def untranslated(texts: Iterable[str], data: re.Pattern[str]) -> list[str]:
    """The texts that hold an English word or an English message: [] on a Dutch page."""
    fragments = english_fragments()
    bad = []
    for text in (" ".join(t.split()) for t in texts):
        if any(fragment in text for fragment in fragments):
            bad.append(text)
            continue
        rest = data.sub(" ", text)
        rest = re.sub(r"TLP:[\w+]+|\b\w+:[\w@.+-]+|https?://\S+|\b[0-9a-f]{12}\b", " ", rest)
        words = {w for w in re.findall(r"[^\W\d_]{3,}", rest) if w.lower() not in dutch_words()}
        if words:
            bad.append(f"{text!r} ({', '.join(sorted(words))})")
    return bad


class Visible(HTMLParser):
    """What a reader sees or hears of a page: text outside scripts and styles, and the
    titles, alternative texts, placeholders and labels of elements. Commands (`<code>`)
    are the same in every language, and an SVG's metadata is not shown."""

    SHOWN = ("title", "alt", "placeholder", "aria-label", "data-working")
    HIDDEN = ("script", "style", "code", "metadata")

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.texts += [v for k, v in attrs if k in self.SHOWN and v]
        self.hidden += tag in self.HIDDEN

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in self.HIDDEN

    def handle_data(self, data: str) -> None:
        if not self.hidden and data.strip():
            self.texts.append(" ".join(data.split()))


def visible(html: str) -> list[str]:
    """The visible texts of a page, with the tooltips of its graph."""
    parser = Visible()
    parser.feed(html)
    texts = parser.texts
    if 'id="graph-data"' in html:
        data = graph_data(html)
        texts += [str(item.get("title", "")) for item in data["nodes"] + data["edges"]]
    return [t for t in texts if t.strip()]


def message_ids() -> set[str]:
    """Every text the pages translate: `_()` in the page code, the templates and the
    report, and the texts they translate by value (kinds, roles, bases, the risk rules,
    the threat themes of the reference data)."""
    root = Path(__file__).parents[2] / "keten"
    folders = (root / "api" / "pages", root / "api" / "routers")
    found = {m for f in folders for *_, m, _, _ in extract_from_dir(f, [("**.py", "python")])}
    found |= {m for *_, m, _, _ in extract_from_dir(root / "queries", [("report.py", "python")])}
    templates = root / "api" / "static" / "pages" / "templates"
    options = {"**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true"}}
    found |= {
        m
        for *_, m, _, _ in extract_from_dir(
            templates, [("**.html", babel_extract)], options_map=options
        )
    }
    found |= {
        *(kind.value for kind in EntityKind),
        *(role.value for role in Role),
        "stated",
        "derived",
    }
    found |= {CAVEAT, IMPACT_RULE, SCORE_RULE, *(band.label for band in TIME_BANDS)}
    threats = yaml.safe_load((root / "data" / "reference" / "threats.yaml").read_text())
    found |= {t["theme"] for t in threats["entities"] if t.get("theme")}
    return {m for m in found if isinstance(m, str)}


def test_every_page_text_has_a_dutch_translation() -> None:
    found, dutch = message_ids(), catalogue()
    assert len(found) > 150
    assert sorted(found - set(dutch)) == []
    for english, translated in dutch.items():
        fields = set(re.findall(r"\{\w+\}|%\(\w+\)s", str(english)))
        assert fields == set(re.findall(r"\{\w+\}|%\(\w+\)s", str(translated))), english


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve_site(tmp_path_factory.mktemp("dutch"), EXTRA, DUTCH) as running:
        yield running


@pytest.fixture(scope="module")
def data(site: Site) -> re.Pattern[str]:
    return data_texts(site)


def test_the_check_finds_english_and_lets_dutch_and_data_pass(data: re.Pattern[str]) -> None:
    assert untranslated(["Omgeving van Knooppunt", "Spoke 3", "vp:hub", "TLP:AMBER"], data) == []
    assert untranslated(["Legenda", "Dreigingen per belang", "rand: TLP:GREEN"], data) == []
    found = untranslated(["Threats per interest", "Omgeving with Knooppunt", CAVEAT[:40]], data)
    assert len(found) == 3 and "(with)" in found[1]


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_page_is_dutch_when_dutch_is_chosen(
    site: Site, data: re.Pattern[str], name: str
) -> None:
    client = site.client(Tlp.RED)
    page = client.get(PAGES[name], headers={"Accept-Language": "nl-NL,nl;q=0.9"})
    client.close()
    assert page.status_code == 200, page.text[:300]
    assert '<html lang="nl">' in page.text
    assert 'hreflang="en"' in page.text  # the switch back, on every page
    assert untranslated(visible(page.text), data) == []
    assert CAVEAT not in page.text and "integrated risk analysis" not in page.text


def test_the_report_and_the_caveat_are_dutch_on_dutch_pages(site: Site) -> None:
    client = site.client(Tlp.RED)
    report = client.get("/pages/report?lang=nl").text
    risk = client.get("/pages/risk").text  # the switch is remembered
    english = client.get("/pages/report?lang=en").text
    client.close()
    caveat = catalogue()[CAVEAT]
    assert caveat in report and caveat in risk and escape(CAVEAT) in english
    assert "Dreigingen per belang" in report and "Threats per interest" in english
    assert catalogue()[IMPACT_RULE].split(";")[0] in report
    assert catalogue()[SCORE_RULE] in report
    interest = site.store.get_entity("interest:economic-security")
    assert interest is not None and interest.props.get("name_nl")
    assert f"<h3>{interest.props['name_nl']}</h3>" in report
    assert f"<h3>{interest.name}</h3>" in english
    assert "Klimaat en natuurrampen" in report and "Climate and natural disasters" in english


def test_the_risk_diagram_is_drawn_in_the_page_language(site: Site, data: re.Pattern[str]) -> None:
    projection = build_projection(site.store, Tlp.RED)
    result = integrated_analysis(site.store, projection)
    names = Names(site.store, Tlp.RED, Lang("nl"))
    figure = draw_diagram(result, names)
    texts = [t.get_text() for t in figure.texts]
    texts += [figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel(), figure.axes[0].get_title()]
    assert untranslated(texts, data) == []
    assert "Risicodiagram" in figure.axes[0].get_title()
    english = draw_diagram(result)
    assert english.axes[0].get_title().startswith("Risk diagram")


def test_switching_language_keeps_the_page_and_its_downloads(site: Site) -> None:
    client = site.client(Tlp.RED)
    for name, url in PAGES.items():
        if name == "login":
            continue
        dutch = client.get(url + ("&" if "?" in url else "?") + "lang=nl")
        switch = re.search(r'<a href="([^"]+)" hreflang="en"', dutch.text)
        assert switch, name
        back = client.get(switch.group(1).replace("&amp;", "&"))
        assert '<html lang="en">' in back.text, name
    kinds = client.get("/pages/neighbourhood/vp:hub?download=json&lang=nl").json()["rows"]
    assert {row["kind"] for row in kinds} == {"Vitaal proces", "Organisatie"}
    client.close()


# --- in a real browser -------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="chromium is not installed (.ci/run installs it with apt)"
)
SEEN = """JSON.stringify([document.documentElement.lang, document.body.innerText,
  [...document.querySelectorAll('[title],[alt],[placeholder],[aria-label],[data-working]')]
    .flatMap((e) => ['title', 'alt', 'placeholder', 'aria-label', 'data-working']
      .map((a) => e.getAttribute(a) || '')),
  window.ketenNetwork ? window.ketenNetwork.body.data.nodes.get().map((n) => n.title) : []])"""
"""What Chromium shows of a page: its language, its text, the labels of its elements and the
tooltips of its graph's nodes."""


@pytest.fixture(scope="module")
def tab(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """A tab of a browser whose language is English, logged in through the form."""
    with chromium(tmp_path_factory.mktemp("chromium")) as browser:
        page = browser.new_page()
        page.log_in(site.url, site.key(Tlp.RED))
        yield page


@needs_chromium
@pytest.mark.browser
def test_every_page_turns_dutch_with_its_switch_in_chromium(
    tab: Page, site: Site, data: re.Pattern[str]
) -> None:
    for name, url in PAGES.items():
        if name == "login":
            continue
        tab.goto(site.url + url + ("&" if "?" in url else "?") + "lang=en")
        tab.mark()
        tab.evaluate("document.querySelector('a[hreflang=nl]').click()")
        tab.wait_for_load()
        tab.wait_until(
            "!document.getElementById('graph') || document.getElementById('graph').dataset.drawn"
            " === 'true'",
            60,
        )
        lang, text, labels, tooltips = json.loads(tab.evaluate(SEEN))
        assert lang == "nl", name
        lines = [line for line in text.splitlines() if line.strip()]
        assert untranslated(lines + labels + tooltips, data) == [], name
        assert tab.errors() == [], name
