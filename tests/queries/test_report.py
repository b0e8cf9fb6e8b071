"""The risk diagram and the self-contained HTML report."""

from __future__ import annotations

import html
from html.parser import HTMLParser

import pytest

from keten.graph.sqlite import SqliteStore
from keten.ingest import load_bundle
from keten.queries.report import build_report, diagram_bytes, draw_diagram, plotted
from keten.queries.risk import CAVEAT, integrated_analysis
from keten.schema.markings import Tlp
from tests.queries.test_risk import project, reference_store, small

__all__ = ["reference_store", "small"]


class Tags(HTMLParser):
    """Collects start tags and their attributes, and checks that every tag closes."""

    VOID = frozenset({"meta", "br", "link", "img", "input", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()


def test_reference_report_is_self_contained(reference_store: SqliteStore) -> None:
    projection = project(reference_store)
    page = build_report(reference_store, projection)
    parser = Tags()
    parser.feed(page)
    assert parser.open == []
    tags = [tag for tag, _ in parser.seen]
    assert tags.count("svg") == 1 and "script" not in tags and "link" not in tags
    assert not any(a.get("src") for _, a in parser.seen)  # nothing to fetch
    assert "url(" not in page.split("<svg", 1)[0]  # no CSS that fetches
    assert html.escape(CAVEAT) in page
    result = integrated_analysis(reference_store, projection)
    for threat in result.threats:
        assert html.escape(threat.name) in page
    cited = {sid for t in result.threats for sid in t.source_ids}
    links = {a["href"] for tag, a in parser.seen if tag == "a"}
    for sid in cited:
        source = reference_store.get_entity(sid)
        assert source is not None and html.escape(source.name) in page
        if source.props.get("url"):
            assert source.props["url"] in links


def test_text_is_escaped_and_clearance_applies(small: SqliteStore) -> None:
    xss = {
        "id": "threat:xss",
        "kind": "Threat",
        "name": "<script>alert(1)</script>",
        "likelihood": "B",
        "impact": {"interest:econ": "B"},
    }
    load_bundle(small, {"entities": [xss]})
    page = build_report(small, project(small, Tlp.GREEN))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A &lt;b&gt;report&lt;/b&gt;" in page and 'href="https://example.org/r"' in page
    assert "Secret" not in page and "Hidden" not in page


def test_diagram_formats(small: SqliteStore) -> None:
    result = integrated_analysis(small, project(small))
    assert [(t.id, x, y) for t, x, y in plotted(result)] == [
        ("threat:secret@amber", 5, 5),
        ("threat:outage", 5, 3),
    ]
    png = diagram_bytes(result, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    svg = diagram_bytes(result, "svg").decode()
    assert "<svg" in svg and svg.count("<path") > 25  # 25 cells, markers and axes
    with pytest.raises(ValueError, match="png or svg"):
        diagram_bytes(result, "gif")


def test_the_report_shows_every_ranked_threat_and_whole_names(
    reference_store: SqliteStore,
) -> None:
    projection = project(reference_store)
    result = integrated_analysis(reference_store, projection)
    longest = max(len(i.threats) for i in result.interests)
    assert longest > 8  # the reference data has interests that fold
    page = build_report(reference_store, projection)
    assert "more</p>" not in page
    for interest in result.interests:
        section = page.split(f"<h3>{html.escape(interest.name)}</h3>", 1)[1].split("<h3>", 1)[0]
        for threat in interest.threats:
            assert f"<td>{html.escape(threat.name)}</td>" in section
        if len(interest.threats) > 8:
            assert f"<details><summary>All {len(interest.threats)} threats</summary>" in section
    figure = draw_diagram(result)
    legend = " ".join(line[4:].strip() for line in figure.texts[0].get_text().splitlines())
    for threat, *_ in plotted(result):
        assert f"{threat.name} ({threat.score})" in legend  # wrapped at spaces, never cut


def test_the_diagram_legend_fits_the_figure_at_a_readable_size(
    reference_store: SqliteStore,
) -> None:
    result = integrated_analysis(reference_store, project(reference_store))
    figure = draw_diagram(result)
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    legend = figure.texts[0]
    box = legend.get_window_extent(renderer)
    assert len(plotted(result)) > 20  # the reference data's threats, all in the legend
    assert figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1  # no name runs off the edge
    assert figure.bbox.y0 <= box.y0 and box.y1 <= figure.bbox.y1
    assert legend.get_fontsize() >= 8  # about 11 px on a page at the figure's 100 dpi


@pytest.mark.parametrize("seed", range(3))
def test_report_lists_the_first_processes_and_counts_the_rest(
    sqlite_store: SqliteStore, seed: int
) -> None:
    """The report made from the compact analysis (processes searched again threat by
    threat) is the report of the whole answer: the same first processes per derivation
    (REPORT_PROCESSES, and 2 here), and the same "and N more" line."""
    import random

    from keten.graph.projection import build_projection
    from keten.queries.report import REPORT_PROCESSES, render_report
    from keten.queries.riskpages import analyse
    from tests.queries.test_threatcascades import fill, hubbed_network

    rng = random.Random(seed)
    fill(sqlite_store, rng, *hubbed_network(rng, 120))
    projection = build_projection(sqlite_store, Tlp.RED)
    whole = integrated_analysis(sqlite_store, projection, shared=False)
    longest = max(d.processes_total for t in whole.threats for d in t.derivation.values())
    assert longest > 2
    analysis = analyse(sqlite_store, projection)
    for processes in (REPORT_PROCESSES, 2):
        threats = analysis.every_threat(processes, chunk=9)
        lazy = render_report(analysis.summary, [], "now", threats=threats, processes=processes)
        assert lazy == render_report(whole, [], "now", processes=processes)
    assert f"and {longest - 2} more</td>" in lazy
