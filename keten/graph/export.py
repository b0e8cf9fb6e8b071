"""Write a store out as a bundle (JSON, loadable again) or as GraphML (for Gephi, yEd, networkx).

JSON export streams record by record, so exporting a large store does not hold it in memory;
loading the export into another store (SQLite or Neo4j) reproduces every record. A record's
properties are written in sorted order: stores keep them in orders of their own (Neo4j in
the order it stored them), and one record must export to the same bytes from every store,
so that an export restored and exported again is the same file.
"""

from __future__ import annotations

from typing import IO, Any

import networkx as nx
import orjson

from keten.graph.store import EntityRow, GraphStore, RelationRow
from keten.schema.markings import Tlp


def write_json(store: GraphStore, out: IO[bytes], clearance: Tlp = Tlp.RED) -> dict[str, int]:
    """Stream `{"entities": [...], "relations": [...]}` to `out`; returns the counts."""
    counts = {"entities": 0, "relations": 0}
    out.write(b'{"entities": [')
    for n, entity in enumerate(store.iter_entities(clearance)):
        out.write(b",\n" if n else b"\n")
        out.write(orjson.dumps(exported(entity)))
        counts["entities"] += 1
    out.write(b'\n], "relations": [')
    for n, relation in enumerate(store.iter_relations(clearance)):
        out.write(b",\n" if n else b"\n")
        out.write(orjson.dumps(exported(relation)))
        counts["relations"] += 1
    out.write(b"\n]}\n")
    return counts


def exported(row: EntityRow | RelationRow) -> dict[str, Any]:
    """A row as an exported record: `as_record()` with the properties in sorted order (put
    in order in the row itself, which the export alone holds)."""
    names = list(row.props)
    if names != sorted(names):
        row.props = dict(sorted(row.props.items()))
    return row.as_record()


def to_networkx(store: GraphStore, clearance: Tlp = Tlp.RED) -> nx.MultiDiGraph:
    """The store as a networkx MultiDiGraph; edge keys are `TYPE:key`."""
    graph = nx.MultiDiGraph()
    for entity in store.iter_entities(clearance):
        graph.add_node(entity.id, **entity.as_record())
    for relation in store.iter_relations(clearance):
        record = relation.as_record()
        key = f"{relation.type}:{relation.key}" if relation.key else relation.type
        # a 4-tuple, since a keyed relation's record has a `key` of its own
        graph.add_edges_from([(relation.source, relation.target, key, record)])
    return graph


def graphml_safe(attrs: dict[str, Any]) -> dict[str, Any]:
    """GraphML holds scalars only: lists and dicts become JSON text."""
    return {
        k: v if isinstance(v, str | int | float | bool) else orjson.dumps(v).decode()
        for k, v in attrs.items()
        if v is not None
    }


def write_graphml(store: GraphStore, out: IO[bytes], clearance: Tlp = Tlp.RED) -> dict[str, int]:
    """Write GraphML; list and dict properties are JSON-encoded strings."""
    graph = to_networkx(store, clearance)
    for _, attrs in graph.nodes(data=True):
        safe = graphml_safe(attrs)
        attrs.clear()
        attrs.update(safe)
    for _, _, attrs in graph.edges(data=True):
        safe = graphml_safe(attrs)
        attrs.clear()
        attrs.update(safe)
    nx.write_graphml(graph, out)
    return {"entities": graph.number_of_nodes(), "relations": graph.number_of_edges()}
