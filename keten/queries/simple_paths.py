"""The k shortest simple paths of an unweighted directed graph in CSR arrays (Yen 1971).

networkx's `shortest_simple_paths` needs the graph as Python dicts: at 1M entities / 10M
relations building that graph took minutes and several GB for one request. This walks the
arrays instead. Each spur search is a breadth-first search in numba, bounded by the hops
left under `max_hops` and stopped when the target is reached, so a request costs what its
searches visit, not the size of the graph.

Paths come shortest first. Among paths of one length they come in the order Yen's
algorithm finds them (as networkx's, whose candidate list this follows: first found, first
given), each spur path being the one the breadth-first search reaches first, taking
neighbours in the order of the arrays (by node index).

>>> indptr = np.array([0, 2, 3, 4, 4]); heads = np.array([1, 2, 3, 3], dtype=np.int32)
>>> k_shortest_paths(indptr, heads, None, 0, 3, k=3, max_hops=5)
[[0, 1, 3], [0, 2, 3]]
"""

from __future__ import annotations

import heapq

import numpy as np
import numpy.typing as npt
from numba import njit

IntArray = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@njit(cache=True, nogil=True)
def _bfs(
    indptr: Int64Array,
    heads: IntArray,
    allowed: BoolArray,
    banned_nodes: BoolArray,
    banned_tails: Int64Array,
    banned_heads: Int64Array,
    source: int,
    target: int,
    most: int,
) -> Int64Array:
    """The shortest path from `source` to `target` of at most `most` hops (empty if none),
    avoiding `banned_nodes` and the edges (banned_tails[i], banned_heads[i]); an edge `e`
    is walked only where `allowed[e]` (an empty `allowed` allows all)."""
    n = indptr.shape[0] - 1
    parent = np.full(n, -1, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    parent[source] = source
    queue[0] = source
    head, tail = 0, 1
    found = source == target
    while head < tail and not found:
        v = queue[head]
        head += 1
        if depth[v] >= most:
            break
        for e in range(indptr[v], indptr[v + 1]):
            w = heads[e]
            if parent[w] >= 0 or banned_nodes[w]:
                continue
            if allowed.shape[0] and not allowed[e]:
                continue
            skip = False
            for i in range(banned_tails.shape[0]):
                if banned_tails[i] == v and banned_heads[i] == w:
                    skip = True
                    break
            if skip:
                continue
            parent[w] = v
            depth[w] = depth[v] + 1
            if w == target:
                found = True
                break
            queue[tail] = w
            tail += 1
    if not found:
        return np.empty(0, dtype=np.int64)
    path = np.empty(depth[target] + 1, dtype=np.int64)
    node = target
    for i in range(depth[target], -1, -1):
        path[i] = node
        node = parent[node]
    return path


def k_shortest_paths(
    indptr: Int64Array,
    heads: IntArray,
    allowed: BoolArray | None,
    source: int,
    target: int,
    k: int,
    max_hops: int,
) -> list[list[int]]:
    """Up to `k` simple paths from `source` to `target` of at most `max_hops` hops, shortest
    first. A candidate longer than `max_hops` is never searched for: Yen's next paths depend
    only on the paths already given, so leaving them out changes nothing below the bound."""
    n = indptr.shape[0] - 1
    walk = np.zeros(0, dtype=np.bool_) if allowed is None else allowed
    none = np.zeros(0, dtype=np.int64)
    first = _bfs(indptr, heads, walk, np.zeros(n, np.bool_), none, none, source, target, max_hops)
    if first.shape[0] == 0 or source == target:
        return []
    given: list[list[int]] = []
    candidates: list[tuple[int, int, list[int]]] = [(first.shape[0] - 1, 0, first.tolist())]
    seen = {tuple(candidates[0][2])}
    counter = 1
    while candidates and len(given) < k:
        _, _, path = heapq.heappop(candidates)
        given.append(path)
        if len(given) == k:
            break
        banned = np.zeros(n, dtype=np.bool_)
        for i in range(1, len(path)):
            root = path[:i]
            cut = [(p[i - 1], p[i]) for p in given if p[:i] == root and len(p) > i]
            tails = np.array([a for a, _ in cut], dtype=np.int64)
            ends = np.array([b for _, b in cut], dtype=np.int64)
            most = max_hops - (i - 1)
            spur = _bfs(indptr, heads, walk, banned, tails, ends, root[-1], target, most)
            if spur.shape[0]:
                found = root[:-1] + spur.tolist()
                if tuple(found) not in seen:
                    seen.add(tuple(found))
                    heapq.heappush(candidates, (len(found) - 1, counter, found))
                    counter += 1
            banned[root[-1]] = True
    return given
