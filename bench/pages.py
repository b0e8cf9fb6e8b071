"""Page speed: the pages against the JSON answers they are drawn from, and what a headless
browser sees, in one process.

Run: `.venv/bin/python -m bench.pages [--entities N] [--relations M] [--repeat R]`

A synthetic network (`keten.queries.synthetic`, 20k entities and 100k relations by default)
is loaded into a real SQLite store behind a real server on loopback, under `--dir` (default
the system's temporary folder). For the hub `res:power` it times, as medians of `--repeat`
warm requests:

* cascade: `POST /analysis/cascade` (limit = nodes; the baseline, warm) against
  `GET /pages/cascade` (max_nodes = nodes): the first bytes of the streamed page (its title
  and "working" line) and the whole page, for 150 and 500 nodes;
* neighbourhood: `GET /entities/{id}/neighbourhood?depth=2&limit=600` (baseline) and
  `GET /pages/neighbourhood/{id}?depth=2&max_nodes=150`;

ratios are page / baseline. With Chromium installed it then opens each page in headless
Chromium (logged in through the form), in `--browsers` fresh profiles, and reports the
medians, from the navigation: the first contentful paint (the title and the "working" line
on screen), the page's last byte, vis-network's last byte, the end of the deferred scripts
and the moment the page script says the network was drawn with its labels; for the cascade
also how much later than the warm API answer the drawn page was.
"""

from __future__ import annotations

import argparse
import math
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
from keten.graph.sqlite import SqliteStore
from keten.schema.markings import Tlp
from tests.api.browser import chromium, chromium_path

HUB = "res:power"


def cascade_body(nodes: int) -> dict[str, object]:
    """The API request a cascade page of `nodes` nodes is drawn from."""
    return {"sources": [HUB], "horizon_hours": 72, "limit": nodes}


