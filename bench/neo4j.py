"""How fast keten fills Neo4j and builds its analysis projection from it, against baselines.

Run: `NEO4J_URI=bolt://... NEO4J_PASSWORD=... .venv/bin/python -m bench.neo4j
[--sizes 10000:100000,100000:1000000]` against a throwaway server: it is wiped.

For each size it writes the synthetic bundle of `keten generate` (JSONL), then, in the same
process and on the same server:

* `keten load`: `keten.ingest.load_paths` into the wiped Neo4j store (checking, merging,
  bounded transactions, one visible step);
* bare driver: the same rows, parsed and turned into property maps beforehand, sent with
  `UNWIND $rows ... CREATE` in batches of 5,000 (one transaction each) into the wiped
  database: what the server itself costs;
* projection: `build_projection` from that Neo4j store, and from a SQLite store loaded with
  the same bundle.

`--api` instead serves the reference knowledge base from Neo4j with `keten serve --workers
N` (KETEN_STORE set to the server) and runs `bench.api_load`'s readers and writer on it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from bench.serving import served
from keten.api.keys import KeyStore, Role
from keten.config import Settings
from keten.data import reference_bundle_path
from keten.graph import cypher
from keten.graph.neo4j import Neo4jStore
from keten.graph.neo4j_rows import entity_map, relation_map
from keten.graph.projection import build_projection
from keten.graph.rows import now
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_paths
from keten.ingest.validate import to_entity_row, to_relation_row
from keten.queries.synthetic import generate_network
from keten.schema.markings import Tlp

BATCH = 5_000


def write_bundle(path: Path, entities: int, relations: int) -> None:
    """The bundle `keten generate --entities N --relations M` writes."""
    with path.open("wb") as out:
        for record in generate_network(entities, relations, 0).records():
            out.write(orjson.dumps(record) + b"\n")


def open_neo4j() -> Neo4jStore:
    """The store on NEO4J_URI, wiped."""
    store = Neo4jStore(
        os.environ["NEO4J_URI"],
        os.environ.get("NEO4J_USER", "neo4j"),
        os.environ.get("NEO4J_PASSWORD", ""),
    )
    store.wipe()
    return store


def timed(work: Any) -> tuple[float, Any]:
    """Seconds `work()` took, and what it returned."""
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def bare_maps(path: Path) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """The bundle's rows as the property maps keten writes, by label and by type."""
    stamp = now()
    entities: dict[str, list[Any]] = defaultdict(list)
    relations: dict[str, list[Any]] = defaultdict(list)
    for line in path.read_bytes().splitlines():
        doc = orjson.loads(line)
        if "entity" in doc:
            e = to_entity_row(doc["entity"])
            e.created_at, e.updated_at, e.marking = stamp, stamp, e.marking or "clear"
            e.props = {k: v for k, v in e.props.items() if v is not None}
            entities[e.kind].append(entity_map(e))
        else:
            r = to_relation_row(doc["relation"])
            r.created_at, r.updated_at, r.marking = stamp, stamp, r.marking or "clear"
            r.props = {k: v for k, v in r.props.items() if v is not None}
            ends = {"source": r.source, "target": r.target}
            relations[r.type].append({**ends, "props": relation_map(r)})
    return entities, relations


def bare_load(store: Neo4jStore, path: Path) -> tuple[float, int]:
    """Seconds for a bare driver UNWIND of the bundle's rows (maps made beforehand)."""
    entities, relations = bare_maps(path)
    records = sum(map(len, entities.values())) + sum(map(len, relations.values()))

    def send() -> None:
        with store._driver.session() as session:
            for batches, build in (
                (entities, cypher.create_entities),
                (relations, cypher.create_relations),
            ):
                for name, rows in batches.items():
                    statement = build(name)
                    for k in range(0, len(rows), BATCH):
                        chunk = rows[k : k + BATCH]
                        session.execute_write(
                            lambda tx, s=statement, c=chunk: tx.run(s, rows=c).consume()
                        )

    seconds, _ = timed(send)
    return seconds, records


