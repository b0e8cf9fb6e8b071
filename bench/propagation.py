"""Monte Carlo propagation at scale: bit-parallel runs against one run at a time, in one process.

Run: `.venv/bin/python -m bench.propagation [--sizes 10000:100000,100000:1000000] [--runs N]`

For each size it generates a synthetic network (`keten.queries.synthetic`), builds its
projection, and times, from the power hub `res:power` with the default horizon:

* `bit-parallel`: `keten.queries.propagation.propagate` with `--runs` runs (10,000 by default),
  64 runs per word and batches over the machine's cores, as the API and CLI run it (wall
  time, and the CPU time of all its threads: on a shared machine the second says what the
  work costs when the first says how much of the cores the process got);
* `per-run`: the single-run compiled search (`keten.queries.kernel.monte_carlo`, what
  propagation ran before) for `--baseline-runs` runs, scaled to `--runs`;
* `scipy`: one `scipy.sparse.csgraph.dijkstra` from the same source with the horizon as
  limit, for scale: the bit-parallel runs cost this many deterministic cascades.

Both methods estimate the same probabilities; the bench prints the largest difference
between their per-entity frequencies in standard errors (|z|), as a check that the speed
was not bought with other answers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from bench.cascade import median_seconds
from keten.graph.projection import Projection, build_projection
from keten.queries.kernel import monte_carlo
from keten.queries.propagation import PropagationRequest, propagate, run_hits
from keten.queries.synthetic import SyntheticStore, generate_network
from keten.schema.markings import Tlp


def sizes(text: str) -> list[tuple[int, int]]:
    """`10000:100000,100000:1000000` -> [(10000, 100000), (100000, 1000000)]."""
    return [(int(n), int(m)) for n, m in (part.split(":") for part in text.split(","))]


def per_run_hits(p: Projection, source: int, horizon: float, runs: int, seed: int) -> np.ndarray:
    """Hits of `runs` runs of the single-run search (the method the bit-parallel one replaced)."""
    return monte_carlo(
        p.indptr, p.targets, p.buffer_hours, p.strength, p.group, p.group_size,
        np.array([source], dtype=np.int64), horizon, 0.0, runs, seed, p.node_count,
    )  # fmt: skip


def largest_z(a: np.ndarray, runs_a: int, b: np.ndarray, runs_b: int) -> float:
    """Largest |difference| of two sets of frequencies, in standard errors of the difference."""
    pa, pb = a / runs_a, b / runs_b
    pooled = (a + b) / (runs_a + runs_b)
    se = np.sqrt(pooled * (1 - pooled) * (1 / runs_a + 1 / runs_b))
    seen = se > 0
    return float(np.max(np.abs(pa - pb)[seen] / se[seen])) if seen.any() else 0.0


def measure(entities: int, relations: int, args: argparse.Namespace) -> None:
    """Print one table row per size (the header is printed by `main`)."""
    p = build_projection(SyntheticStore(generate_network(entities, relations, 0)), Tlp.RED)
    source = p.index["res:power"]
    h = args.horizon
    request = PropagationRequest(sources=["res:power"], horizon_hours=h, runs=args.runs)
    propagate(p, request.model_copy(update={"runs": 64}))  # compile outside the timing
    per_run_hits(p, source, h, 1, 0)
    start, cpu = time.perf_counter(), time.process_time()
    result = propagate(p, request)
    fast_s, fast_cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    slow = per_run_hits(p, source, h, args.baseline_runs, 1)
    slow_s = (time.perf_counter() - start) * args.runs / args.baseline_runs
    fast = run_hits(p, np.array([source], dtype=np.int64), h, 0.0, args.runs, 0)
    matrix = sp.csr_matrix((p.buffer_hours, p.targets, p.indptr), shape=(p.node_count,) * 2)
    scipy_s = median_seconds(lambda: dijkstra(matrix, indices=source, limit=h), 3)
    z = largest_z(fast, args.runs, slow, args.baseline_runs)
    print(
        f"{entities:>9,}{relations:>12,}{result.total:>9,}{fast_s:>10.2f}{fast_cpu:>12.2f}"
        f"{slow_s:>11.1f}"
        f"{scipy_s * 1e3:>10.1f}{slow_s / fast_s:>14.1f}{fast_s / scipy_s:>12.0f}{z:>9.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=sizes, default=sizes("10000:100000,100000:1000000"))
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--baseline-runs", type=int, default=200)
    parser.add_argument("--horizon", type=float, default=72.0)
    args = parser.parse_args()
    print(f"{args.runs:,} runs from res:power, horizon {args.horizon:g} h")
    print(
        f"{'entities':>9}{'relations':>12}{'reached':>9}{'bits s':>10}{'bits cpu s':>12}"
        f"{'per-run s':>11}"
        f"{'scipy ms':>10}{'per-run/bits':>14}{'bits/scipy':>12}{'max |z|':>9}"
    )
    for entities, relations in args.sizes:
        measure(entities, relations, args)


if __name__ == "__main__":
    main()
