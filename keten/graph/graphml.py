"""Write a store out as GraphML (for Gephi, yEd, networkx, and back into keten), streamed.

GraphML declares every attribute (`<key>`) before the graph, but which properties a store
holds is known only once all of it has been read. The export therefore reads the caller's
records twice: a first pass (`collect_keys`) only notes which (node or edge, name, type)
the visible records use, which costs about half of writing them (no text is made), and
the second writes the header with those keys and then every node and edge straight to
`out`. So the first bytes go out after the first pass rather than after the whole file,
nothing goes through a temporary file (the export before this wrote the body to one, as
large as the export), and memory stays flat. A key is declared only if a record the caller
may see uses it: property names of hidden records never show. Keys are numbered in sorted
order, so one store exports the same bytes whatever order it reads records in; a caller
that already knows the keys (the API keeps them per store revision) passes them in and
skips the first pass. A record written between the passes that needs a key the first pass
did not see stops the export (`GraphmlExportError`): export again.

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

import json
import re
from collections.abc import Callable, Iterable
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


def kind_of(value: Any) -> ValueType:
    """The key type of a property value (`typed` without making its text)."""
    kind = type(value)
    if kind is str:
        return "string" if NOT_KEPT.search(value) is None else "json"
    if kind is bool:
        return "boolean"
    if kind is int:
        return "long" if value in LONG else "json"
    return "double" if kind is float else "json"


Key = tuple[Domain, str, ValueType]
TICK = 10_000
"""Records of the first pass between two calls of its `tick`."""
DOMAIN_ORDER: dict[Domain, int] = {"node": 0, "edge": 1}


class KeyTable:
    """The `<key>`s of a file: one per (node or edge, property name, type), numbered in sorted
    order. A table is complete (made by `collect_keys`): asking it for a key it does not
    hold means the store changed since it was made."""

    def __init__(self, used: Iterable[Key]) -> None:
        ordered = sorted(set(used), key=lambda k: (DOMAIN_ORDER[k[0]], k[1], k[2]))
        self.ids: dict[Key, str] = {key: f"d{n}" for n, key in enumerate(ordered)}
        self.by_domain: dict[Domain, dict[tuple[str, ValueType], str]] = {"node": {}, "edge": {}}
        for (domain, name, kind), key_id in self.ids.items():
            self.by_domain[domain][(name, kind)] = key_id

    def id_of(self, domain: Domain, name: str, kind: ValueType) -> str:
        """The key id for a property; refused when the first pass did not see it."""
        found = self.by_domain[domain].get((name, kind))
        if found is None:
            raise GraphmlExportError(
                f"the store changed during the export ({domain} property {name!r} of type "
                f"{kind} appeared after its keys were declared); export again"
            )
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


def collect_keys(
    store: GraphStore, clearance: Tlp = Tlp.RED, tick: Callable[[], object] | None = None
) -> KeyTable:
    """The first pass: the keys the records `clearance` may see use. Raises
    `GraphmlExportError` for an id XML cannot carry, so that nothing has been written yet.
    `tick` is called every TICK records: `write_graphml` passes its output's `flush`, which
    lets a streamed export stop while nothing is written yet (its client gone)."""
    used: set[Key] = set()
    for n, entity in enumerate(store.iter_entities(clearance)):
        if tick is not None and n % TICK == 0:
            tick()
        attribute(entity.id, "entity id")
        record = entity.as_record()
        del record["id"]
        used.update(("node", name, kind_of(v)) for name, v in record.items() if v is not None)
    for n, relation in enumerate(store.iter_relations(clearance)):
        if tick is not None and n % TICK == 0:
            tick()
        attribute(edge_id(relation), "relation")
        record = relation.as_record()
        del record["source"], record["target"]
        used.update(("edge", name, kind_of(v)) for name, v in record.items() if v is not None)
    return KeyTable(used)


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
    store: GraphStore, out: IO[bytes], clearance: Tlp = Tlp.RED, keys: KeyTable | None = None
) -> dict[str, int]:
    """Stream the store's records that `clearance` may see to `out` as GraphML.

    `keys` are those of `collect_keys` for this store and clearance; without them the first
    pass runs here. Raises `GraphmlExportError`, before writing anything to `out`, for an id
    XML cannot carry (when the first pass runs here), and during the body when the store
    gained a key since `keys` were collected.
    """
    if keys is None:
        keys = collect_keys(store, clearance, out.flush)
    counts = {"entities": 0, "relations": 0}
    out.write(header(keys).encode())
    for entity in store.iter_entities(clearance):
        out.write(node_element(entity, keys).encode())
        counts["entities"] += 1
    for relation in store.iter_relations(clearance):
        out.write(edge_element(relation, keys).encode())
        counts["relations"] += 1
    out.write(FOOTER.encode())
    return counts
