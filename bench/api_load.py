"""Loopback load on the API: many concurrent readers while one contributor writes.

Run: `.venv/bin/python -m bench.api_load [--readers 8] [--seconds 10] [--writes 500]`

A real SQLite store holding the reference knowledge base is served by `keten serve` on
127.0.0.1 in its own process. Reader threads, each with its own HTTP client and reader
key, cycle through a listing, a text search, a get, a neighbourhood and a cascade; one
contributor upserts `--writes` new entities, each with a relation, from a process of its own
(an institute's client is not the analysts'; a writer thread beside eight reader threads
waited for their GIL, and more so the faster the server answered them). At the end every
write is read back. The baseline is the same readers calling `GET /health` (no key, no
store work) for the same time, so `ratio` says what auth, the store and the analyses cost.
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.serving import served
from keten.api.keys import KeyStore, Role
from keten.config import Settings
from keten.data import reference_bundle_path
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_paths
from keten.schema.markings import Tlp

Request = Callable[[httpx.Client], httpx.Response]
WARM_UP_SECONDS = 3.0
WRITER_START_SECONDS = 120.0
"""How long the writer's process may take to import what it needs."""


@dataclass
class Tally:
    """Latencies and failures of one kind of traffic."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, response: httpx.Response, ok: set[int]) -> None:
        """Note one answer; a status outside `ok` is an error."""
        with self.lock:
            self.latencies.append(seconds)
            if response.status_code not in ok:
                self.errors.append(f"{response.request.url}: {response.status_code}")

    def p(self, q: float) -> float:
        """Latency quantile in milliseconds."""
        return float(np.quantile(self.latencies, q)) * 1e3 if self.latencies else 0.0


@dataclass
class LoadResult:
    """What one run measured."""

    seconds: float
    reads: Tally
    writes: Tally
    missing: list[str]

    @property
    def reads_per_second(self) -> float:
        return len(self.reads.latencies) / self.seconds


def reader_requests(source: str, entity_id: str) -> list[Request]:
    """The read mix: list, text search, get, neighbourhood, cascade."""
    return [
        lambda c: c.get("/entities", params={"limit": 50}),
        lambda c: c.get("/entities", params={"q": "water", "limit": 20}),
        lambda c: c.get(f"/entities/{entity_id}"),
        lambda c: c.get(f"/entities/{entity_id}/neighbourhood", params={"depth": 2}),
        lambda c: c.post("/analysis/cascade", json={"sources": [source], "horizon_hours": 72}),
    ]


def read_loop(
    url: str, key: str | None, mix: list[Request], stop: threading.Event, tally: Tally
) -> None:
    """Cycle through `mix` until `stop` is set."""
    headers = {"X-API-Key": key} if key else {}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        i = 0
        while not stop.is_set():
            start = time.perf_counter()
            response = mix[i % len(mix)](client)
            tally.record(time.perf_counter() - start, response, {200})
            i += 1


def write_loop(url: str, key: str, writes: int, target: str, tally: Tally) -> None:
    """Upsert `writes` new resources, each depending on `target`."""
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
        for i in range(writes):
            entity = {"id": f"res:load-{i}", "kind": "Resource", "name": f"Load test {i}"}
            relation = {"source": entity["id"], "target": target, "type": "DEPENDS_ON"}
            for path, body in (("/entities", entity), ("/relations", relation)):
                start = time.perf_counter()
                response = client.post(path, json=body)
                tally.record(time.perf_counter() - start, response, {201})


def write_process(
    url: str, key: str, writes: int, target: str, ready: Any, go: Any, answers: Any
) -> None:
    """`write_loop` in a process of its own: says it is `ready`, waits for `go`, then puts
    its latencies and errors (a failure among them) on `answers`."""
    tally = Tally()
    ready.set()
    go.wait()
    try:
        write_loop(url, key, writes, target, tally)
    except Exception as error:  # reported, not lost: the parent counts it as an error
        tally.errors.append(repr(error))
    answers.put((tally.latencies, tally.errors))


class Writer:
    """The contributor's process: started and ready before the timed run begins."""

    def __init__(self, url: str, key: str, writes: int, target: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.ready, self.go, self.answers = context.Event(), context.Event(), context.Queue()
        args = (url, key, writes, target, self.ready, self.go, self.answers)
        self.process = context.Process(target=write_process, args=args, daemon=True)
        self.process.start()
        if not self.ready.wait(WRITER_START_SECONDS):
            self.process.kill()
            raise RuntimeError("the writer's process did not start")

    def tally(self) -> Tally:
        """Wait for the writes to end; their tally."""
        while True:
            try:
                latencies, errors = self.answers.get(timeout=1.0)
                break
            except queue.Empty:
                if not self.process.is_alive():
                    raise RuntimeError("the writer's process ended without an answer") from None
        self.process.join()
        return Tally(latencies, errors)


def missing_writes(url: str, key: str, writes: int) -> list[str]:
    """Ids of written entities that cannot be read back (should be none)."""
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
        found: set[str] = set()
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"q": "load test", "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/entities", params=params).json()
            found.update(e["id"] for e in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    return [f"res:load-{i}" for i in range(writes) if f"res:load-{i}" not in found]


def run_load(
    url: str,
    reader_key: str | None,
    writer_key: str | None,
    mix: list[Request],
    readers: int,
    seconds: float,
    writes: int,
    target: str,
) -> LoadResult:
    """Readers for at least `seconds` (and until the writer is done), one writer alongside
    (in a process of its own, see the module docstring)."""
    stop = threading.Event()
    reads, written = Tally(), Tally()
    threads = [
        threading.Thread(target=read_loop, args=(url, reader_key, mix, stop, reads))
        for _ in range(readers)
    ]
    writer = Writer(url, writer_key, writes, target) if writer_key and writes else None
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    if writer:
        writer.go.set()
    time.sleep(seconds)
    if writer:
        written = writer.tally()
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    missing = missing_writes(url, writer_key, writes) if writer_key and writes else []
    return LoadResult(elapsed, reads, written, missing)


def seed_home(home: Path) -> str:
    """Fill `home` with the reference data; its most depended-on entity (a far-reaching source)."""
    store = SqliteStore(Settings(home=home).sqlite_path)
    try:
        load_paths(store, [reference_bundle_path()])
        counts: dict[str, int] = {}
        for relation in store.iter_relations():
            if relation.type == "DEPENDS_ON":
                counts[relation.target] = counts.get(relation.target, 0) + 1
    finally:
        store.close()
    return max(sorted(counts), key=counts.__getitem__)


def seeded_with_keys(home: Path) -> tuple[str, str, str]:
    """`seed_home`, plus a red reader's and a red contributor's secrets: (busy entity,
    reader, contributor)."""
    busy = seed_home(home)
    keys = KeyStore(Settings(home=home).keys_path)
    reader = keys.create(Role.READER, Tlp.RED).secret
    contributor = keys.create(Role.CONTRIBUTOR, Tlp.RED).secret
    keys.close()
    return busy, reader, contributor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1, help="keten serve --workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        busy, reader, writer = seeded_with_keys(home)
        with served(home, workers=args.workers) as url:
            mix = reader_requests(busy, busy)
            # untimed warm-up: every worker started, numba compiled, projections built
            run_load(url, reader, None, mix, args.readers, WARM_UP_SECONDS, 0, busy)
            health = [lambda c: c.get("/health")]
            base = run_load(url, None, None, health, args.readers, args.seconds, 0, busy)
            load = run_load(url, reader, writer, mix, args.readers, args.seconds, args.writes, busy)
    print(
        f"{args.readers} readers, {args.workers} server worker(s), {load.seconds:.1f} s, "
        f"{args.writes} entity+relation writes"
    )
    print(f"{'traffic':<22}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, result, tally in (
        ("baseline GET /health", base, base.reads),
        ("reads (mixed)", load, load.reads),
        ("writes", load, load.writes),
    ):
        rate = len(tally.latencies) / result.seconds
        print(
            f"{name:<22}{len(tally.latencies):>9}{rate:>9.0f}{tally.p(0.5):>9.1f}"
            f"{tally.p(0.99):>9.1f}{len(tally.errors):>8}"
        )
    print(f"ratio mixed reads/s / baseline: {load.reads_per_second / base.reads_per_second:.2f}")
    print(f"writes not readable afterwards: {len(load.missing)}")


if __name__ == "__main__":
    main()
