"""Wrong secrets against the API: what they cost `GET /health`, with and without the limit.

Run: `.venv/bin/python -m bench.auth_abuse [--attackers 8] [--clients 8] [--seconds 5]`

Two `keten serve` processes over the same kind of home, one after the other: one with the
default limits on failed keys (10 per key id, 30 per client address, per minute), one with
the limits out of reach (the behaviour before they existed). Against each, `--clients`
threads call `GET /health` for `--seconds` alone, then again while `--attackers` threads,
each from its own loopback address (127.0.0.20, .21, ...) and in a process of their own,
send keys with a real key id and a fresh random secret: without the limit every one of them
costs the server a scrypt. The ratio under attack / alone, measured in the same run, is
what the attack takes from honest traffic. As a control, the same attackers then send plain
`GET /health` requests (against the limited server): what any flood of that many clients
costs on this machine, since attackers and server share its cores.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx

from bench.serving import KETEN, served
from keten.api.keys import KeyStore, Role
from keten.config import Settings
from keten.schema.markings import Tlp

NO_LIMIT = {
    "KETEN_AUTH_FAILURES_PER_KEY": "1000000000",
    "KETEN_AUTH_FAILURES_PER_CLIENT": "1000000000",
}


@dataclass(frozen=True)
class Phase:
    """Health answers of one phase, and what the attackers got meanwhile."""

    health_per_second: float
    health_errors: int
    attacks: Counter[int]
    seconds: float


def attack(url: str, key_id: str, attackers: int, stop: Event, tally: dict[int, int]) -> None:
    """In a process of its own: `attackers` threads send wrong secrets for `key_id` (or, when
    `key_id` is empty, plain `/health` requests) until `stop`, each from its own loopback
    address; answers are counted by status into `tally`.
    """
    lock = threading.Lock()

    def one(address: str) -> None:
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(base_url=url, transport=transport, timeout=60) as client:
            while not stop.is_set():
                if not key_id:
                    status = client.get("/health").status_code
                else:
                    key = f"kt_{key_id}_{secrets.token_urlsafe(32)}"
                    status = client.get("/entities", headers={"X-API-Key": key}).status_code
                with lock:
                    tally[status] = tally.get(status, 0) + 1

    threads = [threading.Thread(target=one, args=(f"127.0.0.{20 + i}",)) for i in range(attackers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def health_load(url: str, clients: int, seconds: float) -> tuple[int, int]:
    """`clients` threads calling /health for `seconds`: (answers, non-200 answers)."""
    counts = Counter[str]()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def one() -> None:
        done = failed = 0
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.monotonic() < deadline:
                failed += client.get("/health").status_code != 200
                done += 1
        with lock:
            counts.update(done=done, failed=failed)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts["done"], counts["failed"]


def phase(url: str, key_id: str, clients: int, attackers: int, seconds: float) -> Phase:
    """One timed phase of /health traffic, under attack when `attackers` > 0."""
    manager = multiprocessing.Manager()
    tally = manager.dict()
    stop = multiprocessing.Event()
    process = multiprocessing.Process(target=attack, args=(url, key_id, attackers, stop, tally))
    if attackers:
        process.start()
        time.sleep(1.0)  # let the attack reach its steady state
    start = time.monotonic()
    done, failed = health_load(url, clients, seconds)
    elapsed = time.monotonic() - start
    if attackers:
        stop.set()
        process.join(timeout=120)
    attacks = Counter[int](dict(tally))
    manager.shutdown()
    return Phase(done / elapsed, failed, attacks, elapsed)


def run(
    home: Path, env: dict[str, str], key_id: str, args: argparse.Namespace, control: bool
) -> list[Phase]:
    """Health alone, then under attack (and under a plain flood when `control`)."""
    with served(home, env=env) as url:
        health_load(url, args.clients, 1.0)  # warm-up
        phases = [phase(url, key_id, args.clients, 0, args.seconds)]
        phases.append(phase(url, key_id, args.clients, args.attackers, args.seconds))
        if control:
            phases.append(phase(url, "", args.clients, args.attackers, args.seconds))
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attackers", type=int, default=8)
    parser.add_argument("--clients", type=int, default=8, help="threads calling /health")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, env in (("limited (default)", {}), ("no limit (before)", NO_LIMIT)):
            home = Path(tmp) / name.split()[0]
            init = {**os.environ, "KETEN_HOME": str(home), "KETEN_STORE": "sqlite"}
            subprocess.run([KETEN, "init"], env=init, check=True)
            keys = KeyStore(Settings(home=home).keys_path)
            key_id = keys.create(Role.READER, Tlp.GREEN, "victim").info.key_id
            keys.close()
            results[name] = run(home, env, key_id, args, control=not env)
    print(
        f"{args.clients} /health clients, {args.attackers} attackers (wrong secrets for one "
        f"real key id, one loopback address each), {args.seconds:.0f} s per phase"
    )
    print(f"{'server':<20}{'alone':>10}{'loaded':>10}{'ratio':>8}  attackers' answers")
    rows = [(name, phases[0], phases[1]) for name, phases in results.items()]
    rows.append(
        ("control: plain flood", results["limited (default)"][0], results["limited (default)"][2])
    )
    for name, alone, attacked in rows:
        ratio = attacked.health_per_second / alone.health_per_second
        answers = ", ".join(f"{n} x {status}" for status, n in sorted(attacked.attacks.items()))
        errors = alone.health_errors + attacked.health_errors
        print(
            f"{name:<20}{alone.health_per_second:>10,.0f}{attacked.health_per_second:>10,.0f}"
            f"{ratio:>8.2f}  {answers}" + (f"  ({errors} /health errors)" if errors else "")
        )


if __name__ == "__main__":
    main()
