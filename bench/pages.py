"""Page speed: the HTML pages against the JSON answers they are drawn from, and the time a
headless browser needs until the network has settled, in one process.

Run: `.venv/bin/python -m bench.pages [--entities N] [--relations M] [--repeat R]`

A synthetic network (`keten.queries.synthetic`, 20k entities and 100k relations by default)
is loaded into a real SQLite store behind a real server on loopback. For the hub
`res:power` it times, as medians of `--repeat` warm requests:

* cascade: `POST /analysis/cascade` (limit = nodes; the baseline) and `GET /pages/cascade`
  (max_nodes = nodes), for 150 and 500 nodes;
* neighbourhood: `GET /entities/{id}/neighbourhood?depth=2&limit=600` (baseline) and
  `GET /pages/neighbourhood/{id}?depth=2&max_nodes=150`;

ratios are page / baseline. With Chromium installed it also opens each page in headless
Chromium and reports the time from navigation until the page script says the network was
drawn (stabilisation bounded to 200 iterations, physics then off).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx

from bench.cascade import fill_store, loopback_server
from keten.api.app import create_app
from keten.api.keys import Role
from keten.config import Settings
from keten.schema.markings import Tlp
from tests.api.browser import chromium, chromium_path

HUB = "res:power"


def median_ms(run: Callable[[], httpx.Response], repeat: int) -> float:
    """Median milliseconds of `repeat` calls after one warm-up; every answer must be 200."""
    run().raise_for_status()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run().raise_for_status()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def browser_ms(url: str, key: str, pages_: list[str], profile: Path) -> dict[str, float]:
    """Milliseconds from navigation to `data-drawn` for each page path."""
    found: dict[str, float] = {}
    with chromium(profile) as browser:
        tab = browser.new_page()
        tab.goto(f"{url}/login")
        tab.mark()
        tab.evaluate(
            f"document.querySelector('input[name=key]').value = {key!r};"
            "document.querySelector('form.login').submit()"
        )
        tab.wait_for_load()
        for path in pages_:
            start = time.perf_counter()
            tab.goto(url + path)
            tab.wait_until("document.getElementById('graph').dataset.drawn === 'true'", 120)
            found[path] = (time.perf_counter() - start) * 1e3
            if tab.errors():
                raise RuntimeError(f"{path}: {tab.errors()}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--relations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = fill_store(home / "keten.sqlite", args.entities, args.relations, 0)
        app = create_app(store, Settings(home=home))
        key = app.state.keys.create(Role.READER, Tlp.RED, label="bench").secret
        with (
            loopback_server(app) as url,
            httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as client,
        ):
            print(f"{args.entities} entities, {args.relations} relations; source {HUB}")
            for nodes in (150, 500):
                body = {"sources": [HUB], "horizon_hours": 72, "limit": nodes}
                base = median_ms(partial(client.post, "/analysis/cascade", json=body), args.repeat)
                page_url = f"/pages/cascade?sources={HUB}&max_nodes={nodes}"
                page = median_ms(partial(client.get, page_url), args.repeat)
                print(
                    f"cascade {nodes:>3} nodes: json {base:7.1f} ms  page {page:7.1f} ms  "
                    f"ratio {page / base:5.2f}"
                )
            base = median_ms(
                lambda: client.get(f"/entities/{HUB}/neighbourhood?depth=2&limit=600"), args.repeat
            )
            page = median_ms(
                lambda: client.get(f"/pages/neighbourhood/{HUB}?depth=2&max_nodes=150"),
                args.repeat,
            )
            print(
                f"neighbourhood depth 2:  json {base:7.1f} ms  page {page:7.1f} ms  "
                f"ratio {page / base:5.2f}"
            )
            if chromium_path() is None:
                print("chromium not installed: browser timings skipped")
                return
            paths = [
                f"/pages/cascade?sources={HUB}&max_nodes=150",
                f"/pages/cascade?sources={HUB}&max_nodes=500",
                f"/pages/neighbourhood/{HUB}?depth=2&max_nodes=150",
            ]
            for path, ms in browser_ms(url, key, paths, home / "chromium").items():
                print(f"browser until drawn {ms:7.0f} ms  {path}")


if __name__ == "__main__":
    main()
