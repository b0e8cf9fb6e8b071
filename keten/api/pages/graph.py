"""One graph page: a pyvis `Network` plus what the template shows around it.

pyvis collects the nodes, edges and vis-network options; the page's script reads them
from an inert JSON block (`<script type="application/json">`), so the page needs no
inline script and can be served under a strict Content-Security-Policy.

Physics runs a bounded stabilisation (`STABILISATION_ITERATIONS`) and is then switched
off by the page script, so a page of a few hundred nodes settles in about a second and
stays responsive (vis-network's own advice for large graphs; pyvis cannot do it alone).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from keten.api.pages.i18n import Lang
from keten.api.pages.style import (
    MARKING_COLOURS,
    kind_colour,
    kind_shape,
    marking_border,
    relation_colour,
)
from keten.api.pages.tables import Table
from keten.api.pages.tooltips import entity_title, relation_title
from keten.graph.store import EntityRow, RelationRow

if TYPE_CHECKING:
    from pyvis.network import Network

DEFAULT_MAX_NODES = 150
"""Nodes drawn when the request does not say; more make a page slow to settle."""
MAX_NODES = 500
"""Most nodes any page draws."""
STABILISATION_ITERATIONS = 200
LABEL_WIDTH = 40


def vis_options(node_count: int, placed: bool) -> dict[str, Any]:
    """vis-network options: hover tooltips, arrows on edges; a bounded stabilisation when
    the nodes have no positions yet (`placed` pages were laid out by keten and need none).

    Labels are not vis-network's: the page script draws them at a fixed size on screen,
    for the nodes that matter first, and only where they do not overlap (keten-graph.js).
    """
    physics: dict[str, Any] = {"enabled": False}
    if not placed:
        physics = {
            "solver": "forceAtlas2Based",
            "forceAtlas2Based": {
                "gravitationalConstant": -120,
                "springLength": 180,
                "avoidOverlap": 0.8,
            },
            "stabilization": {"enabled": True, "iterations": STABILISATION_ITERATIONS},
        }
    return {
        "physics": physics,
        "layout": {"improvedLayout": not placed and node_count <= 100, "randomSeed": 7},
        "interaction": {"hover": True, "tooltipDelay": 120, "navigationButtons": False},
        "edges": {
            "arrows": {"to": {"enabled": True, "scaleFactor": 0.6}},
            "color": {"color": "#8a8a8a", "highlight": "#333333"},
            "smooth": False,
        },
        "nodes": {"borderWidth": 1},
    }


def label_text(name: str) -> str:
    """A node's label: the name, cut at a word (never mid-word) when it is long; the
    tooltip has it whole.

    >>> label_text("Large-scale power outage from technical failure in the national grid")
    'Large-scale power outage from technical…'
    """
    if len(name) <= LABEL_WIDTH and name == " ".join(name.split()):  # most: as they are
        return name
    short = textwrap.shorten(name, LABEL_WIDTH, placeholder="\u2026")
    return short if short != "\u2026" else name[: LABEL_WIDTH - 1] + "\u2026"  # one long word


def page_link(entity_id: str) -> str:
    """The neighbourhood page of an entity (where a double click on a node leads)."""
    return f"/pages/neighbourhood/{quote(entity_id, safe='')}"


@dataclass(frozen=True, slots=True)
class LegendItem:
    """One legend line: a swatch of `colour` in `shape`, and what it means."""

    label: str
    colour: str
    shape: str = "dot"


def new_network() -> Network:
    """An empty directed pyvis network (pyvis loads with the first page, not at start-up)."""
    from pyvis.network import Network

    return Network(directed=True)


@dataclass
class GraphPage:
    """A page's network and the text around it; `render` turns it into HTML."""

    title: str
    subtitle: str
    network: Network = field(default_factory=new_network)
    legend: list[LegendItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    """Tables shown under the graph (e.g. the cascade's times), the same facts as text."""
    positions: dict[str, tuple[float, float]] | None = None
    """Where keten laid the nodes out (then the browser runs no physics), else None."""
    cut: bool = False
    """True when the page left out entities to stay within `max_nodes`."""
    lang: Lang = field(default_factory=lambda: Lang("en"))
    """The page's language (tooltips and legends)."""

    def add_entity(
        self,
        row: EntityRow,
        colour: str | None = None,
        extra: tuple[str, ...] = (),
        size: int = 14,
        *,
        name: str | None = None,
        important: bool = False,
    ) -> None:
        """Draw an entity: filled by kind unless `colour` says otherwise, its border
        showing its TLP marking. Its label (`name`, else the row's) is drawn always when
        `important`, else where there is room, in the order entities were added.
        """
        border, width = marking_border(row.marking)
        fill = colour or kind_colour(row.kind)
        self.network.add_node(
            row.id,
            label=row.id,
            name=label_text(name or row.name),
            important=important,
            title=entity_title(row, extra, name, self.lang),
            color={"background": fill, "border": border},
            borderWidth=width,
            shape=kind_shape(row.kind),
            size=size,
            kind=row.kind,
            marking=row.marking,
        )

    def add_relation(self, row: RelationRow, label: str = "", width: float = 1.0) -> None:
        """Draw a relation between two drawn entities (others are skipped)."""
        ids = self.network.node_map
        if row.source in ids and row.target in ids:
            self.network.add_edge(
                row.source,
                row.target,
                title=relation_title(row, self.lang),
                label=label,
                width=width,
                color=relation_colour(row.type),
                type=row.type,
            )

    def kind_legend(self, lang: Lang) -> None:
        """A legend entry for each kind on the page."""
        kinds = sorted({str(node.get("kind", "")) for node in self.network.nodes} - {""})
        self.legend += [
            LegendItem(lang._(kind), kind_colour(kind), kind_shape(kind)) for kind in kinds
        ]

    def marking_legend(self) -> list[LegendItem]:
        """A legend entry for each marking above clear on the page."""
        present = {str(node.get("marking", "")) for node in self.network.nodes}
        return [
            LegendItem(
                self.lang._("border: {marking}", marking=f"TLP:{marking.upper()}"), colour, "ring"
            )
            for marking, colour in MARKING_COLOURS.items()
            if marking in present
        ]

    def relation_legend(self) -> None:
        """A legend entry for each relation type on the page."""
        types = sorted({str(edge.get("type", "")) for edge in self.network.edges} - {""})
        self.legend += [LegendItem(t, relation_colour(t), "line") for t in types]

    def data(self) -> dict[str, Any]:
        """What the page script draws: nodes (with `name` and, when laid out, `x`/`y`),
        edges (with their label as `text`), options and each node's link.
        """
        raw_nodes, raw_edges, *_ = self.network.get_network_data()
        nodes = [{k: v for k, v in node.items() if k != "label"} for node in raw_nodes]
        if self.positions:
            for node in nodes:
                node["x"], node["y"] = self.positions.get(str(node["id"]), (0.0, 0.0))
        edges = [
            {("text" if k == "label" else k): v for k, v in edge.items() if v != ""}
            for edge in raw_edges
        ]
        return {
            "nodes": nodes,
            "edges": edges,
            "options": vis_options(len(nodes), bool(self.positions)),
            "links": {str(node["id"]): page_link(str(node["id"])) for node in nodes},
        }
