"""Read GraphML as bundle records, streamed: what `keten load FILE.graphml` reads.

A file written by `keten export --format graphml` reads back to the records it was made of
(`keten.graph.graphml` says how values keep their types). GraphML from other tools loads too
as far as it means the same: a `<node>` is an entity (its `id`, and `kind`, `name` and the
rest as `<data>`), an `<edge>` a relation (`source`, `target`, and `type`, `key` and the rest
as `<data>`); key types `boolean`, `int`, `long`, `float`, `double` and `string` give typed
values, and a key whose `<desc>` is `keten:json` holds JSON text. yEd's drawing data (keys
with `yfiles.type`) is left out: it says how a node looks, not what is known of it.

The file is parsed in chunks by expat, the parser Python ships, and its records are handed
on as each chunk is parsed, so a file of millions of relations loads in flat memory. What
keten cannot hold is refused with the line and the element it is in, never dropped: data on
the graph itself, nested graphs, hyperedges, ports, undirected edges, data of undeclared keys
or values that are not of their key's type. A DOCTYPE is refused too: keten writes none,
and its entity declarations could make a small file expand without end.

>>> from pathlib import Path
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = Path(tmp) / "g.graphml"
...     _ = path.write_text('''<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
...       <key id="k" for="node" attr.name="kind" attr.type="string"/>
...       <key id="n" for="all" attr.name="name" attr.type="string"/>
...       <graph edgedefault="directed"><node id="vp:a"><data key="k">VitalProcess</data>
...       <data key="n">A</data></node><edge source="vp:a" target="vp:b"/></graph></graphml>''')
...     [(item.side, item.data, item.where) for item in read_graphml(path)]
[('entity', {'id': 'vp:a', 'kind': 'VitalProcess', 'name': 'A'}, 'line 4'), \
('relation', {'source': 'vp:a', 'target': 'vp:b'}, 'line 5')]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

import orjson

from keten.graph.graphml import JSON_DESC, NAMESPACE
from keten.ingest import readers  # the module, so that readers may import this one in turn
from keten.ingest.problems import Problem

CHUNK = 256 * 1024
SEPARATOR = "}"
"""Between an element's namespace and its local name, as expat reports names."""


class StopReading(Exception):
    """The file cannot be read on (not GraphML, a DOCTYPE, broken XML)."""


def parse_boolean(text: str) -> bool:
    """xs:boolean: true, false, 1 or 0."""
    word = text.strip().lower()
    if word in {"true", "1"}:
        return True
    if word in {"false", "0"}:
        return False
    raise ValueError(text)


PARSERS: dict[str, Callable[[str], Any]] = {
    "string": str,
    "boolean": parse_boolean,
    "int": lambda text: int(text.strip()),
    "long": lambda text: int(text.strip()),
    "float": lambda text: float(text.strip()),
    "double": lambda text: float(text.strip()),
    "json": orjson.loads,
}
"""Text of a `<data>` element to a value, by the type of its key."""


@dataclass(slots=True)
class Key:
    """A declared `<key>`: which elements it is for, the property it names, its type."""

    domain: str
    name: str
    kind: str
    drawing: bool = False
    default: str | None = None


@dataclass(slots=True)
class Open:
    """The node or edge being read."""

    side: str = ""
    record: dict[str, Any] = field(default_factory=dict)
    line: int = 0
    element: str = ""
    broken: bool = False


