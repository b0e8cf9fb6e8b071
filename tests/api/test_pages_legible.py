"""A 150-node cascade in headless Chromium must be readable: labels measured on screen.

The page script keeps every label it drew in `window.ketenLabels` (boxes in CSS pixels of
the graph container, with the font size it drew them at); the test reads them and checks
what a reader would: the text is at least 12 px, no two labels overlap, every label lies
inside the graph, the nodes that matter (the source, the earliest hit, the interests) are
labelled, nodes do not pile up, and a node without a label shows one on hover.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keten.schema.markings import Tlp
from tests.api.browser import Page, chromium, chromium_path
from tests.api.test_pages import Site, graph_data, serve_site

INTERESTS = (
    "interest:economic-security",
    "interest:physical-security",
    "interest:social-political-stability",
)
BIG: dict[str, list[dict[str, Any]]] = {
    "entities": [
        {"id": "vp:big-grid", "kind": "VitalProcess", "name": "Big national grid, long name"},
        *(
            {"id": f"vp:big-{i}", "kind": "VitalProcess", "name": f"Regional process {i}"}
            for i in range(40)
        ),
        *(
            {"id": f"org:big-{i}-{j}", "kind": "Organisation", "name": f"Operator {i}-{j}"}
            for i in range(40)
            for j in range(3)
        ),
    ],
    "relations": [
        *(
            {
                "source": f"vp:big-{i}",
                "target": "vp:big-grid",
                "type": "DEPENDS_ON",
                "buffer_hours": 1 + i % 7,
            }
            for i in range(40)
        ),
        *(
            {
                "source": f"org:big-{i}-{j}",
                "target": f"vp:big-{i}",
                "type": "DEPENDS_ON",
                "buffer_hours": j,
            }
            for i in range(40)
            for j in range(3)
        ),
        *(
            {"source": f"vp:big-{i}", "target": interest, "type": "SAFEGUARDS"}
            for i in range(0, 40, 5)
            for interest in INTERESTS
        ),
    ],
}
"""A grid with 40 dependent processes of 3 operators each (161 affected) and 3 interests."""
CASCADE = "/pages/cascade?sources=vp:big-grid&horizon_hours=1000"
MIN_FONT_PX = 12

needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="chromium is not installed (.ci/run installs it with apt)"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve_site(tmp_path_factory.mktemp("legible"), BIG) as running:
        yield running


@pytest.fixture(scope="module")
def tab(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """A logged-in tab (through the login form) on the cascade of the big grid."""
    with chromium(tmp_path_factory.mktemp("chromium")) as browser:
        page = browser.new_page()
        page.log_in(site.url, site.key(Tlp.RED), CASCADE)
        page.wait_until("document.getElementById('graph').dataset.drawn === 'true'", 60)
        yield page


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def labels(tab: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tab.evaluate("window.ketenLabels")
    return found


@needs_chromium
@pytest.mark.browser
def test_a_150_node_cascade_has_readable_labels_that_do_not_overlap(
    tab: Page, site: Site, tmp_path: Path
) -> None:
    served = graph_data(httpx.get(site.url + CASCADE, headers={"X-API-Key": site.key()}).text)
    assert int(tab.evaluate("document.getElementById('graph').dataset.nodeCount")) == 153
    assert len(served["nodes"]) == 153
    # the canvas is drawn 1:1 on screen, so a label's font size is its size on screen
    ratio = tab.evaluate(
        "(() => { const c = document.querySelector('#graph canvas');"
        " return c.width / (c.clientWidth * window.devicePixelRatio); })()"
    )
    assert ratio == pytest.approx(1.0)
    drawn = labels(tab)
    assert len(drawn) >= 30  # far more than the must-haves, where they fit
    assert min(label["fontPx"] for label in drawn) >= MIN_FONT_PX
    assert min(label["height"] for label in drawn) >= MIN_FONT_PX
    for a, b in itertools.combinations(drawn, 2):
        assert not overlap(a, b), (a["text"], b["text"])
    width, height = tab.evaluate(
        "(g => [g.clientWidth, g.clientHeight])(document.getElementById('graph'))"
    )
    for label in drawn:
        assert label["x"] >= 0 and label["x"] + label["width"] <= width, label
        assert label["y"] >= 0 and label["y"] + label["height"] <= height, label
    named = {label["id"]: label["text"] for label in drawn if label["kind"] == "node"}
    earliest = "vp:big-0"  # the first process with the shortest buffer
    for must in ("vp:big-grid", earliest, *INTERESTS):
        assert must in named, must
    assert named["vp:big-grid"] == "Big national grid, long name"  # whole, not cut
    assert any(label["kind"] == "edge" for label in drawn)  # edge labels where they fit
    folder = Path(os.environ.get("KETEN_SCREENSHOTS") or tmp_path)
    tab.screenshot(folder / "cascade-150.png")


@needs_chromium
@pytest.mark.browser
def test_the_layout_does_not_pile_nodes_in_the_centre(tab: Page) -> None:
    spots = tab.evaluate(
        "Object.values(ketenNetwork.getPositions()).map(p => ketenNetwork.canvasToDOM(p))"
    )
    assert len(spots) == 153
    nearest = min(
        ((a["x"] - b["x"]) ** 2 + (a["y"] - b["y"]) ** 2) ** 0.5
        for a, b in itertools.combinations(spots, 2)
    )
    assert nearest >= 20  # no two nodes within 20 px of each other on screen
    xs = sorted(spot["x"] for spot in spots)
    assert xs[-1] - xs[0] > 0.6 * tab.evaluate("document.getElementById('graph').clientWidth")


@needs_chromium
@pytest.mark.browser
def test_hovering_a_node_without_a_label_shows_its_name(tab: Page) -> None:
    shown = {label["id"] for label in labels(tab)}
    unlabelled = tab.evaluate(
        "ketenNetwork.body.data.nodes.getIds()"
        f".filter(id => !{json.dumps(sorted(shown))}.includes(id))"
    )
    assert unlabelled, "every node had a label: the test shows nothing"
    node = unlabelled[0]
    tab.evaluate(f"ketenNetwork.emit('hoverNode', {{node: {json.dumps(node)}}}), 0")
    tab.wait_until(f"window.ketenLabels.some(label => label.id === {json.dumps(node)})")
    hovered = {label["id"]: label for label in labels(tab)}
    assert node in hovered and hovered[node]["fontPx"] >= MIN_FONT_PX
    drawn = labels(tab)
    for a, b in itertools.combinations(drawn, 2):
        assert not overlap(a, b), (a["text"], b["text"])
    tab.evaluate("ketenNetwork.emit('blurNode', {}), 0")
    tab.wait_until(f"!window.ketenLabels.some(label => label.id === {json.dumps(node)})")
    assert node not in {label["id"] for label in labels(tab)}
