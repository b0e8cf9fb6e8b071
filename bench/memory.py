"""A server's resident memory through a fixed sequence of requests, anonymous and file-backed
apart, against the size of the projections it serves.

    python -m bench.memory --work <folder> --size 10000:100000 --size 100000:1000000

Each size is a KETEN_HOME under `--work` (made as bench.coldstart makes it). A real `keten
serve` (one worker) answers, over loopback, with a green and a red key in turn: a cascade
from the hub, a propagation of `--runs` runs from it, then a small write followed by a
cascade. A thread reads /proc/<pid>/status every few milliseconds, so the peaks of RssAnon
(the process's own memory: heap, numpy arrays) and RssFile (pages of mapped files: the kept
projections, the store) are seen apart; the kernel keeps only VmHWM, their sum's peak.

The baseline is the size of the kept projection files of both clearances (what the server
maps), so `peak / projection` says how much a server holds beyond its data. File-backed
pages are the page cache's: clean ones are given back under memory pressure without being
written anywhere, anonymous ones are not. With `--build` the projections kept beside the
store are moved away first, so the first request of each clearance reads the store (a first
start ever, or after a bulk load).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from bench.coldstart import hub_of, prepared, server, small_write
from bench.procfs import status_mb
from keten.api.keys import KeyStore, Role
from keten.config import Settings
from keten.graph.projection import SAVE_DELAY
from keten.schema.markings import Tlp

console = Console(width=120)
FIELDS = ("VmRSS", "RssAnon", "RssFile", "VmHWM")


@dataclass
class Sampler:
    """The largest RssAnon and RssFile of a process since the last `take`, read in a thread."""

    pid: int
    interval: float = 0.005
    peaks: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                now = status_mb(self.pid, FIELDS)
            except OSError:
                return
            for name, value in now.items():
                self.peaks[name] = max(self.peaks.get(name, 0.0), value)
            time.sleep(self.interval)

    def take(self) -> dict[str, float]:
        """The peaks since the last call (and VmHWM, the kernel's own peak), then reset."""
        now = status_mb(self.pid, FIELDS)
        peaks = {name: max(self.peaks.get(name, 0.0), now[name]) for name in FIELDS}
        peaks["VmHWM"] = now["VmHWM"]
        self.peaks = {}
        return peaks


@contextmanager
def sampling(pid: int) -> Iterator[Sampler]:
    sampler = Sampler(pid)
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    try:
        yield sampler
    finally:
        sampler._stop.set()
        thread.join()


def post(url: str, path: str, key: str, body: dict[str, object]) -> None:
    answer = httpx.post(
        f"{url}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=900
    )
    answer.raise_for_status()


def projection_mb(home: Path) -> float:
    """Bytes of the projection files kept beside the store (every clearance), in MB."""
    folder = Settings(home=home).projection_dir
    if folder is None or not folder.exists():
        return 0.0
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def steps(url: str, keys: dict[str, str], hub: str, runs: int) -> Iterator[tuple[str, object]]:
    """The fixed sequence: yields each step's name after it is answered."""
    cascade = {"sources": [hub], "horizon_hours": 72, "limit": 100}
    propagation = {"sources": [hub], "horizon_hours": 72, "runs": runs, "limit": 100}
    for colour, key in keys.items():
        post(url, "/analysis/cascade", key, cascade)
        yield f"cascade, {colour}", None
    for colour, key in keys.items():
        post(url, "/analysis/propagation", key, propagation)
        yield f"propagation ({runs} runs), {colour}", None
    for colour, key in keys.items():
        yield "write", hub
        post(url, "/analysis/cascade", key, cascade)
        yield f"small write, then cascade, {colour}", None
        time.sleep(SAVE_DELAY + 3)  # the server saves that revision meanwhile
        yield f"saved (after {SAVE_DELAY + 3:.0f} s), {colour}", None


def measure(home: Path, runs: int, build: bool) -> tuple[list[tuple[str, dict[str, float]]], float]:
    """Memory after each step of the sequence, and the kept projections' size in MB."""
    keys = KeyStore(Settings(home=home).keys_path)
    secrets = {
        "green": keys.create(Role.READER, Tlp.GREEN).secret,
        "red": keys.create(Role.READER, Tlp.RED).secret,
    }
    keys.close()
    hub = hub_of(home)
    folder = Settings(home=home).projection_dir
    if build and folder is not None and folder.exists():
        shutil.rmtree(folder)
    elif not build:
        with server(home) as warm:  # projections of both clearances kept beside the store
            for key in secrets.values():
                post(warm.url, "/analysis/cascade", key, {"sources": [hub], "limit": 1})
            time.sleep(SAVE_DELAY + 3)
    kept = projection_mb(home)
    rows: list[tuple[str, dict[str, float]]] = []
    with server(home) as s, sampling(s.process.pid) as sampler:
        rows.append(("started", sampler.take()))
        written = 0
        for name, hub_to_write in steps(s.url, secrets, hub, runs):
            if name == "write":
                written += 1
                small_write(home, str(hub_to_write), int(time.time() * 1000) + written)
                continue
            rows.append((name, sampler.take()))
    return rows, kept or projection_mb(home)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", action="append", default=[], help="ENTITIES:RELATIONS")
    default_work = Path(tempfile.gettempdir()) / "keten-memory"  # kept between runs
    parser.add_argument("--work", type=Path, default=default_work)
    parser.add_argument("--runs", type=int, default=100, help="propagation runs per request")
    parser.add_argument(
        "--build", action="store_true", help="read the store afresh (no kept projections)"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    for size in args.size or ["10000:100000"]:
        entities, relations = (int(x) for x in size.split(":"))
        home = prepared(args.work, entities, relations)
        rows, kept = measure(home, args.runs, args.build)
        title = f"{entities:,} entities / {relations:,} relations: kept projections {kept:,.1f} MB"
        table = Table(title=title + (" (read afresh)" if args.build else ""))
        for column in ("after", "RssAnon peak", "RssFile peak", "VmHWM", "VmHWM / projections"):
            table.add_column(column, justify="left" if column == "after" else "right", no_wrap=True)
        for name, mb in rows:
            ratio = f"{mb['VmHWM'] / kept:.2f}" if kept else ""
            table.add_row(
                name, f"{mb['RssAnon']:,.0f}", f"{mb['RssFile']:,.0f}", f"{mb['VmHWM']:,.0f}", ratio
            )
        console.print(table)


if __name__ == "__main__":
    main()
