"""Yen's k shortest simple paths on CSR arrays, held to networkx on random graphs."""

from __future__ import annotations

import itertools
import random

import networkx as nx
import numpy as np

from keten.queries.simple_paths import k_shortest_paths


def arrays(graph: nx.DiGraph, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of `graph` (heads ascending per node)."""
    edges = sorted(graph.edges)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount([u for u, _ in edges], minlength=n), out=indptr[1:])
    return indptr, np.array([v for _, v in edges], dtype=np.int32)


def test_paths_are_the_shortest_simple_ones_networkx_finds() -> None:
    rng = random.Random(7)
    for n, p in [(8, 0.3), (10, 0.25), (12, 0.2)]:
        graph = nx.gnp_random_graph(n, p, seed=rng.randrange(1000), directed=True)
        indptr, heads = arrays(graph, n)
        for a, b in itertools.permutations(range(n), 2):
            every = list(nx.all_simple_paths(graph, a, b))
            for k, hops in [(3, 20), (50, 20), (50, 3)]:
                got = k_shortest_paths(indptr, heads, None, a, b, k, hops)
                expected = sorted(len(x) - 1 for x in every if len(x) - 1 <= hops)[:k]
                assert [len(x) - 1 for x in got] == expected
                assert len({tuple(x) for x in got}) == len(got)
                assert all(x in every for x in got)
                if k == 50 and len(every) < 50:
                    assert sorted(got) == sorted(x for x in every if len(x) - 1 <= hops)


def test_edges_not_allowed_are_not_walked() -> None:
    graph = nx.DiGraph([(0, 1), (1, 3), (0, 2), (2, 3)])
    indptr, heads = arrays(graph, 4)
    allowed = np.array([False, True, True, True])  # not 0 -> 1
    assert k_shortest_paths(indptr, heads, allowed, 0, 3, 5, 5) == [[0, 2, 3]]
    assert k_shortest_paths(indptr, heads, None, 0, 3, 5, 1) == []
    assert k_shortest_paths(indptr, heads, None, 3, 0, 5, 5) == []
