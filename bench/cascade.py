"""Warm cascade speed against scipy's Dijkstra and naive networkx, in one process.

Run: `.venv/bin/python -m bench.cascade [--entities N] [--relations M] [--repeat R]`

It generates a synthetic network (`keten.queries.synthetic`, 100k entities and 1M relations
by default), loads it into a real SQLite store, builds the projection, and then times, for the
same sources and horizon:

* `scipy`: `scipy.sparse.csgraph.dijkstra(graph, indices=source, limit=horizon)` on the
  propagation graph with `buffer_hours` as weights (the baseline; it knows no redundancy
  groups and returns a dense array);
* `kernel`: `keten.queries.cascade.cascade(..., limit=100)` on the warm projection;
* `http`: `POST /analysis/cascade` with `limit` 100 against the real API on loopback (warm:
  the projection is built by a first request that is not timed);
* `networkx`: `nx.single_source_dijkstra_path_length(graph, source, cutoff=horizon)`.

Times are medians of `--repeat` runs, the three fast ways timed in alternation; ratios are
against scipy in the same run.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import networkx as nx
import numpy as np
import scipy.sparse as sp
import uvicorn
from fastapi import FastAPI
from scipy.sparse.csgraph import dijkstra

from keten.api.app import create_app
from keten.api.keys import Role
from keten.config import Settings
from keten.graph.projection import Projection, ProjectionCache
from keten.graph.sqlite import SqliteStore
from keten.queries.cascade import cascade
from keten.queries.criticality import CriticalityRequest, criticality
from keten.queries.inoperability import (
    InoperabilityRequest,
    inoperability,
    interdependency_matrix,
    spectral_radius,
)
from keten.queries.paths import PathsRequest, paths
from keten.queries.propagation import PropagationRequest, propagate
from keten.queries.synthetic import SyntheticStore, generate_network
from keten.schema.markings import Tlp


def median_seconds(run: Callable[[], Any], repeat: int) -> float:
    """Median wall time of `repeat` calls (after one untimed warm-up call)."""
    return interleaved_medians({"run": run}, repeat)["run"]


def interleaved_medians(runs: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Median wall time of each way, timed in alternation (one untimed warm-up each).

    Alternating means a burst of load from elsewhere on the machine hits every way alike,
    so the ratios stay meaningful on a shared machine.
    """
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def fill_store(path: Path, entities: int, relations: int, seed: int) -> SqliteStore:
    """A SQLite store holding the generated network (written in batches, one transaction)."""
    synthetic = SyntheticStore(generate_network(entities, relations, seed))
    store = SqliteStore(path)
    with store.writer() as w:
        w.upsert_entities(list(synthetic.iter_entities()))
        rows = synthetic.iter_relations()
        while batch := list(islice(rows, 50_000)):
            w.upsert_relations(batch)
    return store


def scipy_graph(p: Projection) -> sp.csr_matrix:
    """The propagation graph as a weighted sparse matrix (explicit zeros stay edges)."""
    n = p.node_count
    return sp.csr_matrix((p.buffer_hours, p.targets, p.indptr), shape=(n, n))


def networkx_graph(p: Projection) -> nx.DiGraph:
    """The propagation graph as a networkx DiGraph with `weight` = buffer_hours."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(p.node_count))
    tails = np.repeat(np.arange(p.node_count), np.diff(p.indptr))
    graph.add_weighted_edges_from(
        zip(tails.tolist(), p.targets.tolist(), p.buffer_hours.tolist(), strict=True)
    )
    return graph


@contextmanager
def loopback_server(app: FastAPI) -> Iterator[str]:
    """uvicorn on 127.0.0.1 in a thread, as `keten serve` runs it.

    The listening socket is created with IPPROTO_TCP so that asyncio sets TCP_NODELAY on the
    accepted connections, as it does for the sockets `keten serve` opens (with protocol 0 it
    does not, and Nagle plus delayed ACKs add about 40 ms to every response).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--relations", type=int, default=1_000_000)
    parser.add_argument("--horizon", type=float, default=72.0)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        start = time.perf_counter()
        store = fill_store(home / "keten.sqlite", args.entities, args.relations, args.seed)
        print(f"generate + load into SQLite: {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        projection = ProjectionCache(store).get(Tlp.RED)
        print(
            f"projection: {projection.node_count:,} nodes, {projection.edge_count:,} "
            f"propagation edges, built in {time.perf_counter() - start:.1f} s"
        )
        report(store, projection, home, args)
        other_analyses(projection, args.repeat)
        store.close()


def report(store: SqliteStore, p: Projection, home: Path, args: argparse.Namespace) -> None:
    """Time the four ways for a hub, an ordinary resource and a threat."""
    matrix = scipy_graph(p)
    graph = networkx_graph(p)
    app = create_app(store, Settings(home=home))
    key = app.state.keys.create(Role.READER, Tlp.RED, "bench").secret
    h = args.horizon
    header = f"{'source':<16}{'reached':>9}{'scipy ms':>10}{'kernel ms':>11}{'http ms':>9}"
    print(header + f"{'networkx ms':>13}{'kernel/scipy':>14}{'http/scipy':>12}{'nx/scipy':>10}")
    with loopback_server(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        headers = {"Authorization": f"Bearer {key}"}
        for source in ("res:power", "res:000500", "threat:000003"):
            u = p.index[source]
            body = {"sources": [source], "horizon_hours": h, "limit": 100}

            def post(body: dict[str, Any] = body) -> None:
                client.post("/analysis/cascade", json=body, headers=headers).raise_for_status()

            timed = interleaved_medians(
                {
                    "scipy": partial(dijkstra, matrix, indices=u, limit=h),
                    "kernel": partial(cascade, p, [source], h, 0.0, 100),
                    "http": post,
                },
                args.repeat,
            )
            scipy_s, kernel_s, http_s = timed["scipy"], timed["kernel"], timed["http"]
            nx_run = partial(nx.single_source_dijkstra_path_length, graph, u, cutoff=h)
            nx_s = median_seconds(nx_run, 3)
            reached = cascade(p, [source], h, 0.0, 1).total
            print(
                f"{source:<16}{reached:>9,}{scipy_s * 1e3:>10.1f}{kernel_s * 1e3:>11.1f}"
                f"{http_s * 1e3:>9.1f}{nx_s * 1e3:>13.1f}{kernel_s / scipy_s:>14.2f}"
                f"{http_s / scipy_s:>12.2f}{nx_s / scipy_s:>10.2f}"
            )


def other_analyses(p: Projection, repeat: int) -> None:
    """Warm timings of the other analyses on the same projection (medians, ms)."""
    scale = 0.5 / spectral_radius(interdependency_matrix(p, 1.0))
    runs: dict[str, Callable[[], Any]] = {
        "propagation, 100 runs from res:power": partial(
            propagate, p, PropagationRequest(sources=["res:power"], runs=100)
        ),
        "inoperability static, res:power 0.5": partial(
            inoperability, p, InoperabilityRequest(perturbation={"res:power": 0.5}, scale=scale)
        ),
        "criticality, 20 candidates, 100 samples": partial(
            criticality, p, CriticalityRequest(candidates=20, betweenness_samples=100)
        ),
        "paths, 3 shortest actor -> interest": partial(
            paths,
            p,
            PathsRequest(source="actor:000000", target="interest:synthetic-economic-security", k=3),
        ),
    }
    for label, run in runs.items():
        print(f"{label:<44}{median_seconds(run, max(1, repeat // 3)) * 1e3:>10.1f} ms")


if __name__ == "__main__":
    main()
