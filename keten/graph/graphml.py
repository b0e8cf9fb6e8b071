"""Write a store out as GraphML (for Gephi, yEd, networkx, and back into keten), streamed.

GraphML declares every attribute (`<key>`) before the graph, but which properties a store
holds is known only once all of it has been read. The nodes and edges are therefore written
first, record by record, to a temporary file (`scratch`: beside the output when the caller
knows where that is), and the keys they used are declared in front of them when that file is
copied to `out`. Memory stays flat however many relations the store holds, and a key is
declared only if a record the caller may see uses it: property names of hidden records never
show.

Values keep their type, so that `keten load` reads a file back to the same records:

* str -> `string`, bool -> `boolean`, int -> `long`, float -> `double` (written with `repr`,
  which reads back to the same float);
* lists, maps, integers beyond the signed 64-bit range and strings that XML 1.0 cannot
  carry unchanged (a carriage return, which XML parsers turn into a line feed; U+FFFE and
  U+FFFF) are written as JSON text, under a `string` key whose `<desc>` is `keten:json`;
* a property met with two types gets a key per type, both with its name.

Node ids are entity ids; an edge's id is its identity `source TYPE target [key]`, unique
because ids and types hold no spaces. A record is written as the JSON export writes it
(`keten.graph.export.exported`): its properties in sorted order, so one store exports the
same bytes after a restore. Elements are written as text with the standard library's
escaping (`xml.sax.saxutils`) rather than through its `XMLGenerator`, which makes a call per
tag and per value and took about five times as long (`bench/export_speed.py`).

>>> typed(3), typed(3.0), typed(True), typed("a<b"), typed(["x"])
(('long', '3'), ('double', '3.0'), ('boolean', 'true'), ('string', 'a&lt;b'), ('json', '["x"]'))
>>> typed("two\\r\\nlines")
('json', '"two\\\\r\\\\nlines"')
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Literal
from xml.sax.saxutils import escape, quoteattr

import orjson

from keten.graph.export import exported
from keten.graph.store import EntityRow, GraphStore, RelationRow
from keten.schema.markings import Tlp

NAMESPACE = "http://graphml.graphdrawing.org/xmlns"
SCHEMA = "http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd"
JSON_DESC = "keten:json"
"""The `<desc>` of a key whose values are JSON text (lists, maps, awkward strings)."""
ValueType = Literal["string", "boolean", "long", "double", "json"]
Domain = Literal["node", "edge"]
LONG = range(-(2**63), 2**63)
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 cannot hold at all, not even as character references."""
NOT_KEPT = re.compile("[\x00-\x08\x0b\x0c\r\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters of a string that would not read back as written (NOT_XML, and `\\r`)."""
NEEDS_CARE = re.compile('[&<>"\x00-\x1f\ud800-\udfff\ufffe\uffff]')
"""Characters a string may not hold to be written as it is (as content or attribute)."""
COPY_CHUNK = 1024 * 1024


class GraphmlExportError(ValueError):
    """A record GraphML cannot represent (an id holding a character XML 1.0 cannot carry)."""


def json_text(value: Any) -> str:
    """`value` as JSON text that XML can carry (non-ASCII escaped only where it must be)."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(value, ensure_ascii=True)
    return json.dumps(value, ensure_ascii=True) if NOT_XML.search(text) else text


def typed(value: Any) -> tuple[ValueType, str]:
    """The key type of a property value and its text, escaped for XML content."""
    kind = type(value)
    if kind is str:
        if NEEDS_CARE.search(value) is None:
            return "string", value
        if NOT_KEPT.search(value) is None:
            return "string", escape(value)
    elif kind is bool:
        return "boolean", "true" if value else "false"
    elif kind is int:
        if value in LONG:
            return "long", str(value)
    elif kind is float:
        return "double", repr(value)
    return "json", escape(json_text(value))


class KeyTable:
    """The `<key>`s a file uses: one per (node or edge, property name, type), in order of use."""

    def __init__(self) -> None:
        self.ids: dict[tuple[Domain, str, ValueType], str] = {}
        self.by_domain: dict[Domain, dict[tuple[str, ValueType], str]] = {"node": {}, "edge": {}}

    def id_of(self, domain: Domain, name: str, kind: ValueType) -> str:
        """The key id for a property, declared at first use."""
        found = self.by_domain[domain].get((name, kind))
        if found is None:
            found = self.ids[(domain, name, kind)] = f"d{len(self.ids)}"
            self.by_domain[domain][(name, kind)] = found
        return found

    def declarations(self) -> str:
        """The `<key>` elements, one per line."""
        lines = []
        for (domain, name, kind), key_id in self.ids.items():
            attr_type = "string" if kind == "json" else kind
            opening = f'  <key id="{key_id}" for="{domain}" attr.name={quoteattr(name)} '
            if kind == "json":
                lines.append(f'{opening}attr.type="string"><desc>{JSON_DESC}</desc></key>\n')
            else:
                lines.append(f'{opening}attr.type="{attr_type}"/>\n')
        return "".join(lines)


def attribute(text: str, what: str) -> str:
    """An id as a quoted XML attribute value; refused if XML cannot carry it."""
    if NEEDS_CARE.search(text) is None:
        return f'"{text}"'
    if NOT_XML.search(text):
        raise GraphmlExportError(
            f"{what} {text!r} holds a character XML 1.0 cannot carry; export it as JSON instead"
        )
    return quoteattr(text)


def data_lines(fields: dict[str, Any], domain: Domain, keys: KeyTable) -> list[str]:
    """`<data>` lines for the fields of a record (None values are left out, as stores do)."""
    lines = []
    known = keys.by_domain[domain]
    kind: ValueType
    for name, value in fields.items():
        if type(value) is str and NEEDS_CARE.search(value) is None:
            kind, text = "string", value  # the common case, without a call
        elif value is None:
            continue
        else:
            kind, text = typed(value)
        key_id = known.get((name, kind)) or keys.id_of(domain, name, kind)
        lines.append(f'    <data key="{key_id}">{text}</data>\n')
    return lines


def node_element(entity: EntityRow, keys: KeyTable) -> str:
    """One entity as a `<node>` element."""
    record = exported(entity)
    node_id = attribute(record.pop("id"), "entity id")
    return "".join([f"  <node id={node_id}>\n", *data_lines(record, "node", keys), "  </node>\n"])


def edge_id(relation: RelationRow) -> str:
    """`source TYPE target [key]`: unique, since ids and types hold no whitespace."""
    identity = f"{relation.source} {relation.type} {relation.target}"
    return f"{identity} {relation.key}" if relation.key else identity


def edge_element(relation: RelationRow, keys: KeyTable) -> str:
    """One relation as an `<edge>` element."""
    record = exported(relation)
    source = attribute(record.pop("source"), "entity id")
    target = attribute(record.pop("target"), "entity id")
    opening = f"  <edge id={attribute(edge_id(relation), 'relation')} source={source} "
    return "".join(
        [f"{opening}target={target}>\n", *data_lines(record, "edge", keys), "  </edge>\n"]
    )


def header(keys: KeyTable) -> str:
    """Everything before the first node: the XML declaration, `<graphml>`, the keys."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<graphml xmlns="{NAMESPACE}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{NAMESPACE} {SCHEMA}">\n'
        f"{keys.declarations()}"
        '  <graph id="keten" edgedefault="directed">\n'
    )


FOOTER = "  </graph>\n</graphml>\n"


def write_graphml(
    store: GraphStore, out: IO[bytes], clearance: Tlp = Tlp.RED, scratch: Path | None = None
) -> dict[str, int]:
    """Stream the store's records that `clearance` may see to `out` as GraphML.

    The graph goes through a temporary file in `scratch` (default: the system's temporary
    folder) on its way to `out`, so that the keys it uses can be declared first. Raises
    `GraphmlExportError`, before writing anything to `out`, for an id XML cannot carry.
    """
    counts = {"entities": 0, "relations": 0}
    keys = KeyTable()
    with tempfile.TemporaryFile(dir=scratch, prefix="keten-graphml-") as raw:
        body = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        for entity in store.iter_entities(clearance):
            body.write(node_element(entity, keys))
            counts["entities"] += 1
        for relation in store.iter_relations(clearance):
            body.write(edge_element(relation, keys))
            counts["relations"] += 1
        body.flush()
        out.write(header(keys).encode())
        raw.seek(0)
        shutil.copyfileobj(raw, out, COPY_CHUNK)
        out.write(FOOTER.encode())
        body.detach()
    return counts
