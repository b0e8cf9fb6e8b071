"""Cold answers against warm ones: the first cascade after a server start, and after a small
write, against a warm cascade of the same server; a CLI `keten cascade` against the warm
answer plus a bare `python -c "import numpy"`; and the server's peak resident memory.

    python -m bench.coldstart --size 10000:100000 --size 100000:1000000

Each size is a `keten generate` bundle loaded with `keten load` into `--work/<size>` (made
once, kept for the next run). A real `keten serve` answers over loopback; the cascade
starts at the resource most processes depend on. Each size's first start of a run is
reported on its own: after a load it reads the store and saves the projection beside it
("first start ever"), and on a home whose kept projection is another clearance's it does
the same for the bench key's; so every start timed after it maps the saved arrays. Ratios
are of times measured in the same run. The first answer after a start is the median over
`--starts` starts. On a busy machine a short process waits for a core far longer than it
computes, so the CLI is also compared in CPU seconds: its own against the server's per
warm cascade plus a bare numpy start's.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from bench.serving import KETEN, free_port
from keten.api.keys import KeyStore, Role
from keten.config import Settings
from keten.graph.projection import SAVE_DELAY
from keten.graph.sqlite import SqliteStore
from keten.graph.store import EntityRow, RelationRow
from keten.schema.markings import Tlp

console = Console()


def prepared(work: Path, entities: int, relations: int) -> Path:
    """KETEN_HOME holding the generated network of this size (generated and loaded once)."""
    home = work / f"{entities}-{relations}"
    if (home / "keten.sqlite").exists():
        return home
    bundle = work / f"{entities}-{relations}-bundle"
    env = {**os.environ, "KETEN_HOME": str(home), "KETEN_STORE": "sqlite"}
    console.print(f"generating and loading {entities:,} / {relations:,} (once)")
    subprocess.run(
        [KETEN, "generate", "-n", str(entities), "-m", str(relations), "-o", str(bundle)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    command = [KETEN, "load", str(bundle / "synthetic.jsonl")]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return home


def hub_of(home: Path) -> str:
    """The entity most others depend on: a cascade from it reaches far."""
    with sqlite3.connect(home / "keten.sqlite") as conn:
        row = conn.execute(
            "SELECT target FROM relations WHERE type = 'DEPENDS_ON' "
            "GROUP BY target ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    return str(row[0])


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    """Resident memory of a process and its children, in MB: at its peak (VmHWM) or now
    (VmRSS)."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if field in line)
        pids.extend(int(c) for c in children)
    return total / 1024


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    started: float
    """Seconds from launch until /health answered."""


@contextmanager
def server(home: Path) -> Iterator[Server]:
    """`keten serve` over `home`, one worker, until /health answers."""
    port = free_port()
    env = {**os.environ, "KETEN_HOME": str(home), "KETEN_STORE": "sqlite"}
    command = [KETEN, "serve", "--port", str(port), "--workers", "1"]
    launched = time.perf_counter()
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                httpx.get(f"{url}/health", timeout=5)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise RuntimeError("keten serve did not start") from None
                time.sleep(0.02)
        yield Server(url, process, time.perf_counter() - launched)
    finally:
        process.terminate()
        process.wait(timeout=60)


def cascade_seconds(url: str, key: str, source: str) -> float:
    """Wall time of one POST /analysis/cascade from `source` (72 h)."""
    start = time.perf_counter()
    answer = httpx.post(
        f"{url}/analysis/cascade",
        json={"sources": [source], "horizon_hours": 72, "limit": 100},
        headers={"Authorization": f"Bearer {key}"},
        timeout=600,
    )
    answer.raise_for_status()
    return time.perf_counter() - start


def first_keyed(url: str, key: str) -> float:
    """Wall time of the first request with `key` (its scrypt check), so that the cascades
    after it measure the projection and the kernels only."""
    start = time.perf_counter()
    answer = httpx.get(
        f"{url}/entities", params={"limit": 1}, headers={"Authorization": f"Bearer {key}"}
    )
    answer.raise_for_status()
    return time.perf_counter() - start


