"""The fast centrality kernels agree with networkx on random graphs."""

from __future__ import annotations

import igraph
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


@pytest.mark.parametrize(("nodes", "edges"), [(50, 120), (2_000, 10_000), (30_000, 300_000)])
def test_pagerank_by_default_agrees_with_igraphs_prpack(nodes: int, edges: int) -> None:
    """PRPACK solves PageRank directly (no iteration to stop): the default must land within
    1e-6 of it (L1) on weighted graphs with hubs and dangling nodes, whatever their size."""
    rng = np.random.default_rng(nodes)
    tails = rng.integers(0, nodes, edges)
    heads = rng.integers(0, nodes, edges)
    heads[: edges // 10] = rng.integers(0, max(nodes // 100, 2), edges // 10)  # hubs
    tails[tails >= nodes - nodes // 20] = 0  # the last 5% have no out-edges
    matrix = sp.csr_matrix((rng.uniform(0.1, 1.0, edges), (tails, heads)), shape=(nodes, nodes))
    matrix.sum_duplicates()
    coo = matrix.tocoo()
    graph = igraph.Graph(n=nodes, edges=np.column_stack([coo.row, coo.col]).tolist(), directed=True)
    exact = np.array(graph.pagerank(weights=coo.data.tolist(), implementation="prpack"))
    assert np.abs(pagerank(matrix) - exact).sum() < 1e-6


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
