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
from keten.api.pages.i18n import Lang
from keten.api.pages.layout import layered
from keten.api.pages.style import TIME_BANDS, band_of, kind_shape
from keten.api.pages.tables import Table
from keten.api.pages.tooltips import shorten
from keten.api.problems import ApiProblem
from keten.graph.projection import Projection
from keten.graph.store import EntityRow, GraphStore, RelationFilter, RelationRow
from keten.queries.cascade import CascadeResult, cascade
from keten.queries.errors import UnknownEntityError
from keten.schema.markings import Tlp

FETCH_FACTOR = 4
"""The neighbourhood walk reads up to this many times `max_nodes` entities, then ranks."""
MAX_FETCH = 2000


def entity_or_404(store: GraphStore, entity_id: str, clearance: Tlp) -> EntityRow:
    """The entity, or `UnknownEntityError` (also when it is above the clearance: same
    answer): a 404 page in the reader's language for a browser, a 404 problem for a program,
    worded as the analyses word an unknown id."""
    row = store.get_entity(entity_id, clearance)
    if row is None:
        raise UnknownEntityError([entity_id])
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


def entity_table(rows: Sequence[EntityRow], lang: Lang) -> Table:
    """The drawn entities as a table, closest first."""
    table = Table(
        "entities", lang._("Entities shown"), ["entity", "kind", "marking"], links={"entity": "id"}
    )
    table.rows = [
        {
            "entity": lang.name(row.name, row.props),
            "id": row.id,
            "kind": lang._(row.kind),
            "marking": f"TLP:{row.marking.upper()}",
        }
        for row in rows
    ]
    return table


def neighbourhood_title(centre: EntityRow, lang: Lang) -> str:
    """'Neighbourhood of <the entity's name>'."""
    return lang._("Neighbourhood of {name}", name=lang.name(centre.name, centre.props))


def neighbourhood_page(
    store: GraphStore, entity_id: str, depth: int, clearance: Tlp, max_nodes: int, lang: Lang
) -> GraphPage:
    """Entities within `depth` hops of `entity_id` and the relations among them."""
    centre = entity_or_404(store, entity_id, clearance)
    fetch = min(max_nodes * FETCH_FACTOR, MAX_FETCH)
    entities, relations = store.neighbourhood(entity_id, depth, clearance, limit=fetch)
    ranked = rank_neighbourhood(entity_id, entities, relations)
    page = GraphPage(
        title=neighbourhood_title(centre, lang),
        subtitle=lang._("{id}, {depth} hop(s) either way", id=centre.id, depth=depth),
        lang=lang,
    )
    for row in ranked[:max_nodes]:
        centred = row.id == entity_id
        name = lang.name(row.name, row.props)
        page.add_entity(row, size=26 if centred else 14, name=name, important=centred)
    shown = [
        r
        for r in relations
        if r.source in page.network.node_map and r.target in page.network.node_map
    ]
    for rel in shown:
        page.add_relation(rel, label=rel.type)
    page.kind_legend(lang)
    page.relation_legend()
    page.tables.append(entity_table(ranked[:max_nodes], lang))
    if len(ranked) > max_nodes:
        page.cut = True
        page.notes.append(
            lang._(
                "Showing {shown} of {total} entities: the closest first, then the most "
                "connected. Raise `max_nodes` or lower `depth` to see the rest.",
                shown=max_nodes,
                total=len(ranked),
            )
        )
    if len(entities) >= fetch:
        page.notes.append(
            lang._(
                "The walk stopped after {count} entities; lower `depth` to see all.", count=fetch
            )
        )
    return page


def named(names: Sequence[str], lang: Lang, shown: int = 3) -> str:
    """'a, b, c and 2 more' for a title.

    >>> named(["a", "b", "c", "d", "e"], Lang("en"))
    'a, b, c and 2 more'
    """
    head = ", ".join(names[:shown])
    if len(names) <= shown:
        return head
    return lang._("{head} and {count} more", head=head, count=len(names) - shown)


def source_names(store: GraphStore, sources: Sequence[str], clearance: Tlp, lang: Lang) -> str:
    """The sources by name for a title, 'a, b, c and 2 more' (404 problem for a hidden or
    unknown one, checked before any work starts)."""
    rows = [entity_or_404(store, source, clearance) for source in dict.fromkeys(sources)]
    return named([lang.name(row.name, row.props) for row in rows], lang)


