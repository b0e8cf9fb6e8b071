"""How fast `keten load` fills the SQLite store, against a bare SQLite baseline.

Run: `.venv/bin/python -m bench.load_speed [--entities N] [--relations M]`

It writes a JSONL bundle (N entities, M DEPENDS_ON relations with provenance and
properties), loads it with `keten.ingest.load_paths` into a new store, and then, in the same
process, times the baseline: the same rows, already parsed and turned into statement
parameters, inserted with one `executemany` of the insert statement per batch into an empty
store. The ratio says what parsing, validation and checking cost on top of the inserts themselves.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import orjson

from keten.graph.rows import now
from keten.graph.sqlite import SqliteStore
from keten.graph.sqlite_writer import INSERT_ENTITY_NEW, INSERT_RELATION_NEW
from keten.ingest import load_paths


def write_bundle(path: Path, entities: int, relations: int, seed: int = 7) -> None:
    """A JSONL bundle shaped like contributed knowledge: ids, names, provenance, properties."""
    rng = random.Random(seed)
    kinds = ["VitalProcess", "Organisation", "Resource"]
    with path.open("wb") as out:
        for i in range(entities):
            entity = {
                "id": f"e:{i}",
                "kind": kinds[i % 3],
                "name": f"Entity {i}",
                "source_ids": ["source:bench"],
                "reliability": "B",
                "credibility": 2,
            }
            out.write(orjson.dumps({"entity": entity}) + b"\n")
        for j in range(relations):
            a, b = rng.randrange(entities), rng.randrange(entities)
            relation = {
                "source": f"e:{a}",
                "target": f"e:{(b if b != a else b + 1) % entities}",
                "type": "DEPENDS_ON",
                "key": str(j),
                "buffer_hours": float(rng.choice([0, 2, 8, 24])),
                "strength": round(rng.uniform(0.1, 1.0), 2),
                "source_ids": ["source:bench"],
            }
            out.write(orjson.dumps({"relation": relation}) + b"\n")


def baseline(path: Path, db: Path) -> float:
    """Seconds to insert the bundle's rows, pre-parsed, with bare executemany."""
    from keten.graph.sqlite import entity_params, relation_params
    from keten.ingest.validate import to_entity_row, to_relation_row

    entities, relations = [], []
    for line in path.read_bytes().splitlines():
        doc = orjson.loads(line)
        if "entity" in doc:
            entities.append(to_entity_row(doc["entity"]))
        else:
            relations.append(to_relation_row(doc["relation"]))
    e_params, r_params = entity_params(entities), relation_params(relations)
    store = SqliteStore(db)
    conn = store._conn()
    stamp = (now(),)
    e_params = [p + stamp for p in e_params]
    r_params = [p + stamp for p in r_params]
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for k in range(0, len(e_params), 5000):
        conn.executemany(INSERT_ENTITY_NEW, e_params[k : k + 5000])
    for k in range(0, len(r_params), 5000):
        conn.executemany(INSERT_RELATION_NEW, r_params[k : k + 5000])
    conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    store.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--relations", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle.jsonl"
        write_bundle(bundle, args.entities, args.relations)
        records = args.entities + args.relations
        size = bundle.stat().st_size
        store = SqliteStore(Path(tmp) / "keten.sqlite")
        start = time.perf_counter()
        load_paths(store, [bundle])
        seconds = time.perf_counter() - start
        store.close()
        base = baseline(bundle, Path(tmp) / "baseline.sqlite")
    print(f"records: {records:,} ({size / 1e6:.0f} MB JSONL)")
    print(f"keten load:          {seconds:6.2f} s  {records / seconds:10,.0f} records/s")
    print(f"bare executemany:    {base:6.2f} s  {records / base:10,.0f} records/s")
    print(f"ratio keten / bare:  {seconds / base:6.2f}")


if __name__ == "__main__":
    main()