def median_ms(run: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of `repeat` calls after one warm-up."""
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def fetch(client: httpx.Client, method: str, url: str, **kwargs: object) -> None:
    """One whole request; every answer must be 200."""
    client.request(method, url, **kwargs).raise_for_status()  # type: ignore[arg-type]


def first_bytes(client: httpx.Client, url: str) -> None:
    """Until the first chunk of a (streamed) page arrived; the rest is read and dropped."""
    with client.stream("GET", url) as answer:
        answer.raise_for_status()
        for _ in answer.iter_raw():
            pass


def first_bytes_ms(client: httpx.Client, url: str, repeat: int) -> float:
    """Median milliseconds until the first chunk of the page arrived."""
    times = []
    first_bytes(client, url)
    for _ in range(repeat):
        start = time.perf_counter()
        with client.stream("GET", url) as answer:
            parts = answer.iter_raw()
            next(parts)
            times.append(time.perf_counter() - start)
            for _ in parts:
                pass
    return statistics.median(times) * 1e3


BROWSER_FIGURES = """[
  (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
  performance.getEntriesByType('navigation')[0].responseEnd,
  (performance.getEntriesByType('resource').find((r) => r.name.endsWith('/vis-network.min.js'))
    || {}).responseEnd,
  performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
  Number(document.getElementById('graph').dataset.drawnMs)
]"""
"""What the browser measured, in milliseconds since the navigation: first contentful paint,
the page's last byte, vis-network's last byte (absent when cached), the end of
DOMContentLoaded (the deferred scripts ran) and `data-drawn` (the network and its labels on
screen)."""
BROWSER_NAMES = ("first paint", "page loaded", "vis-network loaded", "scripts ran", "drawn")


WarmApi = Callable[[], float] | None
"""Times the warm API answer a page is drawn from (milliseconds), or None for no baseline."""


def browser_ms(
    url: str, key: str, paths: dict[str, WarmApi], profile: Path
) -> dict[str, list[float]]:
    """Per page path, the `BROWSER_FIGURES` of opening it in headless Chromium, logged in
    through the form, from a fresh document each time (so the entries are its own), then
    the warm API answer timed just before the navigation (nan without one)."""
    found: dict[str, list[float]] = {}
    with chromium(profile) as browser:
        tab = browser.new_page()
        tab.log_in(url, key)
        for path, warm_api in paths.items():
            tab.goto(url + "/pages")
            api = math.nan if warm_api is None else warm_api()
            tab.mark()
            tab.call("Page.navigate", {"url": url + path})
            tab.wait_until(
                "location.pathname !== '/pages' && document.getElementById('graph') !== null"
                " && document.getElementById('graph').dataset.drawn === 'true'",
                120,
            )
            # Chromium does not always record a first-contentful-paint entry (seen in CI
            # on a busy machine), nor a script it took from its cache: those show "nan"
            figures = [math.nan if v is None else float(v) for v in tab.evaluate(BROWSER_FIGURES)]
            found[path] = [*figures, api]
            if tab.errors():
                raise RuntimeError(f"{path}: {tab.errors()}")
    return found


def browser_medians(
    url: str, key: str, paths: dict[str, WarmApi], browsers: int
) -> dict[str, list[float]]:
    """Per page path, the medians over `browsers` fresh profiles of each `BROWSER_FIGURES`,
    of the warm API answer and of how much later than it the page was drawn (each profile's
    page against the API timed just before it: the machine is shared, so only the same
    moment compares)."""
    runs = []
    for _ in range(browsers):
        with tempfile.TemporaryDirectory() as profile:
            runs.append(browser_ms(url, key, paths, Path(profile)))
    return {
        path: [
            *(known_median([run[path][k] for run in runs]) for k in range(len(BROWSER_NAMES) + 1)),
            known_median([run[path][-2] - run[path][-1] for run in runs]),
        ]
        for path in paths
    }


def known_median(values: list[float]) -> float:
    """The median of the values that are not nan (nan when none is)."""
    known = [v for v in values if not math.isnan(v)]
    return statistics.median(known) if known else math.nan


def open_store(home: Path, entities: int, relations: int) -> SqliteStore:
    """The store in `home`: the one there (a prepared KETEN_HOME) or a newly filled one."""
    path = home / "keten.sqlite"
    if path.exists():
        return SqliteStore(path)
    return fill_store(path, entities, relations, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--relations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument(
        "--browsers",
        type=int,
        default=3,
        help="Fresh Chromium profiles to open the pages in (medians are shown); in each, the"
        " first page loads vis-network from the server, as a first visit does.",
    )
    parser.add_argument("--dir", type=Path, default=None, help="Where the store is written.")
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="A KETEN_HOME whose store already holds `keten generate` of these sizes (seed 0),"
        " used instead of filling a new one; the server writes its projection files there.",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        home = args.home or Path(tmp)
        started = time.perf_counter()
        store = open_store(home, args.entities, args.relations)
        print(f"store ready in {time.perf_counter() - started:.0f} s")
        app = create_app(store, Settings(home=home))
        key = app.state.keys.create(Role.READER, Tlp.RED, label="bench").secret
        with (
            loopback_server(app) as url,
            httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=300) as client,
        ):
            print(f"{args.entities} entities, {args.relations} relations; source {HUB}")
            for nodes in (150, 500):
                base = median_ms(
                    partial(fetch, client, "POST", "/analysis/cascade", json=cascade_body(nodes)),
                    args.repeat,
                )
                page_url = f"/pages/cascade?sources={HUB}&max_nodes={nodes}"
                page = median_ms(partial(fetch, client, "GET", page_url), args.repeat)
                first = first_bytes_ms(client, page_url, args.repeat)
                print(
                    f"cascade {nodes:>3} nodes: json {base:7.1f} ms  page first bytes "
                    f"{first:6.1f} ms  whole page {page:7.1f} ms  ratio {page / base:5.2f}"
                )
            base = median_ms(
                partial(fetch, client, "GET", f"/entities/{HUB}/neighbourhood?depth=2&limit=600"),
                args.repeat,
            )
            page = median_ms(
                partial(fetch, client, "GET", f"/pages/neighbourhood/{HUB}?depth=2&max_nodes=150"),
                args.repeat,
            )
            print(
                f"neighbourhood depth 2:  json {base:7.1f} ms  page {page:7.1f} ms  "
                f"ratio {page / base:5.2f}"
            )
            if chromium_path() is None:
                print("chromium not installed: browser timings skipped")
                return
            paths: dict[str, WarmApi] = {
                f"/pages/cascade?sources={HUB}&max_nodes={nodes}": partial(
                    median_ms,
                    partial(fetch, client, "POST", "/analysis/cascade", json=cascade_body(nodes)),
                    3,
                )
                for nodes in (150, 500)
            }
            paths[f"/pages/neighbourhood/{HUB}?depth=2&max_nodes=150"] = None
            timings = browser_medians(url, key, paths, args.browsers)
            for path, figures in timings.items():
                *shown, warm, later = figures
                line = "browser:" + "".join(
                    f"  {name} {value:6.0f} ms"
                    for name, value in zip(BROWSER_NAMES, shown, strict=True)
                )
                if paths[path] is not None:
                    line += f"  (warm API {warm:6.0f} ms: drawn {later:+6.0f} ms after it)"
                print(f"{line}  {path}")


if __name__ == "__main__":
    main()
