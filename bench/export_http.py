"""Time to first byte, total time and the server's memory of the HTTP exports, against the
bare writer in the same run.

Run: `env -u NEO4J_URI .venv/bin/python -m bench.export_http [--home DIR] [--size N:M]
[--clearance green] [--formats json,graphml,stix] [--limit SECONDS] [--cut stix]`

`--home` is a KETEN_HOME this bench may write into (copy a loaded one first: it adds a key);
when it holds no store, a synthetic network of `--size` entities and relations is loaded.

1. The baseline: `keten.graph.export.write_json` in this process, into a file object that
   counts bytes and drops them: when its first `CHUNK` bytes were written (what the server
   waits for before it answers) and when it ended.
2. `keten serve` (one worker) on the same home; each export in `--formats` is read by a
   streaming client with a key of `--clearance`, to its end (the formats in `--cut`: for
   at most `--limit` seconds, then the client closes, which also shows that the export
   stops with its client; STIX by default, the largest of the three). Per export: seconds
   to the first byte and to the end, bytes, MB/s, the server's resident memory before and
   its high-water mark after, and (when cut at the limit) the server's CPU seconds in the
   `QUIET_SECONDS` after the client left: near zero when the export stopped with its
   client. A format named twice is exported twice ("again"): GraphML's second export uses
   the keys its first one read.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx

from bench.cascade import fill_store
from bench.procfs import memory_mb
from bench.serving import cpu_seconds, served_with_pid
from keten.api.export_stream import CHUNK
from keten.api.keys import KeyStore, Role
from keten.config import Settings
from keten.graph.export import write_json
from keten.graph.sqlite import SqliteStore
from keten.schema.markings import Tlp

QUIET_SECONDS = 3.0


class Counter:
    """A binary file that keeps nothing: counts bytes, notes when the first CHUNK came."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.bytes = 0
        self.first: float | None = None

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        if self.first is None and self.bytes >= CHUNK:
            self.first = time.perf_counter() - self.start
        return len(data)


def baseline(home: Path, clearance: Tlp) -> str:
    """The bare JSON writer over the store, in this process."""
    store = SqliteStore(Settings(home=home).sqlite_path)
    out = Counter()
    write_json(store, out, clearance)  # type: ignore[arg-type]
    seconds = time.perf_counter() - out.start
    store.close()
    first = out.first if out.first is not None else seconds
    return row("bare write_json", first, seconds, out.bytes, "", "in this process")


def row(name: str, first: float, seconds: float, size: int, memory: str, note: str) -> str:
    rate = size / 1e6 / seconds if seconds else 0.0
    return (
        f"| {name} | {first:.2f} | {seconds:.1f} | {size / 1e6:,.0f} | {rate:.1f} | "
        f"{memory} | {note} |"
    )


def export(url: str, key: str, fmt: str, limit: float, pid: int, again: bool) -> str:
    """One export read to its end or for `limit` seconds (`again`: not the first of its
    format in this run; GraphML's then uses the keys kept by the first)."""
    before = memory_mb(pid, "VmRSS")
    start = time.perf_counter()
    first: float | None = None
    size, note = 0, "whole"
    with (
        httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=None) as client,
        client.stream("GET", f"/export/{fmt}") as answer,
    ):
        if answer.status_code != 200:
            answer.read()
            return f"| GET /export/{fmt} | refused {answer.status_code}: {answer.text[:80]} |"
        for chunk in answer.iter_raw():
            if first is None:
                first = time.perf_counter() - start
            size += len(chunk)
            if time.perf_counter() - start > limit:
                note = f"cut at {limit:.0f} s"
                break
    seconds = time.perf_counter() - start
    memory = f"{before:,.0f} -> {memory_mb(pid, 'VmHWM'):,.0f}"
    if note != "whole":
        cpu = cpu_seconds(pid)
        time.sleep(QUIET_SECONDS)
        note += f"; server CPU {cpu_seconds(pid) - cpu:.2f} s in the {QUIET_SECONDS:.0f} s after"
    name = f"GET /export/{fmt}" + (" again" if again else "")
    return row(name, first or seconds, seconds, size, memory, note)


def prepare(home: Path, size: str, clearance: Tlp) -> str:
    """The store (loaded when empty) and a reader key of `clearance`."""
    settings = Settings(home=home)
    store = SqliteStore(settings.sqlite_path)
    if store.is_empty():
        store.close()
        n, m = (int(x) for x in size.split(":"))
        store = fill_store(settings.sqlite_path, n, m, seed=0)
    counts = store.counts(clearance)
    store.close()
    print(f"{counts['entities']:,} entities, {counts['relations']:,} relations visible")
    keys = KeyStore(settings.keys_path)
    secret = keys.create(Role.READER, clearance, label="export_http bench").secret
    keys.close()
    return secret


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="default: a new temporary folder")
    parser.add_argument("--size", default="10000:100000")
    parser.add_argument("--clearance", type=Tlp, default=Tlp.GREEN)
    parser.add_argument("--formats", default="json,graphml,stix")
    parser.add_argument("--limit", type=float, default=120.0)
    parser.add_argument(
        "--cut", default="stix", help="formats read for at most --limit seconds (comma list)"
    )
    args = parser.parse_args()
    if args.home is None:
        with tempfile.TemporaryDirectory(prefix="keten-export-http-") as folder:
            run(Path(folder), args)
    else:
        args.home.mkdir(parents=True, exist_ok=True)
        run(args.home, args)


def run(home: Path, args: argparse.Namespace) -> None:
    """The baseline, then each export over HTTP."""
    key = prepare(home, args.size, args.clearance)
    print("| export | first byte s | total s | MB | MB/s | server MB (before -> peak) | |")
    print("|---|---:|---:|---:|---:|---|---|")
    print(baseline(home, args.clearance), flush=True)
    with served_with_pid(home) as (url, pid):
        done: set[str] = set()
        for fmt in args.formats.split(","):
            limit = args.limit if fmt in args.cut.split(",") else float("inf")
            print(export(url, key, fmt, limit, pid, again=fmt in done), flush=True)
            done.add(fmt)
    print(f"first byte of the baseline: its first {CHUNK // 1024} KiB written")


if __name__ == "__main__":
    main()
