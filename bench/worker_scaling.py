"""Two API workers against one, the readers' load made by wrk instead of Python threads.

Run: `.venv/bin/python -m bench.worker_scaling [--rounds 3] [--seconds 10] [--connections 16]
[--writes 300]` (needs `wrk`, a compiled HTTP load generator: `apt-get install wrk`).

bench.api_load's readers are Python threads: sampled over a one-worker run on the 2-core
development machine they took 0.64 of a core while the server took 0.83, so two workers
could not reach much more than 1.36x one worker's rate, for want of a core. Here the same
read mix (listing, text search, one entity, a neighbourhood, a cascade) comes from wrk with
one thread, while the same contributor writes from a Python process of its own
(`bench.api_load.Writer`). Each round serves a fresh copy of the reference knowledge base
with `keten serve --workers 1` and with `--workers 2` (alternating which goes first), warms
it up, then runs wrk for `--seconds` beside the writer. It prints reads/s, writes/s, the
CPU seconds wrk used, and two / one per round. A read answered with a status other than
200, a socket error or a write that cannot be read back afterwards fails the run.

wrk keeps its connections open, and the kernel hands each to a worker when it is accepted:
with 8 connections one run of two workers got 175 reads/s and another 508, as the
connections happened to split; 16 (the default) even out.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.api_load import Writer, missing_writes, seeded_with_keys
from bench.serving import served

WARM_UP_SECONDS = 3

SCRIPT = """
local requests = {}
local next_one = 0
function init(args)
  local headers = {["X-API-Key"] = args[1], ["Content-Type"] = "application/json"}
  local entity = args[2]
  requests[1] = wrk.format("GET", "/entities?limit=50", headers)
  requests[2] = wrk.format("GET", "/entities?q=water&limit=20", headers)
  requests[3] = wrk.format("GET", "/entities/" .. entity, headers)
  requests[4] = wrk.format("GET", "/entities/" .. entity .. "/neighbourhood?depth=2", headers)
  requests[5] = wrk.format("POST", "/analysis/cascade", headers, args[3])
end
function request()
  next_one = next_one % #requests + 1
  return requests[next_one]
end
"""
"""The read mix of bench.api_load, one request after another on each connection."""


@dataclass
class Run:
    """What one server run measured."""

    workers: int
    reads_per_second: float
    writes_per_second: float
    wrk_cpu_seconds: float


def wrk(url: str, script: Path, args: list[str], seconds: float, connections: int) -> str:
    """wrk's report of `seconds` of load; a failed read or a socket error fails the bench."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "60s"]
    command += ["-s", str(script), url]
    done = subprocess.run(
        [*command, "--", *args], capture_output=True, text=True, timeout=seconds + 120
    )
    report = done.stdout
    if done.returncode != 0 or "Requests/sec" not in report:
        raise SystemExit(f"wrk failed: {done.stderr or report}")
    for problem in ("Non-2xx or 3xx responses", "Socket errors"):
        if problem in report:
            raise SystemExit(f"wrk saw failures ({problem}):\n{report}")
    return report


def requests_per_second(report: str) -> float:
    """The `Requests/sec` figure of a wrk report."""
    found = re.search(r"Requests/sec:\s+([\d.]+)", report)
    assert found, report
    return float(found.group(1))


def children_cpu() -> float:
    """CPU seconds of this process's finished children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(workers: int, args: argparse.Namespace, script: Path) -> Run:
    """Serve a fresh reference store with `workers` and measure reads beside the writer."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        busy, reader, contributor = seeded_with_keys(home)
        cascade = json.dumps({"sources": [busy], "horizon_hours": 72})
        wrk_args = [reader, busy, cascade]
        with served(home, workers=workers) as url:
            wrk(url, script, wrk_args, WARM_UP_SECONDS, args.connections)  # workers warm
            writer = Writer(url, contributor, args.writes, busy)
            cpu = children_cpu()
            start = time.perf_counter()
            writer.go.set()
            report = wrk(url, script, wrk_args, args.seconds, args.connections)
            wrk_cpu = children_cpu() - cpu
            written = writer.tally()
            writing = time.perf_counter() - start
            if written.errors:
                raise SystemExit(f"writes failed: {written.errors[:3]}")
            missing = missing_writes(url, contributor, args.writes)
            if missing:
                raise SystemExit(f"writes not readable afterwards: {missing[:5]}")
    rate = requests_per_second(report)
    return Run(workers, rate, len(written.latencies) / writing, wrk_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--writes", type=int, default=300)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench.worker_scaling needs wrk (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "mix.lua"
        script.write_text(SCRIPT)
        rounds: list[dict[int, Run]] = []
        for number in range(args.rounds):
            order = (1, 2) if number % 2 == 0 else (2, 1)
            runs = {workers: one_run(workers, args, script) for workers in order}
            rounds.append(runs)
            for workers in order:
                run = runs[workers]
                print(
                    f"round {number + 1}, {workers} worker(s): reads {run.reads_per_second:.0f}"
                    f"/s, writes {run.writes_per_second:.0f}/s, wrk CPU "
                    f"{run.wrk_cpu_seconds:.2f} s",
                    flush=True,
                )
    reads = [r[2].reads_per_second / r[1].reads_per_second for r in rounds]
    writes = [r[2].writes_per_second / r[1].writes_per_second for r in rounds]
    print(f"two / one, reads per round: {', '.join(f'{x:.2f}' for x in reads)}")
    print(f"two / one, writes per round: {', '.join(f'{x:.2f}' for x in writes)}")
    print(f"two / one, median: reads {statistics.median(reads):.2f}, ", end="")
    print(f"writes {statistics.median(writes):.2f}")


if __name__ == "__main__":
    main()
