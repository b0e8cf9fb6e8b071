"""Write a store out as a bundle (JSON, loadable again); GraphML is `keten.graph.graphml`.

JSON export streams record by record, so exporting a large store does not hold it in memory;
loading the export into another store (SQLite or Neo4j) reproduces every record. A record's
properties are written in sorted order: stores keep them in orders of their own (Neo4j in
the order it stored them), and one record must export to the same bytes from every store,
so that an export restored and exported again is the same file.
"""

from __future__ import annotations

from typing import IO, Any

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