class GraphmlParser:
    """expat's events turned into records and problems, gathered in `out`.

    The handlers keep to what a file written by keten is made of (a `<data>` inside a node
    or an edge is by far the most frequent element) and look at little else on that path.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.out: list[readers.RawRecord | Problem] = []
        self.keys: dict[str, Key] = {}
        self.tags: list[str] = []
        """Local names of the open elements; names in other namespaces keep their URI."""
        self.tag_of: dict[str, str] = {}
        self.skip_below = 0
        """While > 0, what is inside the element at this depth is not looked at."""
        self.open = Open()
        self.key: Key | None = None
        """The key being declared, or whose `<data>` is being read."""
        self.key_id = ""
        self.text: list[str] | None = None
        """The text of the element being read, None when none is."""
        self.directed = True
        self.defaults: dict[str, list[tuple[str, Key]]] = {"node": [], "edge": []}
        """The keys with a default, per node and edge (keys come before the graph)."""
        self.parser = expat.ParserCreate(namespace_separator=SEPARATOR)
        self.parser.buffer_text = True
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.characters
        self.parser.StartDoctypeDeclHandler = self.doctype

    @property
    def line(self) -> int:
        """The line expat is at."""
        return self.parser.CurrentLineNumber

    def problem(self, why: str, field: str = "", value: Any = None, line: int = 0) -> None:
        """A problem at `line` (default: where the parser is)."""
        self.out.append(Problem(self.file, f"line {line or self.line}", field, why, value))

    def feed(self, chunk: bytes, last: bool) -> None:
        """Parse a chunk; broken XML stops the reading with a problem naming the line."""
        try:
            self.parser.Parse(chunk, last)
        except expat.ExpatError as exc:
            why = f"invalid XML: {expat.ErrorString(exc.code)} (column {exc.offset + 1})"
            self.out.append(Problem(self.file, f"line {exc.lineno}", "", why))
            raise StopReading from None

    def doctype(self, name: str, *_: Any) -> None:
        self.problem(f"a DOCTYPE (<!DOCTYPE {name}>) is refused: keten's GraphML has none")
        raise StopReading

    def local_name(self, name: str) -> str:
        """`name` without the GraphML namespace (or none); names of others keep theirs."""
        space, _, tag = name.rpartition(SEPARATOR)
        self.tag_of[name] = found = tag if space in {"", NAMESPACE} else name
        return found

    # -- elements -------------------------------------------------------------------------

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tags = self.tags
        tag = self.tag_of.get(name) or self.local_name(name)
        tags.append(tag)
        if self.skip_below:
            return
        depth = len(tags)
        if depth == 1:
            if tag != "graphml":
                self.problem(f"not GraphML: the root element is <{tag}>, not <graphml>")
                raise StopReading
            return
        handler = STARTS.get((tags[-2], tag))
        if handler is None:
            self.left_out(f"<{tag}> inside <{tags[-2]}>")
        else:
            handler(self, attrs)

    def left_out(self, what: str) -> None:
        """An element keten does not read: a problem, and its content is not looked at."""
        self.problem(f"{what} is not something keten can hold")
        self.open.broken = True
        self.skip_below = len(self.tags)
        self.text = None

    def ignore(self, _: dict[str, str]) -> None:
        """`<desc>` of the file, a graph or a record: words for readers, not data."""
        self.skip_below = len(self.tags)

    def declare(self, attrs: dict[str, str]) -> None:
        """`<key>`: what a `<data>` element with its id holds."""
        key_id = attrs.get("id")
        drawing = "yfiles.type" in attrs
        name = attrs.get("attr.name")
        if not key_id or (name is None and not drawing):
            self.problem("a <key> needs an id and an attr.name", "key", dict(attrs))
            self.skip_below = len(self.tags)
            return
        kind = attrs.get("attr.type", "string")
        if kind not in PARSERS or kind == "json":
            self.problem(f"<key id={key_id!r}> has an unknown attr.type", "key", kind)
            kind = "string"
        self.key = self.keys[key_id] = Key(attrs.get("for", "all"), name or key_id, kind, drawing)

    def key_text(self, _: dict[str, str]) -> None:
        """`<desc>` or `<default>` of a key: its text is read at the end."""
        self.text = []

    def graph(self, attrs: dict[str, str]) -> None:
        if "graph" in self.tags[:-1]:
            self.left_out("a nested <graph>")
            return
        self.directed = attrs.get("edgedefault", "directed") == "directed"
        for domain in ("node", "edge"):
            self.defaults[domain] = [
                (key_id, key)
                for key_id, key in self.keys.items()
                if key.default is not None and key.domain in {"all", domain}
            ]

    def node(self, attrs: dict[str, str]) -> None:
        self.open = Open("entity", {}, self.line, f"<node id={attrs.get('id')!r}>")
        if not attrs.get("id"):
            self.problem("a <node> needs an id", "id")
            self.open.broken = True
        else:
            self.open.record["id"] = attrs["id"]

    def edge(self, attrs: dict[str, str]) -> None:
        shown = " ".join(f"{a}={attrs[a]!r}" for a in ("source", "target") if a in attrs)
        self.open = Open("relation", {}, self.line, f"<edge {shown}>")
        for end in ("source", "target"):
            if not attrs.get(end):
                self.problem(f"an <edge> needs a {end}", end)
                self.open.broken = True
            else:
                self.open.record[end] = attrs[end]
        directed = attrs.get("directed")
        if directed == "false" or (directed is None and not self.directed):
            why = "is undirected: keten's relations have a direction (edgedefault='directed')"
            self.problem(f"{self.open.element} {why}")
            self.open.broken = True

    def data(self, attrs: dict[str, str]) -> None:
        """`<data>` of a node or an edge: its text is read at the end, by its key's type."""
        key_id = attrs.get("key", "")
        key = self.keys.get(key_id)
        owner = self.tags[-2]
        if key is None:
            self.problem(f"<data key={key_id!r}> in {self.open.element}: no such <key>", "key")
            self.open.broken = True
        elif key.domain != owner and key.domain != "all":
            why = f"<data key={key_id!r}> ({key.name}) is declared for {key.domain}s"
            self.problem(f"{why}, not <{owner}>s", key.name)
            self.open.broken = True
            key = None
        if key is None or key.drawing:
            self.skip_below = len(self.tags)
            return
        self.key, self.key_id, self.text = key, key_id, []

    def graph_data(self, attrs: dict[str, str]) -> None:
        self.left_out(f"<data key={attrs.get('key')!r}> on the graph")

    def characters(self, text: str) -> None:
        if self.text is not None:
            self.text.append(text)

    def end(self, name: str) -> None:
        tags = self.tags
        depth = len(tags)
        tag = tags.pop()
        if self.skip_below:
            if depth > self.skip_below:
                return
            self.skip_below = 0
            if tag != "key":
                return
        if self.text is not None:
            text = "".join(self.text)
            self.text = None
            if tag == "data":
                self.end_data(text)
            else:
                self.end_key_text(tag, text)
        elif tag in {"node", "edge"} and tags[-1] == "graph":
            self.end_record()
        elif tag == "key":
            self.key = None

    def end_key_text(self, tag: str, text: str) -> None:
        key = self.key
        if key is None:
            return
        if tag == "default":
            key.default = text
        elif text.strip() == JSON_DESC and key.kind == "string":
            key.kind = "json"

    def end_data(self, text: str) -> None:
        key = self.key
        self.key = None
        if key is not None:
            self.put(key, text)

    def put(self, key: Key, text: str, line: int = 0) -> None:
        """A data value into the open record, converted by its key's type."""
        record = self.open.record
        try:
            value = PARSERS[key.kind](text)
        except ValueError:
            kind = "JSON" if key.kind == "json" else f"a {key.kind}"
            why = f"<data key={self.key_id!r}> in {self.open.element} is not {kind}"
            self.problem(why, key.name, text, line)
            self.open.broken = True
            return
        if key.name in record and record[key.name] != value:
            why = f"{self.open.element} gives {key.name} twice"
            self.problem(why, key.name, value, line)
            self.open.broken = True
            return
        record[key.name] = value

    def end_record(self) -> None:
        opened = self.open
        for key_id, key in self.defaults["node" if opened.side == "entity" else "edge"]:
            if key.name not in opened.record:
                self.key_id = key_id
                self.put(key, str(key.default), opened.line)
        if not opened.broken:
            where = f"line {opened.line}"
            self.out.append(readers.RawRecord(opened.side, opened.record, self.file, where))  # type: ignore[arg-type]
        self.open = Open()


