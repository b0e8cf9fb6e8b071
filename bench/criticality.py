"""Criticality over every vital process against igraph's PageRank and sampled betweenness.

Run: `.venv/bin/python -m bench.criticality [--sizes 10000:100000,100000:1000000]`

For each size it generates a synthetic network (`keten.queries.synthetic`), builds its
projection, and times, in one process:

* `keten`: `keten.queries.criticality.criticality` with `kind` VitalProcess and as many
  candidates as there are processes (or `--candidates`: at 1M entities one cascade takes
  about a second), so that every process gets its cascade size, its PageRank and its
  sampled betweenness (`--samples` sources);
* the baseline: igraph's PageRank (PRPACK) on the same weighted dependency graph plus
  igraph's betweenness from the same number of sampled sources (`sources=`), both in C;
  building the igraph graph is not timed;
* the parts of keten's time: PageRank, sampled betweenness and the cascades.

keten / baseline is the figure the issue asks to keep at most 2.
"""

from __future__ import annotations

import argparse
import time

import igraph as ig
import numpy as np

from bench.propagation import sizes
from keten.graph.projection import Projection, build_projection
from keten.queries.centrality import betweenness, pagerank
from keten.queries.criticality import (
    CriticalityRequest,
    cascade_sizes,
    criticality,
    dependency_graph,
)
from keten.queries.synthetic import SyntheticStore, generate_network
from keten.schema.kinds import EntityKind
from keten.schema.markings import Tlp


def igraph_graph(p: Projection) -> ig.Graph:
    """The dependency graph of `criticality` (A -> B when A depends on B) with weights."""
    coo = dependency_graph(p).tocoo()
    graph = ig.Graph(n=p.node_count, edges=np.column_stack([coo.row, coo.col]), directed=True)
    graph.es["weight"] = coo.data
    return graph


def igraph_baseline(graph: ig.Graph, samples: int, seed: int) -> float:
    """Seconds for PRPACK PageRank plus betweenness from `samples` random sources."""
    sources = np.random.default_rng(seed).choice(graph.vcount(), samples, replace=False)
    start = time.perf_counter()
    graph.pagerank(weights="weight", implementation="prpack")
    graph.betweenness(directed=True, sources=sources.tolist())
    return time.perf_counter() - start


def measure(entities: int, relations: int, args: argparse.Namespace) -> None:
    """Print one table row per size (the header is printed by `main`)."""
    p = build_projection(SyntheticStore(generate_network(entities, relations, 0)), Tlp.RED)
    processes = np.flatnonzero(np.asarray(p.kinds) == EntityKind.VITAL_PROCESS.value)
    request = CriticalityRequest(
        kind=EntityKind.VITAL_PROCESS,
        candidates=args.candidates or processes.shape[0],
        betweenness_samples=args.samples,
        horizon_hours=args.horizon,
    )
    compile_kernels(args)
    graph = igraph_graph(p)
    igraph_baseline(graph, 10, 0)
    start = time.perf_counter()
    result = criticality(p, request)
    keten_s = time.perf_counter() - start
    baseline_s = igraph_baseline(graph, args.samples, 0)
    parts = part_seconds(p, processes, request.candidates, args)
    print(
        f"{entities:>9,}{relations:>12,}{result.cascade_sizes_computed:>11,}{keten_s:>9.2f}"
        f"{baseline_s:>12.2f}{keten_s / baseline_s:>15.2f}"
        f"{parts[0]:>13.2f}{parts[1]:>12.2f}{parts[2]:>12.2f}"
    )


def compile_kernels(args: argparse.Namespace) -> None:
    """Run criticality once on a small network of its own, outside the timing: numba
    compiles (or loads) its kernels, and the measured projection keeps nothing from it
    (criticality keeps its measures per projection, so a warm-up on the measured one would
    time a cache)."""
    small = build_projection(SyntheticStore(generate_network(1000, 10000, 1)), Tlp.RED)
    criticality(small, CriticalityRequest(betweenness_samples=args.samples, candidates=8))


def part_seconds(
    p: Projection, processes: np.ndarray, candidates: int, args: argparse.Namespace
) -> list[float]:
    """Seconds of keten's PageRank, sampled betweenness and the cascades of the candidates
    criticality picks (the processes of highest PageRank), each timed apart."""
    graph = dependency_graph(p)
    start = time.perf_counter()
    rank = pagerank(graph)
    seconds = [time.perf_counter() - start]
    start = time.perf_counter()
    betweenness(graph, args.samples, 0)
    seconds.append(time.perf_counter() - start)
    chosen = processes[np.lexsort((processes, -rank[processes]))][:candidates]
    start = time.perf_counter()
    cascade_sizes(p, chosen.astype(np.int64), args.horizon, 0.0)
    seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=sizes, default=sizes("10000:100000,100000:1000000"))
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--horizon", type=float, default=72.0)
    parser.add_argument(
        "--candidates", type=int, default=0, help="processes given cascade sizes (0: every one)"
    )
    args = parser.parse_args()
    print(f"criticality of every vital process, betweenness from {args.samples} sources")
    print(
        f"{'entities':>9}{'relations':>12}{'processes':>11}{'keten s':>9}{'igraph s':>12}"
        f"{'keten/igraph':>15}{'pagerank s':>13}{'between s':>12}"
        f"{'cascades s':>12}"
    )
    for entities, relations in args.sizes:
        measure(entities, relations, args)


if __name__ == "__main__":
    main()
