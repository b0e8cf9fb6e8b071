"""Small requests on keten against a bare FastAPI app over the same SQLite file.

Run: `.venv/bin/python -m bench.serving_overhead [--clients 8] [--seconds 8]`

The reference knowledge base is loaded into a fresh store; `keten serve` (one worker) and
bench.bare_app (FastAPI straight on the `entities` table, no key, clearance or ETag) are
started in processes of their own, and the same client threads ask each, in alternating
rounds, for one entity by id and for a page of 50 entities. The ratio
keten / bare is what keten's own work per request (key check, clearance, record model,
ETag, revision) costs in throughput.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.api_load import Request, run_load, seed_home
from bench.serving import cpu_seconds, served_with_pid, serving_process
from keten.api.keys import KeyStore, Role
from keten.config import Settings
from keten.schema.markings import Tlp

ROUNDS = 5
MIN_ROUND_SECONDS = 0.5


@contextmanager
def bare_served(home: Path) -> Iterator[tuple[str, int]]:
    """bench.bare_app over the store file of `home`; yields its URL and pid once it answers."""
    env = {**os.environ, "KETEN_BARE_DB": str(Settings(home=home).sqlite_path)}
    command = [sys.executable, "-m", "bench.bare_app", "{port}"]
    with serving_process(command, env, "/entities") as answer:
        yield answer


@dataclass
class Rate:
    """One round against one server: requests per second and server CPU per request."""

    per_second: float
    cpu_ms: float


def small_requests(entity_id: str) -> dict[str, list[Request]]:
    """The two small reads, by name."""
    return {
        "GET one entity": [lambda c: c.get(f"/entities/{entity_id}")],
        "GET 50 entities": [lambda c: c.get("/entities", params={"limit": 50})],
    }


def rate(
    server: tuple[str, int], key: str | None, mix: list[Request], clients: int, seconds: float
) -> Rate:
    """Requests per second of `mix` against `server` (URL, pid) for `seconds`, and the
    server's CPU milliseconds per request meanwhile."""
    url, pid = server
    cpu = cpu_seconds(pid)
    result = run_load(url, key, None, mix, clients, seconds, 0, "")
    if result.reads.errors:
        raise RuntimeError(f"errors: {result.reads.errors[:3]}")
    requests = len(result.reads.latencies)
    if not requests:
        raise RuntimeError(f"no answer from {url} in {seconds} s")
    return Rate(requests / result.seconds, (cpu_seconds(pid) - cpu) * 1e3 / requests)


def median(rates: list[Rate]) -> Rate:
    """The median of each figure over rounds."""
    return Rate(
        statistics.median(r.per_second for r in rates), statistics.median(r.cpu_ms for r in rates)
    )


def compare(
    bare: tuple[str, int],
    keten: tuple[str, int],
    key: str,
    entity_id: str,
    clients: int,
    seconds: float,
) -> dict[str, tuple[Rate, Rate]]:
    """Per small read, the medians of the bare app and of keten over alternating rounds of
    `seconds` / ROUNDS each (at least MIN_ROUND_SECONDS), so both see the same machine."""
    answers = {}
    round_seconds = max(seconds / ROUNDS, MIN_ROUND_SECONDS)
    for name, mix in small_requests(entity_id).items():
        rate(bare, None, mix, clients, 1.0)
        rate(keten, key, mix, clients, 1.0)
        bare_rates, keten_rates = [], []
        for _ in range(ROUNDS):
            bare_rates.append(rate(bare, None, mix, clients, round_seconds))
            keten_rates.append(rate(keten, key, mix, clients, round_seconds))
        answers[name] = (median(bare_rates), median(keten_rates))
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        entity_id = seed_home(home)
        keys = KeyStore(Settings(home=home).keys_path)
        reader = keys.create(Role.READER, Tlp.RED).secret
        keys.close()
        with bare_served(home) as bare, served_with_pid(home) as keten:
            answers = compare(bare, keten, reader, entity_id, args.clients, args.seconds)
    print(
        f"{args.clients} client threads, {args.seconds:.0f} s per request kind and app in "
        f"{ROUNDS} alternating rounds (medians), one server worker"
    )
    print(
        f"{'request':<17}{'bare req/s':>11}{'keten req/s':>12}{'ratio':>7}"
        f"{'bare cpu ms':>12}{'keten cpu ms':>13}"
    )
    for name, (b, k) in answers.items():
        print(
            f"{name:<17}{b.per_second:>11.0f}{k.per_second:>12.0f}"
            f"{k.per_second / b.per_second:>7.2f}{b.cpu_ms:>12.2f}{k.cpu_ms:>13.2f}"
        )


if __name__ == "__main__":
    main()
