"""The three graph views: an entity's neighbourhood, a cascade, and a resource's supply chain.

Each view asks the store (or the cascade) for what the caller's clearance may see, keeps
at most `max_nodes` by relevance, and says so on the page when it had to cut:

* neighbourhood: the closest hops first, then the best-connected entities;
* cascade: the earliest time to impact first (the cascade's own order);
* supply: the closest links of the chain first (suppliers, inputs, products, dependents).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence

import networkx as nx

from keten.api.pages.graph import GraphPage, LegendItem
from keten.api.pages.style import TIME_BANDS, band_of, kind_shape
from keten.api.pages.tooltips import shorten
from keten.api.problems import ApiProblem
from keten.graph.projection import Projection
from keten.graph.store import EntityRow, GraphStore, RelationFilter, RelationRow
from keten.queries.cascade import CascadeResult, cascade
from keten.schema.markings import Tlp

EDGE_LABELS_UP_TO = 30
"""Neighbourhoods with more relations than this show types by colour only (and tooltip)."""
FETCH_FACTOR = 4
"""The neighbourhood walk reads up to this many times `max_nodes` entities, then ranks."""
MAX_FETCH = 2000


def entity_or_404(store: GraphStore, entity_id: str, clearance: Tlp) -> EntityRow:
    """The entity, or a 404 problem (also when it is above the clearance: same answer)."""
    row = store.get_entity(entity_id, clearance)
    if row is None:
        raise ApiProblem(404, "not-found", f"no entity {entity_id!r}")
    return row


def rank_neighbourhood(
    centre: str, entities: Sequence[EntityRow], relations: Sequence[RelationRow]
) -> list[EntityRow]:
    """Entities ordered by hops from `centre`, then by degree (highest first), then id."""
    graph = nx.Graph()
    graph.add_nodes_from(e.id for e in entities)
    graph.add_edges_from((r.source, r.target) for r in relations)
    hops = nx.single_source_shortest_path_length(graph, centre)
    return sorted(entities, key=lambda e: (hops.get(e.id, math.inf), -graph.degree(e.id), e.id))


def neighbourhood_page(
    store: GraphStore, entity_id: str, depth: int, clearance: Tlp, max_nodes: int
) -> GraphPage:
    """Entities within `depth` hops of `entity_id` and the relations among them."""
    centre = entity_or_404(store, entity_id, clearance)
    fetch = min(max_nodes * FETCH_FACTOR, MAX_FETCH)
    entities, relations = store.neighbourhood(entity_id, depth, clearance, limit=fetch)
    ranked = rank_neighbourhood(entity_id, entities, relations)
    page = GraphPage(
        title=f"Neighbourhood of {centre.name}",
        subtitle=f"{centre.id}, {depth} hop(s) either way",
    )
    for row in ranked[:max_nodes]:
        page.add_entity(row, size=26 if row.id == entity_id else 14)
    shown = [
        r
        for r in relations
        if r.source in page.network.node_map and r.target in page.network.node_map
    ]
    for rel in shown:
        page.add_relation(rel, label=rel.type if len(shown) <= EDGE_LABELS_UP_TO else "")
    page.kind_legend()
    page.relation_legend()
    if len(ranked) > max_nodes:
        page.cut = True
        page.notes.append(
            f"Showing {max_nodes} of {len(ranked)} entities: the closest first, then the most "
            "connected. Raise `max_nodes` or lower `depth` to see the rest."
        )
    if len(entities) >= fetch:
        page.notes.append(f"The walk stopped after {fetch} entities; lower `depth` to see all.")
    return page


def named(ids: Sequence[str], shown: int = 3) -> str:
    """'a, b, c and 2 more' for a title.

    >>> named(["a", "b", "c", "d", "e"])
    'a, b, c and 2 more'
    """
    head = ", ".join(ids[:shown])
    return head if len(ids) <= shown else f"{head} and {len(ids) - shown} more"


def hours_text(hours: float) -> str:
    """12.0 -> '12 h', 0.5 -> '0.5 h'."""
    return f"{hours:g} h"


def cascade_page(
    store: GraphStore,
    projection: Projection,
    sources: Sequence[str],
    horizon_hours: float,
    min_strength: float,
    clearance: Tlp,
    max_nodes: int,
) -> GraphPage:
    """The cascade from `sources`: each entity coloured by its time to impact, linked to
    the predecessor that explains that time, and the interests it reaches.
    """
    result = cascade(projection, sources, horizon_hours, min_strength, limit=max_nodes)
    page = GraphPage(
        title="Chain effects of " + named(sources),
        subtitle=f"within {hours_text(horizon_hours)}, edges of strength >= {min_strength:g}",
    )
    draw_affected(page, store, result, clearance)
    draw_interests(page, store, result, clearance)
    page.legend += [LegendItem(band.label, band.colour) for band in TIME_BANDS]
    page.legend.append(LegendItem("dashed: safeguards an interest", "#8a8a8a", "dash"))
    kinds = {a.kind for a in result.affected} | ({"Interest"} if result.interests else set())
    page.legend += [LegendItem(kind, "#ffffff", kind_shape(kind)) for kind in sorted(kinds)]
    if result.total > len(result.affected):
        page.cut = True
        page.notes.append(
            f"Showing the {len(result.affected)} earliest of {result.total} affected entities; "
            "raise `max_nodes` or shorten `horizon_hours` to see the rest."
        )
    if result.total == len(set(sources)):
        page.notes.append("Nothing depends on the sources within the horizon.")
    page.table_columns = ["time to impact", "entity", "kind", "depth", "via"]
    page.table_caption = "Affected entities, earliest first"
    return page


def draw_affected(
    page: GraphPage, store: GraphStore, result: CascadeResult, clearance: Tlp
) -> None:
    """Nodes of the affected entities and the edges of the explaining chain."""
    for item in result.affected:
        row = store.get_entity(item.id, clearance)
        if row is None:  # deleted since the projection was built
            continue
        via = " -> ".join(item.via) if item.via else "a source"
        extra = (f"time to impact: {hours_text(item.time_to_impact_hours)}", f"via: {via}")
        source = item.depth == 0
        page.add_entity(row, band_of(item.time_to_impact_hours).colour, extra, 24 if source else 14)
        page.table.append(
            {
                "time to impact": hours_text(item.time_to_impact_hours),
                "entity": item.name,
                "id": item.id,
                "kind": item.kind,
                "depth": str(item.depth),
                "via": via,
            }
        )
    times = {a.id: a.time_to_impact_hours for a in result.affected}
    for item in result.affected:
        if item.via and item.via[-1] in page.network.node_map and item.id in page.network.node_map:
            delay = item.time_to_impact_hours - times[item.via[-1]]
            page.network.add_edge(item.via[-1], item.id, label=f"+{hours_text(delay)}")


def draw_interests(
    page: GraphPage, store: GraphStore, result: CascadeResult, clearance: Tlp
) -> None:
    """Interests reached through SAFEGUARDS, each linked from the processes that hit it."""
    for interest in result.interests:
        row = store.get_entity(interest.id, clearance)
        if row is None:
            continue
        extra = (f"first hit after {hours_text(interest.time_to_impact_hours)}",)
        page.add_entity(row, band_of(interest.time_to_impact_hours).colour, extra, 22)
        for process in interest.processes:
            if process in page.network.node_map:
                page.network.add_edge(process, interest.id, dashes=True, title="SAFEGUARDS")


UP, DOWN, BOTH = "up", "down", "both"
SUPPLY_STEPS: tuple[tuple[str, str, str, str], ...] = (
    # (relation type, which end the walked node is, walk direction it belongs to, then)
    ("SOURCED_FROM", "source", UP, "stop"),
    ("INPUT_TO", "target", UP, UP),
    ("INPUT_TO", "source", DOWN, DOWN),
    ("DEPENDS_ON", "target", DOWN, DOWN),
)
"""Upstream the walk follows inputs and stops at suppliers; downstream it follows products
and dependents. Threats are shown for the resource itself only."""
FOCUS_STEPS = (("DISRUPTS", "target", BOTH, "stop"),)
SUPPLY_DEPTH = 3
PASSES_ON = frozenset({"Resource", "Organisation"})
"""Kinds through which a supply chain goes on; a process or a country ends it."""


def relations_at(
    store: GraphStore, node: str, rel_type: str, end: str, clearance: Tlp
) -> Iterator[RelationRow]:
    """Every visible `rel_type` relation whose `end` is `node`."""
    flt = RelationFilter(type=rel_type, clearance=clearance, **{end: node})
    cursor: str | None = None
    while True:
        page = store.list_relations(flt, cursor, 1000)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


def walk_supply(
    store: GraphStore, focus: EntityRow, clearance: Tlp, max_nodes: int
) -> tuple[list[EntityRow], list[RelationRow], bool]:
    """Breadth-first up and down the supply chain of `focus`: entities in hop order, the
    relations among them, and whether the walk was cut at `max_nodes`.
    """
    rows, hops = {focus.id: focus}, {focus.id: 0}
    relations: dict[tuple[str, str, str, str], RelationRow] = {}
    queue, cut = deque([(focus, BOTH)]), False
    while queue:
        node, direction = queue.popleft()
        steps = SUPPLY_STEPS + (FOCUS_STEPS if node.id == focus.id else ())
        for rel_type, end, way, then in steps:
            if direction not in (way, BOTH):
                continue
            for rel in relations_at(store, node.id, rel_type, end, clearance):
                other_id = rel.target if end == "source" else rel.source
                if other_id not in rows:
                    other = store.get_entity(other_id, clearance)
                    if other is None:
                        continue
                    if len(rows) >= max_nodes:
                        cut = True
                        continue
                    rows[other_id], hops[other_id] = other, hops[node.id] + 1
                    if then != "stop" and other.kind in PASSES_ON and hops[other_id] < SUPPLY_DEPTH:
                        queue.append((other, then))
                relations[rel.ref] = rel
    return list(rows.values()), list(relations.values()), cut


def supply_page(store: GraphStore, resource_id: str, clearance: Tlp, max_nodes: int) -> GraphPage:
    """Who supplies a resource (edge width = share), what goes into it, what it goes into,
    what depends on it, and which threats disrupt it.
    """
    focus = entity_or_404(store, resource_id, clearance)
    if focus.kind != "Resource":
        detail = f"{resource_id!r} is a {focus.kind}, not a Resource"
        raise ApiProblem(422, "not-a-resource", detail)
    rows, relations, cut = walk_supply(store, focus, clearance, max_nodes)
    page = GraphPage(title=f"Supply chain of {focus.name}", subtitle=focus.id)
    for row in rows:
        page.add_entity(row, size=26 if row.id == resource_id else 14)
    for rel in sorted(relations, key=lambda r: r.ref):
        page.add_relation(rel, *supply_label(rel))
    page.kind_legend()
    page.relation_legend()
    supplier_table(page, focus, rows, relations)
    if cut:
        page.cut = True
        page.notes.append(
            f"Showing the {max_nodes} closest links of the chain; raise `max_nodes` to see more."
        )
    return page


def supplier_table(
    page: GraphPage, focus: EntityRow, rows: list[EntityRow], relations: list[RelationRow]
) -> None:
    """The focus's suppliers as a table: share, year, scope and sources, largest first."""
    names = {row.id: row.name for row in rows}
    shares = [r for r in relations if r.type == "SOURCED_FROM" and r.source == focus.id]
    shares.sort(
        key=lambda r: (-float(r.props.get("share") or 0), str(r.props.get("year")), r.target)
    )
    page.table_columns = ["entity", "share", "year", "scope", "sources"]
    page.table_caption = f"Who supplies {focus.name}"
    page.table = [
        {
            "entity": names.get(r.target, r.target),
            "id": r.target,
            "share": share_text(r),
            "year": str(r.props.get("year", "")),
            "scope": str(r.props.get("scope", "")),
            "sources": shorten(r.props.get("source_ids", "")),
        }
        for r in shares
    ]


def share_of(rel: RelationRow) -> float | None:
    """The `share` of a relation when it has a numeric one."""
    share = rel.props.get("share")
    return float(share) if isinstance(share, int | float) else None


def share_text(rel: RelationRow) -> str:
    """'71%' for a share of 0.71, '' without one."""
    share = share_of(rel)
    return "" if share is None else f"{share:.0%}"


def supply_label(rel: RelationRow) -> tuple[str, float]:
    """Edge label and width: SOURCED_FROM shows its share and year, and is as wide as it."""
    share = share_of(rel)
    if rel.type != "SOURCED_FROM" or share is None:
        return rel.type, 1.0
    year = rel.props.get("year")
    return share_text(rel) + (f" ({year})" if year else ""), 1.0 + 7.0 * share
