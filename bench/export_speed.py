"""Time and peak memory of `keten export --format graphml`, against bare writers, per size.

Run: `.venv/bin/python -m bench.export_speed [--sizes 10000:100000,100000:1000000]`

For each size ENTITIES:RELATIONS a synthetic network (as `keten generate` makes) is loaded
into a new SQLite store. Then each writer exports that store to a file, each in a process
of its own, so that its peak resident memory is its own:

* `keten graphml`: `keten.graph.graphml.write_graphml`, as `keten export -f graphml` runs it
  (two reads of the store: the keys its records use, then the file);
* `keten json`: `keten.graph.export.write_json`, keten's own bundle, for comparison;
* `bare XMLGenerator` (the baseline): the same rows from the same store, written by a bare
  loop with the standard library's streaming XML writer: every field as a `<data>` element
  of its name, no types, no key declarations, one read of the store;
* `bare file writes`: the same loop with plain f-strings and no escaping at all (not valid
  XML for every value; the floor of writing these bytes from Python);
* `networkx` (the export before issue 16, keys left out of the edge data so that keyed
  relations do not crash it): only up to `--networkx-up-to` relations, as it holds the
  whole graph in memory.

"growth" is the peak minus the resident memory of the same process just before the export
(the interpreter, keten's imports and the open store): what the export itself needs.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import XMLGenerator

from keten.graph.sqlite import SqliteStore
from keten.graph.store import GraphStore
from keten.ingest import load_paths
from keten.queries.synthetic import generate_network

WRITERS = ["keten graphml", "keten json", "bare XMLGenerator", "bare file writes", "networkx"]
BASELINE = "bare XMLGenerator"


def bare_xml(store: GraphStore, out: IO[bytes]) -> None:
    """The baseline: every row of the store as GraphML-shaped XML, by the stdlib writer."""
    xml = XMLGenerator(out, encoding="utf-8", short_empty_elements=True)
    xml.startDocument()
    xml.startElement("graphml", {"xmlns": "http://graphml.graphdrawing.org/xmlns"})
    xml.startElement("graph", {"edgedefault": "directed"})
    for entity in store.iter_entities():
        record = entity.as_record()
        xml.startElement("node", {"id": record.pop("id")})
        fields(xml, record)
        xml.endElement("node")
    for relation in store.iter_relations():
        record = relation.as_record()
        xml.startElement("edge", {"source": record.pop("source"), "target": record.pop("target")})
        fields(xml, record)
        xml.endElement("edge")
    xml.endElement("graph")
    xml.endElement("graphml")
    xml.endDocument()


def bare_writes(store: GraphStore, out: IO[bytes]) -> None:
    """The floor: the same rows as text by plain f-strings, nothing escaped or typed."""
    text = io.TextIOWrapper(out, encoding="utf-8")
    text.write('<graphml xmlns="http://graphml.graphdrawing.org/xmlns">\n<graph>\n')
    for entity in store.iter_entities():
        record = entity.as_record()
        text.write(f'<node id="{record.pop("id")}">\n')
        text.writelines(f'<data key="{name}">{value}</data>\n' for name, value in record.items())
        text.write("</node>\n")
    for relation in store.iter_relations():
        record = relation.as_record()
        text.write(f'<edge source="{record.pop("source")}" target="{record.pop("target")}">\n')
        text.writelines(f'<data key="{name}">{value}</data>\n' for name, value in record.items())
        text.write("</edge>\n")
    text.write("</graph>\n</graphml>\n")
    text.detach()


def fields(xml: XMLGenerator, record: dict[str, Any]) -> None:
    for name, value in record.items():
        xml.startElement("data", {"key": name})
        xml.characters(str(value))
        xml.endElement("data")


def networkx_graphml(store: GraphStore, out: IO[bytes]) -> None:
    """What `keten export -f graphml` did before: a networkx graph, then `write_graphml`."""
    import networkx as nx
    import orjson

    def scalars(record: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v if isinstance(v, str | int | float | bool) else orjson.dumps(v).decode()
            for k, v in record.items()
            if v is not None and k != "key"
        }

    graph = nx.MultiDiGraph()
    for entity in store.iter_entities():
        graph.add_node(entity.id, **scalars(entity.as_record()))
    for relation in store.iter_relations():
        key = f"{relation.type}:{relation.key}" if relation.key else relation.type
        graph.add_edges_from(
            [(relation.source, relation.target, key, scalars(relation.as_record()))]
        )
    nx.write_graphml(graph, out)


def writer(name: str) -> Callable[[GraphStore, IO[bytes]], Any]:
    if name == "keten graphml":
        from keten.graph.graphml import write_graphml

        return write_graphml
    if name == "keten json":
        from keten.graph.export import write_json

        return write_json
    if name == "networkx":
        return networkx_graphml
    if name == "bare file writes":
        return bare_writes
    return bare_xml


def peak_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, store_path: Path, out: Path) -> None:
    """One export in this process; prints seconds, memory and size as one JSON line."""
    store = SqliteStore(store_path)
    write = writer(name)
    next(iter(store.iter_relations()))  # the store's caches as warm as for every writer
    before = peak_mb()
    start = time.perf_counter()
    with out.open("wb") as handle:
        write(store, handle)
    seconds = time.perf_counter() - start
    store.close()
    answer = {"seconds": seconds, "peak": peak_mb(), "before": before, "bytes": out.stat().st_size}
    print(json.dumps(answer))


def measure(name: str, store_path: Path, folder: Path) -> dict[str, float]:
    out = folder / "export.out"
    done = subprocess.run(
        [sys.executable, "-m", "bench.export_speed", "--child", name, "--store", str(store_path),
         "--out", str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out.unlink()
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def build_store(folder: Path, entities: int, relations: int) -> Path:
    """A synthetic network written as JSONL and loaded with `keten load`'s loader."""
    bundle = folder / "synthetic.jsonl"
    network = generate_network(entities, relations, seed=1)
    with bundle.open("wb") as handle:
        for side, records in (("entity", network.entity_records()),
                              ("relation", network.relation_records())):  # fmt: skip
            for record in records:
                handle.write(json.dumps({side: record}).encode() + b"\n")
    path = folder / "keten.sqlite"
    store = SqliteStore(path)
    load_paths(store, [bundle])
    store.close()
    bundle.unlink()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000:100000,100000:1000000")
    parser.add_argument("--networkx-up-to", type=int, default=100_000)
    parser.add_argument("--child", choices=WRITERS, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.store, args.out)
        return
    print(f"{'entities':>9} {'relations':>10}  {'writer':<18} {'s':>7} {'ratio':>6} "
          f"{'peak MB':>8} {'growth':>7} {'MB out':>7}")  # fmt: skip
    for size in args.sizes.split(","):
        entities, relations = (int(float(n)) for n in size.split(":"))
        with tempfile.TemporaryDirectory(prefix="keten-export-bench-") as tmp:
            folder = Path(tmp)
            store_path = build_store(folder, entities, relations)
            results = {}
            for name in WRITERS:
                if name == "networkx" and relations > args.networkx_up_to:
                    continue
                results[name] = measure(name, store_path, folder)
            base = results[BASELINE]["seconds"]
            for name, r in results.items():
                print(
                    f"{entities:>9,} {relations:>10,}  {name:<18} {r['seconds']:7.1f} "
                    f"{r['seconds'] / base:6.2f} {r['peak']:8,.0f} "
                    f"{r['peak'] - r['before']:7,.0f} {r['bytes'] / 1e6:7,.0f}",
                    flush=True,
                )
    print(f"ratio: seconds / seconds of the {BASELINE} baseline on the same store")


if __name__ == "__main__":
    main()