STARTS: dict[tuple[str, str], Callable[[GraphmlParser, dict[str, str]], None]] = {
    ("graph", "node"): GraphmlParser.node,
    ("graph", "edge"): GraphmlParser.edge,
    ("node", "data"): GraphmlParser.data,
    ("edge", "data"): GraphmlParser.data,
    ("graphml", "desc"): GraphmlParser.ignore,
    ("graphml", "key"): GraphmlParser.declare,
    ("key", "desc"): GraphmlParser.key_text,
    ("key", "default"): GraphmlParser.key_text,
    ("graphml", "graph"): GraphmlParser.graph,
    ("graph", "desc"): GraphmlParser.ignore,
    ("graph", "data"): GraphmlParser.graph_data,
    ("graphml", "data"): GraphmlParser.graph_data,
    ("node", "desc"): GraphmlParser.ignore,
    ("edge", "desc"): GraphmlParser.ignore,
}
"""What each element may hold, and what reading it does; anything else is refused."""


def read_graphml(path: Path) -> Iterator[readers.RawRecord | Problem]:
    """The records of a GraphML file, streamed, with a problem for whatever keten cannot hold."""
    parser = GraphmlParser(str(path))
    with path.open("rb") as handle:
        try:
            while True:
                chunk = handle.read(CHUNK)
                parser.feed(chunk, last=not chunk)
                yield from parser.out
                parser.out.clear()
                if not chunk:
                    break
        except StopReading:
            yield from parser.out
