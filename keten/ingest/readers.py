"""Bundle readers: JSON, YAML, JSONL, CSV and GraphML files, folders of them, in-memory bundles.

Each reader yields `RawRecord`s one at a time (or a `Problem` where the file itself is
broken), so that a large JSONL or JSON file streams through validation and into the store
without being held in memory whole.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import ijson
import msgspec
import orjson
import yaml

from keten.ingest.graphml import read_graphml
from keten.ingest.problems import Problem
from keten.ingest.stix import NotKept, looks_like_stix, read_stix_bundle

Side = Literal["entity", "relation"]
STREAM_JSON_ABOVE = 32 * 1024 * 1024
"""JSON files larger than this are parsed incrementally with ijson."""
LIST_COLUMNS = frozenset({"aliases", "source_ids"})
"""CSV columns that hold lists, written as values separated by `;`."""
SUFFIXES = {".json", ".yaml", ".yml", ".jsonl", ".ndjson", ".csv", ".graphml"}


class RawRecord(msgspec.Struct, frozen=True):
    """A record as read, before validation, with where it came from.

    A msgspec struct: a load makes one per line, and it is made in C, in under half the time
    of a slotted dataclass (a frozen one takes longer still).
    """

    side: Side
    data: Any
    file: str
    place: str | int
    """Where in the file: a place such as `relations[3]`, or a JSONL line number, put into
    words only where something names it (`where`)."""

    @property
    def where(self) -> str:
        """The place in words: `relations[3]`, `line 12`."""
        return self.place if isinstance(self.place, str) else f"line {self.place}"


Item = RawRecord | Problem | NotKept
"""What a reader yields: a record, a problem, or a count of what a STIX import left out."""


def read_paths(paths: list[Path]) -> Iterator[Item]:
    """Every record of every path (files or folders), in order (chained in C: no Python
    step per record between a load and the file's reader)."""
    return chain.from_iterable(map(read_path, paths))


def read_path(path: Path) -> Iterator[Item]:
    """The records of a file or folder, or the problem that there is no such thing."""
    if path.is_dir():
        return read_folder(path)
    if path.is_file():
        return read_file(path)
    return iter([Problem(str(path), "-", "", "no such file or folder")])


def read_folder(folder: Path) -> Iterator[Item]:
    """The bundle files of a folder and its subfolders, in sorted order."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        yield Problem(
            str(folder), "-", "", f"holds no bundle files ({', '.join(sorted(SUFFIXES))})"
        )
    for path in files:
        yield from read_file(path)


def read_file(path: Path) -> Iterator[Item]:
    """Records of one file, by its suffix (the reader itself, not a generator around it: a
    level of `yield from` costs a step per record)."""
    suffix = path.suffix.lower()
    readers: dict[str, Callable[[Path], Iterator[Item]]] = {
        ".jsonl": read_jsonl,
        ".ndjson": read_jsonl,
        ".json": read_json,
        ".yaml": read_yaml,
        ".yml": read_yaml,
        ".csv": read_csv,
        ".graphml": read_graphml,
    }
    reader = readers.get(suffix)
    if reader is None:
        return iter([Problem(str(path), "-", "", f"unknown bundle format {suffix!r}")])
    return reader(path)


def read_bundle(bundle: Any, file: str) -> Iterator[Item]:
    """Records of an in-memory bundle `{"entities": [...], "relations": [...]}`."""
    if not isinstance(bundle, dict):
        yield Problem(file, "-", "", "a bundle must be an object with entities and relations")
        return
    unknown = set(bundle) - {"entities", "relations"}
    if unknown:
        yield Problem(file, "-", ", ".join(sorted(unknown)), "unknown top-level keys")
    for key, side in (("entities", "entity"), ("relations", "relation")):
        items = bundle.get(key, [])
        if not isinstance(items, list):
            yield Problem(file, key, key, "must be a list", type(items).__name__)
            continue
        for index, data in enumerate(items):
            yield RawRecord(side, data, file, f"{key}[{index}]")  # type: ignore[arg-type]


def read_json(path: Path) -> Iterator[Item]:
    """A JSON bundle (or a STIX 2.1 bundle); large keten bundles are streamed with ijson."""
    if path.stat().st_size <= STREAM_JSON_ABOVE:
        try:
            bundle = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            yield Problem(str(path), f"line {exc.lineno}", "", f"invalid JSON: {exc.msg}")
            return
        if isinstance(bundle, dict) and bundle.get("type") == "bundle":
            yield from read_stix_bundle(bundle, str(path))
        else:
            yield from read_bundle(bundle, str(path))
        return
    with path.open("rb") as handle:
        stix = looks_like_stix(handle)
    if stix:
        yield from read_stix_bundle(orjson.loads(path.read_bytes()), str(path))
        return
    for key, side in (("entities", "entity"), ("relations", "relation")):
        with path.open("rb") as handle:
            try:
                for index, data in enumerate(ijson.items(handle, f"{key}.item", use_float=True)):
                    yield RawRecord(side, data, str(path), f"{key}[{index}]")  # type: ignore[arg-type]
            except ijson.JSONError as exc:
                yield Problem(str(path), key, "", f"invalid JSON: {exc}")
                return


def read_yaml(path: Path) -> Iterator[Item]:
    """A YAML bundle (small, hand-written files: parsed whole).

    Aliases may repeat what an anchor holds, but a file whose aliases would expand it beyond
    `ALIAS_EXPANSION_LIMIT` nodes is refused before anything is built ("billion laughs").
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(path.read_text(encoding="utf-8"))
    try:
        node = loader.get_single_node()
        if node is not None and expanded_size(node) > ALIAS_EXPANSION_LIMIT:
            why = f"its aliases expand to more than {ALIAS_EXPANSION_LIMIT:,} values"
            yield Problem(str(path), "-", "", f"refused YAML: {why}")
            return
        bundle = loader.construct_document(node) if node is not None else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "-"
        yield Problem(str(path), where, "", f"invalid YAML: {exc}")
        return
    finally:
        loader.dispose()
    yield from read_bundle(bundle if bundle is not None else {}, str(path))


ALIAS_EXPANSION_LIMIT = 1_000_000
"""Most values a YAML bundle may hold once its aliases are expanded."""


def expanded_size(root: yaml.Node) -> int:
    """How many values a composed YAML document holds with every alias expanded.

    Aliases compose to the very node of their anchor, so the sizes of shared nodes are
    counted once each (by identity) and multiplied where they are used; the walk is
    iterative, so deep nesting cannot exhaust the stack.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done or not children:
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def read_jsonl(path: Path) -> Iterator[Item]:
    """A JSONL bundle: one `{"entity": {...}}` or `{"relation": {...}}` per line."""
    name = str(path)
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if line.strip():
                    yield Problem(name, f"line {number}", "", f"invalid JSON: {exc.msg}")
                continue
            if type(doc) is dict and len(doc) == 1:
                if "relation" in doc:  # most lines: asked first
                    yield RawRecord("relation", doc["relation"], name, number)
                    continue
                if "entity" in doc:
                    yield RawRecord("entity", doc["entity"], name, number)
                    continue
            yield Problem(
                name,
                f"line {number}",
                "",
                'a line must be {"entity": {...}} or {"relation": {...}}',
            )


def read_csv(path: Path) -> Iterator[Item]:
    """`entities.csv` or `relations.csv`: a header row, then one record per row."""
    stem = path.stem.lower()
    if stem not in {"entities", "relations"}:
        yield Problem(str(path), "-", "", "a CSV bundle file must be entities.csv or relations.csv")
        return
    side: Side = "entity" if stem == "entities" else "relation"
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            where = f"line {reader.line_num}"
            if None in row:
                yield Problem(str(path), where, "", "more values than header columns")
                continue
            yield RawRecord(side, csv_record(row), str(path), where)


def csv_record(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a record: empty cells dropped, list and JSON cells decoded."""
    record: dict[str, Any] = {}
    for column, cell in row.items():
        value = (cell or "").strip()
        if not value:
            continue
        if column in LIST_COLUMNS:
            record[column] = [part.strip() for part in value.split(";") if part.strip()]
        elif value[0] in "[{":
            try:
                record[column] = orjson.loads(value)
            except orjson.JSONDecodeError:
                record[column] = value
        else:
            record[column] = value
    return record