def cascade_title(store: GraphStore, sources: Sequence[str], clearance: Tlp, lang: Lang) -> str:
    """'Chain effects of <the sources' names>'."""
    return lang._("Chain effects of {names}", names=source_names(store, sources, clearance, lang))


def cascade_page(
    store: GraphStore,
    projection: Projection,
    sources: Sequence[str],
    horizon_hours: float,
    min_strength: float,
    clearance: Tlp,
    max_nodes: int,
    lang: Lang,
) -> GraphPage:
    """The cascade from `sources`: each entity coloured by its time to impact, linked to
    the predecessor that explains that time, and the interests it reaches; laid out in
    columns by depth (keten.api.pages.layout).
    """
    title = cascade_title(store, sources, clearance, lang)
    result = cascade(projection, sources, horizon_hours, min_strength, limit=max_nodes)
    page = GraphPage(
        title=title,
        subtitle=lang._(
            "within {hours}, edges of strength >= {strength}",
            hours=lang.hours(horizon_hours),
            strength=f"{min_strength:g}",
        ),
        lang=lang,
    )
    table = Table(
        "affected",
        lang._("Affected entities, earliest first"),
        ["time to impact", "entity", "kind", "depth", "via"],
        links={"entity": "id"},
    )
    page.tables.append(table)
    draw_affected(page, table, store, result, clearance, lang)
    draw_interests(page, store, result, clearance, lang)
    page.positions = cascade_positions(page, result)
    page.legend += [LegendItem(lang._(band.label), band.colour) for band in TIME_BANDS]
    page.legend.append(LegendItem(lang._("dashed: safeguards an interest"), "#8a8a8a", "dash"))
    kinds = {a.kind for a in result.affected} | ({"Interest"} if result.interests else set())
    page.legend += [LegendItem(lang._(kind), "#ffffff", kind_shape(kind)) for kind in sorted(kinds)]
    if result.total > len(result.affected):
        page.cut = True
        page.notes.append(
            lang._(
                "Showing the {shown} earliest of {total} affected entities; raise `max_nodes` "
                "or shorten `horizon_hours` to see the rest.",
                shown=len(result.affected),
                total=result.total,
            )
        )
    if result.total == len(set(sources)):
        page.notes.append(lang._("Nothing depends on the sources within the horizon."))
    return page


def cascade_positions(page: GraphPage, result: CascadeResult) -> dict[str, tuple[float, float]]:
    """Columns by depth, earliest first, and the interests in a last column."""
    drawn = page.network.node_map
    interests = [i.id for i in result.interests if i.id in drawn]
    bands: dict[int, list[str]] = {}
    for item in result.affected:
        if item.id in drawn and item.id not in interests:
            bands.setdefault(item.depth, []).append(item.id)
    return layered([bands[depth] for depth in sorted(bands)], interests)


def draw_affected(
    page: GraphPage,
    table: Table,
    store: GraphStore,
    result: CascadeResult,
    clearance: Tlp,
    lang: Lang,
) -> None:
    """Nodes of the affected entities and the edges of the explaining chain; the sources
    and the earliest hit keep their labels whatever the size of the graph."""
    earliest = next((item.id for item in result.affected if item.depth > 0), None)
    for item in result.affected:
        row = store.get_entity(item.id, clearance)
        if row is None:  # deleted since the projection was built
            continue
        via = " -> ".join(item.via) if item.via else lang._("a source")
        extra = (
            lang._("time to impact: {hours}", hours=lang.hours(item.time_to_impact_hours)),
            lang._("via: {via}", via=via),
        )
        source = item.depth == 0
        name = lang.name(row.name, row.props)
        page.add_entity(
            row,
            band_of(item.time_to_impact_hours).colour,
            extra,
            24 if source else 14,
            name=name,
            important=source or item.id == earliest,
        )
        table.rows.append(
            {
                "time to impact": lang.hours(item.time_to_impact_hours),
                "entity": name,
                "id": item.id,
                "kind": lang._(item.kind),
                "depth": str(item.depth),
                "via": via,
            }
        )
    times = {a.id: a.time_to_impact_hours for a in result.affected}
    for item in result.affected:
        if item.via and item.via[-1] in page.network.node_map and item.id in page.network.node_map:
            delay = item.time_to_impact_hours - times[item.via[-1]]
            page.network.add_edge(item.via[-1], item.id, label=f"+{lang.hours(delay)}")