def run(entities: int, relations: int, folder: Path) -> dict[str, Any]:
    """One size: the figures of the table."""
    bundle = folder / f"synthetic-{entities}.jsonl"
    write_bundle(bundle, entities, relations)
    records = entities + relations
    neo4j = open_neo4j()
    bare, _ = bare_load(neo4j, bundle)
    neo4j.wipe()
    load, _ = timed(lambda: load_paths(neo4j, [bundle]))
    assert neo4j.counts() == {"entities": entities, "relations": relations}, neo4j.counts()
    from_neo4j, _ = timed(lambda: build_projection(neo4j, Tlp.RED))
    neo4j.close()
    sqlite = SqliteStore(folder / f"keten-{entities}.sqlite")
    sqlite_load, _ = timed(lambda: load_paths(sqlite, [bundle]))
    from_sqlite, _ = timed(lambda: build_projection(sqlite, Tlp.RED))
    sqlite.close()
    return {
        "size": f"{entities:,} / {relations:,}",
        "records": records,
        "load": load,
        "bare": bare,
        "sqlite_load": sqlite_load,
        "proj_neo4j": from_neo4j,
        "proj_sqlite": from_sqlite,
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The figures as a markdown table."""
    lines = [
        "| entities / relations | keten load into Neo4j | bare driver UNWIND | keten / bare "
        "| keten load into SQLite | projection from Neo4j | projection from SQLite |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        n = r["records"]
        lines.append(
            f"| {r['size']} | {r['load']:.1f} s ({n / r['load']:,.0f} rec/s) "
            f"| {r['bare']:.1f} s ({n / r['bare']:,.0f} rec/s) | {r['load'] / r['bare']:.2f} "
            f"| {r['sqlite_load']:.1f} s ({n / r['sqlite_load']:,.0f} rec/s) "
            f"| {r['proj_neo4j']:.2f} s | {r['proj_sqlite']:.2f} s |"
        )
    return "\n".join(lines)


def api(workers: int, readers: int, seconds: float, writes: int) -> None:
    """Readers and a writer over HTTP on `keten serve --workers N` backed by Neo4j."""
    from bench.api_load import WARM_UP_SECONDS, reader_requests, run_load

    store = open_neo4j()
    load_paths(store, [reference_bundle_path()])
    counts: dict[str, int] = {}
    for relation in store.iter_relations():
        if relation.type == "DEPENDS_ON":
            counts[relation.target] = counts.get(relation.target, 0) + 1
    busy = max(sorted(counts), key=counts.__getitem__)
    store.close()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        keys = KeyStore(Settings(home=home).keys_path)
        reader, writer = (keys.create(r, Tlp.RED).secret for r in (Role.READER, Role.CONTRIBUTOR))
        keys.close()
        with served(home, os.environ["NEO4J_URI"], workers) as url:
            mix = reader_requests(busy, busy)
            run_load(url, reader, None, mix, readers, WARM_UP_SECONDS, 0, busy)
            health = [lambda c: c.get("/health")]
            base = run_load(url, None, None, health, readers, seconds, 0, busy)
            load = run_load(url, reader, writer, mix, readers, seconds, writes, busy)
    print(f"Neo4j, {readers} readers, {workers} workers, {load.seconds:.1f} s, {writes} writes")
    for name, result, tally in (
        ("baseline GET /health", base, base.reads),
        ("reads (mixed)", load, load.reads),
        ("writes", load, load.writes),
    ):
        rate = len(tally.latencies) / result.seconds
        print(
            f"{name:<22}{len(tally.latencies):>9}{rate:>9.0f} req/s  p50 {tally.p(0.5):.1f} ms"
            f"  p99 {tally.p(0.99):.1f} ms  errors {len(tally.errors)}"
        )
    print(f"writes not readable afterwards: {len(load.missing)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000:100000,100000:1000000")
    parser.add_argument("--api", action="store_true", help="measure the HTTP API instead")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--writes", type=int, default=500)
    args = parser.parse_args()
    if args.api:
        api(args.workers, args.readers, args.seconds, args.writes)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            entities, relations = (int(x) for x in size.split(":"))
            rows.append(run(entities, relations, Path(tmp)))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
