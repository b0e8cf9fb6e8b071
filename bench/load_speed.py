"""How fast `keten load` fills the SQLite store, against a bare parse and insert of the same rows.

Run: `.venv/bin/python -m bench.load_speed [--sizes 10k/100k,100k/1M,1M/10M] [--rounds N]
[--bundles DIR] [--one-process]` (DIR holding `<n>-<m>-bundle/synthetic.jsonl` where a bundle is
prepared; `--one-process`: keten checks in the writing process at every size, as it does when
no core is spare).
Rounds alternate which side goes first; the table gives medians, the median of the rounds'
keten / bare ratios and CPU seconds (the load's checking process included).

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
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from keten.graph.rows import dump_props, now, search_text
from keten.graph.sqlite import SqliteStore
from keten.graph.sqlite_writer import INSERT_ENTITY_NEW, INSERT_RELATION_NEW
from keten.ingest import load_paths, loader
from keten.queries.synthetic import generate_network

BATCH = 5_000
ENTITY_COLUMNS = ("id", "kind", "name")
RELATION_COLUMNS = ("source", "type", "target")


@dataclass(frozen=True)
class Side:
    """One way of loading, over the rounds: wall-clock and CPU seconds (children included)."""

    wall: list[float]
    cpu: list[float]
    piped: list[bool]
    """Per round: a second process (keten's checking process) used CPU time."""

    @property
    def median(self) -> float:
        """Median wall-clock seconds."""
        return statistics.median(self.wall)


@dataclass(frozen=True)
class Result:
    """One size's figures."""

    entities: int
    relations: int
    megabytes: float
    keten: Side
    bare: Side
    generate: float | None
    """Seconds to write the bundle; None when a prepared bundle was read."""

    @property
    def records(self) -> int:
        """Entities and relations."""
        return self.entities + self.relations

    @property
    def ratio(self) -> float:
        """Median over the rounds of keten / bare (each round's two runs side by side)."""
        return statistics.median(
            k / b for k, b in zip(self.keten.wall, self.bare.wall, strict=True)
        )


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
    return (entity_id, kind, name, level, props, search_text(name, record))


def relation_param(record: dict[str, Any]) -> tuple[Any, ...]:
    """INSERT_RELATION_NEW parameters of a record, the bare way."""
    source, rel_type, target = (record.pop(k) for k in RELATION_COLUMNS)
    key = record.pop("key", "")
    return (source, rel_type, target, key, 0, dump_props(record))


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


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process and of its ended children (the load's checking process)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def keten_load(bundle: Path, db: Path) -> float:
    """Seconds `keten.ingest.load_paths` takes to load the bundle into a new store."""
    store = SqliteStore(db)
    start = time.perf_counter()
    load_paths(store, [bundle])
    seconds = time.perf_counter() - start
    store.close()
    return seconds


def timed(run: Callable[[Path, Path], float], bundle: Path, db: Path) -> tuple[float, float, bool]:
    """(wall, CPU) seconds of one load into a new store, and whether a second process ran."""
    gc.collect()
    own, children = cpu_seconds()
    wall = run(bundle, db)
    own_after, children_after = cpu_seconds()
    child = children_after - children
    return wall, own_after - own + child, child > 0


def remove(db: Path) -> None:
    """A store and its WAL files (stores of 1M/10M take gigabytes)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def measure(
    folder: Path, entities: int, relations: int, rounds: int, bundles: Path | None
) -> Result:
    """Generate (or find) the bundle; load it with keten and the bare way, alternating."""
    bundle = (bundles / f"{entities}-{relations}-bundle" / "synthetic.jsonl") if bundles else None
    generate = None
    if bundle is None or not bundle.exists():
        bundle = folder / "synthetic.jsonl"
        generate = write_bundle(bundle, entities, relations)
    keten_db, bare_db = folder / "keten.sqlite", folder / "bare.sqlite"
    sides: dict[str, tuple[list[float], list[float], list[bool]]] = {
        "keten": ([], [], []),
        "bare": ([], [], []),
    }
    runs = {"keten": keten_load, "bare": baseline}
    for round_ in range(rounds):
        order = ["keten", "bare"] if round_ % 2 == 0 else ["bare", "keten"]
        for name in order:
            db = keten_db if name == "keten" else bare_db
            wall, cpu, piped = timed(runs[name], bundle, db)
            sides[name][0].append(wall)
            sides[name][1].append(cpu)
            sides[name][2].append(piped)
        if not rows(keten_db) == rows(bare_db) == (entities, relations):
            raise SystemExit(f"the stores differ: keten {rows(keten_db)}, bare {rows(bare_db)}")
        remove(keten_db)
        remove(bare_db)
    megabytes = bundle.stat().st_size / 1e6
    keten, bare = Side(*sides["keten"]), Side(*sides["bare"])
    return Result(entities, relations, megabytes, keten, bare, generate)


def size(text: str) -> tuple[int, int]:
    """`100k/1M` as (100000, 1000000)."""
    scale = {"k": 1_000, "M": 1_000_000}

    def count(part: str) -> int:
        return int(float(part[:-1]) * scale[part[-1]]) if part[-1] in scale else int(part)

    entities, relations = text.split("/")
    return count(entities), count(relations)


def table(result: Result) -> str:
    """A Markdown table of one size, as the README shows it."""
    made = f"generated in {result.generate:.1f} s" if result.generate is not None else "prepared"
    rounds = len(result.keten.wall)
    lines = [
        f"{result.entities:,} entities / {result.relations:,} relations "
        f"({result.megabytes:,.0f} MB JSONL, {made}; median of {rounds} round(s))",
        "",
        "| | seconds | records/s | CPU seconds |",
        "|---|---:|---:|---:|",
    ]
    for label, side in (
        ("`keten load`", result.keten),
        ("bare parse + `executemany`", result.bare),
    ):
        lines.append(
            f"| {label} | {side.median:.2f} | {result.records / side.median:,.0f} | "
            f"{statistics.median(side.cpu):.2f} |"
        )
    cpu = statistics.median(result.keten.cpu) / statistics.median(result.bare.cpu)
    lines.append(f"| keten / bare | {result.ratio:.2f} | | {cpu:.2f} |")
    rounds_text = ", ".join(
        f"{k:.2f}{'*' if piped else ''}/{b:.2f}"
        for k, b, piped in zip(result.keten.wall, result.bare.wall, result.keten.piped, strict=True)
    )
    piped = " (* keten checked in a second process)" if any(result.keten.piped) else ""
    return "\n".join([*lines, "", f"rounds (keten/bare seconds): {rounds_text}{piped}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10k/100k,100k/1M", help="entities/relations, comma-separated"
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds of both loads per size")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    parser.add_argument(
        "--bundles",
        type=Path,
        default=None,
        help="read <n>-<m>-bundle/synthetic.jsonl from here where it exists (else generate)",
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="keten checks in the writing process at every size (as when no core is spare)",
    )
    args = parser.parse_args()
    if args.one_process:
        loader.PIPELINE_ABOVE = sys.maxsize
    print(f"load average at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for text in args.sizes.split(","):
        entities, relations = size(text)
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            result = measure(Path(tmp), entities, relations, args.rounds, args.bundles)
            print(table(result), end="\n\n", flush=True)
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
