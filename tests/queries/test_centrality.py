"""The fast centrality kernels agree with networkx on random graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from keten.queries.centrality import betweenness, pagerank


def random_graph(seed: int) -> tuple[nx.DiGraph, sp.csr_matrix]:
    graph = nx.gnp_random_graph(60, 0.06, seed=seed, directed=True)
    rng = np.random.default_rng(seed)
    for u, v in graph.edges:
        graph[u][v]["weight"] = float(rng.uniform(0.1, 1.0))
    return graph, nx.to_scipy_sparse_array(graph, nodelist=range(60), format="csr")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pagerank_matches_networkx(seed: int) -> None:
    graph, matrix = random_graph(seed)
    expected = nx.pagerank(graph, weight="weight", tol=1e-10)
    got = pagerank(sp.csr_matrix(matrix), tol=1e-10)
    assert got == pytest.approx([expected[i] for i in range(60)], abs=1e-8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_betweenness_matches_networkx(seed: int) -> None:
    graph, matrix = random_graph(seed)
    expected = nx.betweenness_centrality(graph)
    assert betweenness(sp.csr_matrix(matrix)) == pytest.approx(
        [expected[i] for i in range(60)], abs=1e-12
    )
    exact = betweenness(sp.csr_matrix(matrix))
    assert betweenness(sp.csr_matrix(matrix), k=60).tolist() == exact.tolist()
    # sampling sources is unbiased: the mean of many estimates approaches the exact values
    estimates = np.mean([betweenness(sp.csr_matrix(matrix), k=20, seed=s) for s in range(200)], 0)
    assert np.abs(estimates - exact).max() < 0.1 * exact.max()
