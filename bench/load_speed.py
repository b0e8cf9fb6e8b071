"""How fast `keten load` fills the SQLite store, against a bare parse and insert of the same rows.

Run: `.venv/bin/python -m bench.load_speed [--sizes 10k/100k,100k/1M,1M/10M]`

For each size it writes the bundle `keten generate` writes (JSONL), loads it with
`keten.ingest.load_paths` into a new store, and then, in the same process, times the
baseline: the same file read line by line, each line parsed with orjson and turned into the
very columns keten stores (canonical JSON properties, search text), inserted with one
`executemany` per 5,000 rows in one transaction into a new store of the same schema. The
baseline checks nothing, so the ratio says what validation, checking, the merge rule, the
audit trail and all-or-nothing cost on top of parsing and inserting. Both stores must end
up holding the same number of rows.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from keten.graph.rows import dump_props, now, search_text
from keten.graph.sqlite import SqliteStore
from keten.graph.sqlite_writer import INSERT_ENTITY_NEW, INSERT_RELATION_NEW
from keten.ingest import load_paths
from keten.queries.synthetic import generate_network

BATCH = 5_000
ENTITY_COLUMNS = ("id", "kind", "name")
RELATION_COLUMNS = ("source", "type", "target")


@dataclass(frozen=True)
class Result:
    """One size's figures."""

    entities: int
    relations: int
    megabytes: float
    keten: float
    bare: float
    generate: float

    @property
    def records(self) -> int:
        """Entities and relations."""
        return self.entities + self.relations


def write_bundle(path: Path, entities: int, relations: int) -> float:
    """Write what `keten generate` writes; the seconds it took."""
    start = time.perf_counter()
    network = generate_network(entities, relations, seed=0)
    with path.open("wb") as out:
        for _, block in network.jsonl_blocks():
            out.write(block)
    return time.perf_counter() - start


def entity_param(record: dict[str, Any]) -> tuple[Any, ...]:
    """INSERT_ENTITY_NEW parameters of a record, the bare way."""
    entity_id, kind, name = (record.pop(k) for k in ENTITY_COLUMNS)
    level = 0  # generated records carry no marking: clear
    props = dump_props(record)
    return (entity_id, kind, name, level, props, search_text(name, record), None, None, None, 0)


def relation_param(record: dict[str, Any]) -> tuple[Any, ...]:
    """INSERT_RELATION_NEW parameters of a record, the bare way."""
    source, rel_type, target = (record.pop(k) for k in RELATION_COLUMNS)
    key = record.pop("key", "")
    return (source, rel_type, target, key, 0, dump_props(record), None, None, None, 0)


def baseline(path: Path, db: Path) -> float:
    """Seconds to parse the bundle and insert its rows with bare executemany."""
    store = SqliteStore(db)
    conn = store._conn()
    start = time.perf_counter()
    stamp = (now(),)
    conn.execute("BEGIN IMMEDIATE")
    entities: list[tuple[Any, ...]] = []
    relations: list[tuple[Any, ...]] = []
    with path.open("rb") as lines:
        for line in lines:
            doc = orjson.loads(line)
            if "entity" in doc:
                entities.append(entity_param(doc["entity"]) + stamp)
            else:
                relations.append(relation_param(doc["relation"]) + stamp)
            if len(entities) == BATCH:
                conn.executemany(INSERT_ENTITY_NEW, entities)
                entities = []
            if len(relations) == BATCH:
                conn.executemany(INSERT_RELATION_NEW, relations)
                relations = []
    conn.executemany(INSERT_ENTITY_NEW, entities)
    conn.executemany(INSERT_RELATION_NEW, relations)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    store.close()
    return seconds


def rows(db: Path) -> tuple[int, int]:
    """(entities, relations) stored."""
    store = SqliteStore(db)
    conn = store._conn()
    counts = tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in RELATIONS)
    store.close()
    return counts[0], counts[1]


RELATIONS = ("entities", "relations")


def measure(folder: Path, entities: int, relations: int) -> Result:
    """Generate, load with keten, load the bare way; one run each."""
    bundle = folder / "synthetic.jsonl"
    generate = write_bundle(bundle, entities, relations)
    keten_db, bare_db = folder / "keten.sqlite", folder / "bare.sqlite"
    store = SqliteStore(keten_db)
    gc.collect()
    start = time.perf_counter()
    load_paths(store, [bundle])
    seconds = time.perf_counter() - start
    store.close()
    gc.collect()
    bare = baseline(bundle, bare_db)
    if not rows(keten_db) == rows(bare_db) == (entities, relations):
        raise SystemExit(f"the stores differ: keten {rows(keten_db)}, bare {rows(bare_db)}")
    megabytes = bundle.stat().st_size / 1e6
    return Result(entities, relations, megabytes, seconds, bare, generate)


def size(text: str) -> tuple[int, int]:
    """`100k/1M` as (100000, 1000000)."""
    scale = {"k": 1_000, "M": 1_000_000}

    def count(part: str) -> int:
        return int(float(part[:-1]) * scale[part[-1]]) if part[-1] in scale else int(part)

    entities, relations = text.split("/")
    return count(entities), count(relations)


def table(result: Result) -> str:
    """A Markdown table of one size, as the README shows it."""
    rate = result.records / result.keten
    return "\n".join(
        [
            f"{result.entities:,} entities / {result.relations:,} relations "
            f"({result.megabytes:,.0f} MB JSONL, generated in {result.generate:.1f} s)",
            "",
            "| | seconds | records/s |",
            "|---|---:|---:|",
            f"| `keten load` | {result.keten:.2f} | {rate:,.0f} |",
            f"| bare parse + `executemany` | {result.bare:.2f} | "
            f"{result.records / result.bare:,.0f} |",
            f"| keten / bare | {result.keten / result.bare:.2f} | |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10k/100k,100k/1M", help="entities/relations, comma-separated"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    args = parser.parse_args()
    for text in args.sizes.split(","):
        entities, relations = size(text)
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            print(table(measure(Path(tmp), entities, relations)), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
