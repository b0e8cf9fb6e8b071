"""A small cascade over HTTP should cost the same on a small graph and on a national one.

Run: `.venv/bin/python -m bench.small_cascade [--sizes 10000:100000,100000:1000000] [--repeat 60]`

For each size (entities:relations) a synthetic network (`keten.queries.synthetic`) is loaded
into a fresh SQLite store and served by `keten serve` (one worker) in a process of its own;
all sizes are served at once. After a first, untimed cascade (which builds the projection
and compiles the kernels), the bench looks for a source whose cascade within 72 hours
reaches about ten entities (the one closest to `--reach` among `--probe` organisations and
resources), then times `--repeat` requests of that cascade per size, the sizes in
alternation so that each sees the same (busy) machine. The ratio is each size's median
against the first size's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.cascade import fill_store
from bench.serving import served
from keten.api.keys import KeyStore, Role
from keten.config import Settings
from keten.schema.markings import Tlp

HORIZON = 72.0


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """`10000:100000,100000:1000000` as (entities, relations) pairs."""
    return [(int(n), int(m)) for n, m in (part.split(":") for part in text.split(","))]


def cascade(client: httpx.Client, source: str, limit: int) -> dict[str, object]:
    """One cascade from `source` within the horizon; its answer."""
    body = {"sources": [source], "horizon_hours": HORIZON, "limit": limit}
    answer = client.post("/analysis/cascade", json=body)
    answer.raise_for_status()
    result: dict[str, object] = answer.json()
    return result


def small_source(client: httpx.Client, entities: int, reach: int, probe: int) -> tuple[str, int]:
    """Among `probe` organisations and resources, the one whose cascade reach is closest to
    `reach` entities (sources included), and that reach."""
    step = max(1, entities // (2 * probe))
    candidates = [f"{p}:{i:06d}" for i in range(0, entities // 3, step) for p in ("org", "res")]
    best = ("", -1)
    for source in candidates[:probe]:
        answer = client.post(
            "/analysis/cascade",
            json={"sources": [source], "horizon_hours": HORIZON, "limit": 1},
        )
        if answer.status_code != 200:
            continue
        total = int(answer.json()["total"])
        if best[1] < 0 or abs(total - reach) < abs(best[1] - reach):
            best = (source, total)
    return best


@dataclass
class Size:
    """One graph size: its served store, its small source and the times measured on it."""

    entities: int
    relations: int
    client: httpx.Client
    source: str = ""
    reach: int = 0
    times: list[float] = field(default_factory=list)

    def time_one(self) -> None:
        """Time one cascade from the small source."""
        start = time.perf_counter()
        cascade(self.client, self.source, 100)
        self.times.append(time.perf_counter() - start)


def serve_size(stack: ExitStack, tmp: Path, entities: int, relations: int) -> Size:
    """A store of the size under `tmp`, served by `keten serve`; a reader's client on it."""
    home = tmp / f"{entities}-{relations}"
    home.mkdir()
    fill_store(Settings(home=home).sqlite_path, entities, relations, seed=0).close()
    keys = KeyStore(Settings(home=home).keys_path)
    reader = keys.create(Role.READER, Tlp.RED).secret
    keys.close()
    url = stack.enter_context(served(home, wait_seconds=600))
    client = httpx.Client(base_url=url, headers={"X-API-Key": reader}, timeout=600)
    stack.callback(client.close)
    return Size(entities, relations, client)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=parse_sizes, default=parse_sizes("10000:100000,100000:1000000")
    )
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--reach", type=int, default=10)
    parser.add_argument("--probe", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        sizes = [serve_size(stack, Path(tmp), n, m) for n, m in args.sizes]
        for size in sizes:
            cascade(size.client, "res:power", 1)  # builds the projection, compiles kernels
            size.source, size.reach = small_source(
                size.client, size.entities, args.reach, args.probe
            )
        for _ in range(args.repeat):  # alternating, so every size sees the same machine
            for size in sizes:
                size.time_one()
    print(
        f"cascade over HTTP within {HORIZON:.0f} h, one worker per size, all served at once, "
        f"median of {args.repeat} requests in alternation"
    )
    print(
        f"{'entities':>10}{'relations':>12}  {'source':<12}{'reached':>8}"
        f"{'median ms':>11}{'p90 ms':>8}{'ratio':>7}"
    )
    first = statistics.median(sizes[0].times)
    for size in sizes:
        median = statistics.median(size.times)
        p90 = statistics.quantiles(size.times, n=10)[-1] if len(size.times) > 1 else median
        print(
            f"{size.entities:>10,}{size.relations:>12,}  {size.source:<12}{size.reach:>8}"
            f"{median * 1e3:>11.2f}{p90 * 1e3:>8.2f}{median / first:>7.2f}"
        )


if __name__ == "__main__":
    main()