def process_seconds(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of a command run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def small_write(home: Path, hub: str, n: int) -> None:
    """One new process depending on the hub: a write a contributor makes all day."""
    store = SqliteStore(home / "keten.sqlite")
    try:
        with store.writer(actor="bench") as w:
            w.upsert_entities([EntityRow(f"vp:bench-{n}", "VitalProcess", f"Bench {n}")])
            w.upsert_relations([RelationRow(f"vp:bench-{n}", "DEPENDS_ON", hub)])
    finally:
        store.close()


def measure(home: Path, repeat: int, starts_count: int) -> dict[str, float]:
    """Every figure of one size; the first answer after a start is the median over
    `starts_count` starts (one sample each is at the mercy of a busy machine)."""
    keys = KeyStore(Settings(home=home).keys_path)
    key = keys.create(Role.READER, Tlp.RED).secret
    keys.close()
    hub = hub_of(home)
    env = {**os.environ, "KETEN_HOME": str(home), "KETEN_STORE": "sqlite"}
    figures: dict[str, float] = {}
    fresh = not (home / "projection").exists()
    with server(home) as first:  # keeps the key's projection, so the starts below map it
        label = "first start ever (reads the store)" if fresh else "first start of this run"
        figures[label] = cascade_seconds(first.url, key, hub)
    starts, firsts = [], []
    for _ in range(max(starts_count - 1, 0)):  # earlier starts: only their first answer
        with server(home) as s:
            starts.append(s.started)
            first_keyed(s.url, key)
            firsts.append(cascade_seconds(s.url, key, hub))
    with server(home) as s:
        starts.append(s.started)
        figures["server start to /health (median)"] = statistics.median(starts)
        figures["server RSS once started (MB)"] = rss_mb(s.process.pid, "VmRSS")
        figures["first keyed request (key check, GET /entities)"] = first_keyed(s.url, key)
        firsts.append(cascade_seconds(s.url, key, hub))
        figures[f"first cascade after start (median of {len(firsts)} starts)"] = statistics.median(
            firsts
        )
        used = cpu_seconds(s.process.pid)
        warm = [cascade_seconds(s.url, key, hub) for _ in range(repeat)]
        figures["server CPU per warm cascade"] = (cpu_seconds(s.process.pid) - used) / repeat
        figures["warm cascade (median)"] = statistics.median(warm)
        after = []
        for n in range(3):
            small_write(home, hub, int(time.time() * 1000) + n)
            after.append(cascade_seconds(s.url, key, hub))
            time.sleep(SAVE_DELAY + 3)  # the server's save of that revision is done
            warm.append(cascade_seconds(s.url, key, hub))
        figures["first cascade after a small write (median of 3)"] = statistics.median(after)
        figures["warm cascade (median)"] = statistics.median(warm)
        figures["server peak RSS (MB)"] = rss_mb(s.process.pid)
        numpy, cli = [], []
        for _ in range(3):  # alternated, so that both see the same load
            numpy.append(process_seconds([sys.executable, "-c", "import numpy"], env))
            cli.append(process_seconds([KETEN, "cascade", hub, "--limit", "100"], env))
        figures["python -c 'import numpy' (median)"] = statistics.median(w for w, _ in numpy)
        figures["CLI keten cascade (median)"] = statistics.median(w for w, _ in cli)
        figures["CPU of python -c 'import numpy' (median)"] = statistics.median(c for _, c in numpy)
        figures["CPU of CLI keten cascade (median)"] = statistics.median(c for _, c in cli)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", action="append", default=[], help="ENTITIES:RELATIONS")
    default_work = Path(tempfile.gettempdir()) / "keten-coldstart"  # kept between runs
    parser.add_argument("--work", type=Path, default=default_work)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--starts", type=int, default=3, help="server starts per size")
    args = parser.parse_args()
    sizes = args.size or ["10000:100000", "100000:1000000"]
    args.work.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        entities, relations = (int(x) for x in size.split(":"))
        home = prepared(args.work, entities, relations)
        figures = measure(home, args.repeat, args.starts)
        warm = figures["warm cascade (median)"]
        table = Table(title=f"{entities:,} entities / {relations:,} relations")
        table.add_column("measure", no_wrap=True)
        table.add_column("value", justify="right")
        table.add_column("ratio", justify="right")
        for name, value in figures.items():
            ratio = ""
            if "cascade" in name and "CLI" not in name and "warm" not in name:
                ratio = f"{value / warm:.2f}x warm"
            if name == "CLI keten cascade (median)":
                base = warm + figures["python -c 'import numpy' (median)"]
                ratio = f"{value / base:.2f}x (warm + numpy)"
            if name == "CPU of CLI keten cascade (median)":
                base = figures["server CPU per warm cascade"]
                base += figures["CPU of python -c 'import numpy' (median)"]
                ratio = f"{value / base:.2f}x (server + numpy CPU)"
            unit = "" if "MB" in name else " s"
            table.add_row(name, f"{value:,.3f}{unit}", ratio)
        console.print(table)


if __name__ == "__main__":
    main()
