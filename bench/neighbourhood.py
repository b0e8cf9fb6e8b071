"""A hub's neighbourhood against reading the hub's relations, in one process.

Run: `.venv/bin/python -m bench.neighbourhood [--home DIR] [--size N:M] [--repeat R]`

`--home` is a KETEN_HOME holding a loaded store (a copy: opening it may write beside it);
without one a synthetic network of `--size` entities and relations is loaded into a
temporary store. For the hub `res:power` it times, as medians of `--repeat` calls in
alternating rounds, `store.neighbourhood` (depth 1 and 2, green and red, limit 500 and the
pages' 600) against the baseline `store.relations_touching({hub})`: every visible relation
of the hub, which the walk read at each hop before it was bounded. The ratio says whether
a neighbourhood still costs what the hub's degree costs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench.cascade import fill_store
from keten.graph.sqlite import SqliteStore
from keten.schema.markings import Tlp

HUB = "res:power"
CALLS = [(1, Tlp.GREEN, 500), (2, Tlp.GREEN, 500), (2, Tlp.RED, 500), (2, Tlp.GREEN, 600)]


def seconds(call: Callable[[], Any]) -> float:
    """Wall time of one call."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(store: SqliteStore, repeat: int) -> None:
    """Print the baseline, then one line per neighbourhood call with its ratio to it."""
    base: list[float] = []
    walks: dict[tuple[int, Tlp, int], list[float]] = {c: [] for c in CALLS}
    for _ in range(repeat):
        base.append(seconds(lambda: store.relations_touching({HUB}, Tlp.GREEN)))
        for call, times in walks.items():
            times.append(seconds(partial(store.neighbourhood, HUB, *call)))
    degree = len(store.relations_touching({HUB}, Tlp.GREEN))
    baseline = statistics.median(base)
    print(f"baseline: the {degree} visible relations of {HUB}: {baseline * 1000:.1f} ms")
    for (depth, clearance, limit), times in walks.items():
        entities, relations = store.neighbourhood(HUB, depth, clearance, limit)
        median = statistics.median(times)
        print(
            f"neighbourhood depth {depth} {clearance.value} limit {limit}: "
            f"{median * 1000:.1f} ms ({len(entities)} entities, {len(relations)} relations), "
            f"walk/baseline {median / baseline:.2f}"
        )


def main() -> None:
    """Open or load the store, then measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a KETEN_HOME holding keten.sqlite (a copy)")
    parser.add_argument("--size", default="20000:100000", help="N:M when no --home is given")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.home is not None:
        measure(SqliteStore(args.home / "keten.sqlite"), args.repeat)
        return
    entities, relations = (int(n) for n in args.size.split(":"))
    with tempfile.TemporaryDirectory() as folder:
        store = fill_store(Path(folder) / "keten.sqlite", entities, relations, seed=7)
        measure(store, args.repeat)
        store.close()


if __name__ == "__main__":
    main()