def draw_interests(
    page: GraphPage, store: GraphStore, result: CascadeResult, clearance: Tlp, lang: Lang
) -> None:
    """Interests reached through SAFEGUARDS, each linked from the processes that hit it."""
    for interest in result.interests:
        row = store.get_entity(interest.id, clearance)
        if row is None:
            continue
        hours = lang.hours(interest.time_to_impact_hours)
        extra = (lang._("first hit after {hours}", hours=hours),)
        colour = band_of(interest.time_to_impact_hours).colour
        name = lang.name(row.name, row.props)
        page.add_entity(row, colour, extra, 22, name=name, important=True)
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
                    if len(rows) >= max_nodes:  # before reading it: a hub has 200k of them
                        cut = True
                        continue
                    other = store.get_entity(other_id, clearance)
                    if other is None:  # deleted since the relation was read
                        continue
                    rows[other_id], hops[other_id] = other, hops[node.id] + 1
                    if then != "stop" and other.kind in PASSES_ON and hops[other_id] < SUPPLY_DEPTH:
                        queue.append((other, then))
                relations[rel.ref] = rel
    return list(rows.values()), list(relations.values()), cut


def supply_focus(store: GraphStore, resource_id: str, clearance: Tlp) -> EntityRow:
    """The resource a supply page is about: a 404 problem when unknown or hidden, a 422
    when it is no Resource."""
    focus = entity_or_404(store, resource_id, clearance)
    if focus.kind != "Resource":
        detail = f"{resource_id!r} is a {focus.kind}, not a Resource"
        raise ApiProblem(422, "not-a-resource", detail)
    return focus


def supply_title(focus: EntityRow, lang: Lang) -> str:
    """'Supply chain of <the resource's name>'."""
    return lang._("Supply chain of {name}", name=lang.name(focus.name, focus.props))


def supply_page(
    store: GraphStore, resource_id: str, clearance: Tlp, max_nodes: int, lang: Lang
) -> GraphPage:
    """Who supplies a resource (edge width = share), what goes into it, what it goes into,
    what depends on it, and which threats disrupt it.
    """
    focus = supply_focus(store, resource_id, clearance)
    rows, relations, cut = walk_supply(store, focus, clearance, max_nodes)
    focus_name = lang.name(focus.name, focus.props)
    page = GraphPage(title=supply_title(focus, lang), subtitle=focus.id, lang=lang)
    suppliers = {r.target for r in relations if r.type == "SOURCED_FROM" and r.source == focus.id}
    for row in rows:
        centred = row.id == resource_id
        page.add_entity(
            row,
            size=26 if centred else 14,
            name=lang.name(row.name, row.props),
            important=centred or row.id in suppliers,
        )
    for rel in sorted(relations, key=lambda r: r.ref):
        page.add_relation(rel, *supply_label(rel))
    page.kind_legend(lang)
    page.relation_legend()
    page.tables.append(supplier_table(focus, focus_name, rows, relations, lang))
    if cut:
        page.cut = True
        page.notes.append(
            lang._(
                "Showing the {shown} closest links of the chain; raise `max_nodes` to see more.",
                shown=max_nodes,
            )
        )
    return page


def supplier_table(
    focus: EntityRow,
    focus_name: str,
    rows: list[EntityRow],
    relations: list[RelationRow],
    lang: Lang,
) -> Table:
    """The focus's suppliers as a table: share, year, scope and sources, largest first."""
    names = {row.id: lang.name(row.name, row.props) for row in rows}
    shares = [r for r in relations if r.type == "SOURCED_FROM" and r.source == focus.id]
    shares.sort(
        key=lambda r: (-float(r.props.get("share") or 0), str(r.props.get("year")), r.target)
    )
    table = Table(
        "suppliers",
        lang._("Who supplies {name}", name=focus_name),
        ["entity", "share", "year", "scope", "sources"],
        links={"entity": "id"},
    )
    table.rows = [
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
    return table


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
