"""Every bench still runs, on tiny graphs: the figures in the README come from these commands.

Nothing here is timed (the benches measure speed; the suite only keeps them working): each
bench runs as a user would run it, in its own process, and must end well and print the
lines its README row quotes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CASES = {
    "startup": (["--repeat", "1"], ["keten --help:", "keten serve to /health:"]),
    "load_speed": (["--sizes", "300/2000,400/3k"], ["| keten / bare |", "400 entities"]),
    "cascade": (
        ["--entities", "5000", "--relations", "30000", "--repeat", "1"],  # names res:000500
        ["kernel/scipy", "propagation, 100 runs"],
    ),
    "api_load": (
        ["--readers", "2", "--seconds", "1", "--writes", "20"],
        ["baseline GET /health", "writes not readable afterwards: 0"],
    ),
    "worker_scaling": (
        ["--rounds", "1", "--seconds", "1", "--writes", "10", "--connections", "2"],
        ["two / one, median: reads"],
    ),
    "auth_abuse": (["--attackers", "2", "--clients", "2", "--seconds", "1"], ["no limit"]),
    "neighbourhood": (
        ["--size", "300:2000", "--repeat", "1"],
        ["baseline: the", "neighbourhood depth 2 green limit 600:", "walk/baseline"],
    ),
    "pages": (
        ["--entities", "300", "--relations", "2000", "--repeat", "1", "--browsers", "1"],
        ["neighbourhood depth 2:"],
    ),
    "serving_overhead": (["--clients", "2", "--seconds", "1"], ["GET one entity", "bare req/s"]),
    "small_cascade": (
        ["--sizes", "300:1500,600:3000", "--repeat", "3", "--probe", "10"],
        ["reached", "ratio"],
    ),
    "stix_speed": (
        ["--entities", "300", "--relations", "900", "--attack", "800"],
        ["STIX", "ATT&CK-shaped 800 objects"],
    ),
    "propagation": (
        ["--sizes", "2000:20000", "--runs", "300", "--baseline-runs", "20"],
        ["per-run/bits", "300 runs from res:power"],
    ),
    "criticality": (
        ["--sizes", "2000:20000", "--samples", "20"],
        ["keten/igraph", "every vital process"],
    ),
    "memory": (
        ["--size", "300:1500", "--runs", "50"],
        ["RssAnon peak", "propagation (50 runs), red", "small write, then cascade, green"],
    ),
    "coldstart": (
        ["--size", "300:1500", "--repeat", "1", "--starts", "2"],
        ["after a small write", "CPU"],
    ),
    "export_http": (
        ["--size", "300:2000", "--limit", "60", "--formats", "json,graphml,graphml,stix"],
        ["| bare write_json |", "| GET /export/json |", "| GET /export/graphml again |"],
    ),
    "export_speed": (["--sizes", "300:2000"], ["keten graphml", "bare XMLGenerator", "networkx"]),
    "risk": (
        ["--size", "2000:20000", "--sample", "10"],
        [
            "shared searches, every threat",
            "identical to the baseline: True",
            "served: time to the first page",
            "of the first page as one search each: True",
            "served pages identical to windows of the whole answer: True",
        ],
    ),
    "every_path": (["--size", "300:1500", "--limit", "120"], ["failed: 0, not called: 0"]),
}


def run_bench(name: str, args: list[str], env: dict[str, str]) -> str:
    """Run `python -m bench.<name> args` from the clone; its output, or the test fails."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("name", sorted(CASES))
def test_bench_runs_on_the_embedded_store(name: str, tmp_path: Path) -> None:
    args, expected = CASES[name]
    env = {**os.environ, "KETEN_STORE": "sqlite", "TMPDIR": str(tmp_path)}
    env.pop("NEO4J_URI", None)
    output = run_bench(name, args, env)
    for line in expected:
        assert line in output, output


def test_bench_runs_on_neo4j(tmp_path: Path) -> None:
    """bench.neo4j wipes the server it is given: the test server, like every Neo4j test."""
    if not os.environ.get("NEO4J_URI"):
        pytest.skip("bench.neo4j needs NEO4J_URI (a throwaway server)")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("KETEN_STORE", None)
    output = run_bench("neo4j", ["--sizes", "300:2000"], env)
    assert "300" in output and "projection" in output.lower(), output
