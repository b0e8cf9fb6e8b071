"""How long keten takes to answer: `keten --help`, and `keten serve` until /health answers.

Run: `.venv/bin/python -m bench.startup [--repeat 5]`

Each figure is the median of `--repeat` fresh processes, and is set against the median of
`python -c pass` measured in the same run, the least any Python command can take on this
machine at this moment (so a busy machine moves both). The server runs over a store made
by `keten init` (the reference knowledge base); it is ready when `GET /health` answers.
Heavy libraries (numba, matplotlib, pyvis) load with the first analysis or page that needs
them, so neither figure includes them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.serving import KETEN, served


def seconds_of(command: list[str], env: dict[str, str]) -> float:
    """Wall time of one run of `command` to its end."""
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def serve_ready(env: dict[str, str]) -> float:
    """Wall time from starting `keten serve` to its first /health answer."""
    start = time.perf_counter()
    with served(Path(env["KETEN_HOME"]), env=env):
        return time.perf_counter() - start


def median_of(repeat: int, measure: Callable[..., float], *args: object) -> float:
    """The median of `repeat` measurements."""
    return statistics.median(measure(*args) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "KETEN_HOME": str(Path(home) / "store"), "KETEN_STORE": "sqlite"}
        env.pop("NEO4J_URI", None)
        subprocess.run([KETEN, "init"], env=env, check=True, capture_output=True)
        baseline = median_of(args.repeat, seconds_of, [sys.executable, "-c", "pass"], env)
        helping = median_of(args.repeat, seconds_of, [KETEN, "--help"], env)
        ready = median_of(args.repeat, serve_ready, env)
    print(f"python -c pass: {baseline * 1000:.0f} ms (median of {args.repeat})")
    print(f"keten --help: {helping * 1000:.0f} ms, {helping / baseline:.1f}x python -c pass")
    print(f"keten serve to /health: {ready * 1000:.0f} ms, {ready / baseline:.1f}x python -c pass")


if __name__ == "__main__":
    main()
