"""The integrated risk analysis as served: compact per threat, its pages made when asked.

At a million entities about half of the 10,000 threats reach a hub and each then hits
thousands of vital processes: the whole answer (`integrated_analysis`, every process hit
with its chain) is tens of millions of objects. What a page needs of a threat it is not
listing is small, so an analysis (`RiskAnalysis`) keeps per threat only its classes,
score, actors, chain effects and, per interest, the derived class with its points and
how many processes were hit; no process is listed. A page (`RiskAnalysis.page`) searches
its own threats again, from the hubs' bases (keten.queries.threatcascades; the bases are
kept within `BASE_BUDGET`), and lists the first `processes` processes per derivation.

The pages are the same as `window` of the whole answer, to the last bit: the points are
summed as `derivations` sums them, with Python's `sum` over per-hit points rounded as
Python's `round(x, 6)` rounds (`round6`, which numpy's `round` does not always match), in
the order of the hits. `tests/queries/test_riskpages.py` holds every page against the
whole answer.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numba import njit

from keten.graph.projection import FloatArray, Int64Array, Projection
from keten.graph.store import GraphStore
from keten.queries.risk import (
    CATEGORY_WEIGHT,
    FAST_HOURS,
    FAST_WEIGHT,
    ActorRef,
    Derivation,
    ProcessHit,
    RiskOptions,
    RiskResult,
    SharedDeriver,
    ThreatRisk,
    actors_by_threat,
    assess_threat,
    chain_effects,
    impact_class,
    listed_hits,
    ranked_result,
    visible_inputs,
    window,
)
from keten.queries.threatcascades import (
    HUBS,
    KeptBases,
    Listing,
    Route,
    SharedSearch,
    ThreatCascade,
    routes,
    search_routed,
)

BASE_BUDGET = 320 * 2**20
"""Bytes of hub bases kept for pages (`KeptBases`): the six bases of the 1M / 10M
synthetic graph (about 40 MB each) with room for a second option set."""
BASES = KeptBases(BASE_BUDGET)

_SPLIT = 134217729.0  # 2**27 + 1: Dekker's split of a double into two halves


@njit(cache=True, nogil=True)
def round6(values: FloatArray) -> FloatArray:
    """Each value (non-negative, below 2**30) rounded as Python's `round(x, 6)` rounds it: the
    double nearest to x rounded half to even at the sixth decimal, x taken exactly.

    x * 10**6 is made exactly as a sum p + e (Dekker's product), rounded to the integer k
    half to even, and k / 10**6 is one correctly rounded division of two exact numbers.
    """
    c = _SPLIT * 1e6
    yh = c - (c - 1e6)
    yl = 1e6 - yh
    out = np.empty(values.shape[0])
    for i in range(values.shape[0]):
        x = values[i]
        p = x * 1e6
        c = _SPLIT * x
        xh = c - (c - x)
        xl = x - xh
        e = ((xh * yh - p) + xh * yl + xl * yh) + xl * yl  # x * 10**6 - p, exactly
        f = np.floor(p)
        d = ((p - f) - 0.5) + e  # the sign of (x * 10**6 - f) - 1/2
        if d > 0 or (d == 0 and f % 2 != 0):
            f += 1.0
        out[i] = f / 1e6
    return out


def process_weights(projection: Projection, categories: dict[str, str]) -> FloatArray:
    """Per entity the category weight a hit on it counts (`process_hit`'s)."""
    weights = np.ones(projection.node_count)
    for entity_id, category in categories.items():
        node = projection.index.get(entity_id)
        if node is not None:
            weights[node] = CATEGORY_WEIGHT.get(category, 1.0)
    return weights


def hit_interests(projection: Projection, processes: Int64Array) -> tuple[Int64Array, Int64Array]:
    """Every (hit, interest) pair of `processes`, hits in order and each hit's interests in
    `interests_of` order: the hit's position and the interest's index."""
    p = projection
    starts = p.safeguards_indptr[processes]
    counts = p.safeguards_indptr[processes + 1] - starts
    hit = np.repeat(np.arange(processes.shape[0], dtype=np.int64), counts)
    before = np.cumsum(counts) - counts
    at = np.arange(hit.shape[0], dtype=np.int64) - np.repeat(before - starts, counts)
    return hit, np.asarray(p.safeguards, dtype=np.int64)[at]


def by_interest(hit: Int64Array, interest: Int64Array) -> list[tuple[int, Int64Array]]:
    """Per interest, in the order the hits first reach them, the positions of its hits
    (the order `derivations` makes its dictionary in)."""
    order = np.argsort(interest, kind="stable")
    keys, starts = np.unique(interest[order], return_index=True)
    groups = np.split(hit[order], starts[1:])
    _, first = np.unique(interest, return_index=True)
    return [(int(keys[i]), groups[i]) for i in np.argsort(first, kind="stable").tolist()]


def summary_derivations(
    projection: Projection, cascade: ThreatCascade, weights: FloatArray
) -> dict[str, Derivation]:
    """Per interest the derived class, points and processes_total, no process listed."""
    processes = cascade.processes
    speed = np.where(cascade.times <= FAST_HOURS, FAST_WEIGHT, 1.0)
    points = round6((weights[processes] * speed) * cascade.strengths)
    derivation = {}
    for interest, hits in by_interest(*hit_interests(projection, processes)):
        total = round(sum(points[hits].tolist()), 6)
        derivation[projection.ids[interest]] = Derivation(
            impact=impact_class(total), points=total, processes=[], processes_total=hits.shape[0]
        )
    return derivation


def first_per_interest(projection: Projection, limit: int) -> Listing:
    """The `Listing` of the hits among the first `limit` of any interest they count for."""

    def listing(processes: Int64Array) -> Int64Array:
        hit, interest = hit_interests(projection, processes)
        order = np.argsort(interest, kind="stable")
        sorted_interest = interest[order]
        starts = np.r_[0, np.flatnonzero(sorted_interest[1:] != sorted_interest[:-1]) + 1]
        sizes = np.diff(np.r_[starts, sorted_interest.shape[0]])
        rank = np.arange(order.shape[0]) - np.repeat(starts, sizes)
        return np.unique(hit[order][rank < limit])

    return listing


class SummaryDeriver(SharedDeriver):
    """`SharedDeriver`'s answers with no process listed (`summary_derivations`), from
    searches that remember each threat's route and keep their bases (`BASES`)."""

    def __init__(
        self,
        projection: Projection,
        categories: dict[str, str],
        options: RiskOptions,
        threats: list[int],
    ) -> None:
        super().__init__(projection, categories, options, threats)
        self.routes: dict[int, Route] = {}
        self.weights = process_weights(projection, categories)

    def run(self, threat: int) -> tuple[int, dict[str, Derivation], list[Any]]:
        """The threat's answer (all threats are searched on the first call)."""
        if not self.results:
            o, p = self.options, self.projection
            shared = SharedSearch(p, o.horizon_hours, o.min_strength)
            self.routes = routes(shared, self.threats)
            searched = search_routed(
                shared,
                self.routes,
                o.top,
                lambda hub, time: BASES.get(shared, hub, time),
                lambda processes: processes[:0],
            )
            for node, cascade in searched:
                derivation = summary_derivations(p, cascade, self.weights)
                self.results[node] = (cascade.total, derivation, chain_effects(p, cascade))
        return self.results.pop(threat)


@dataclass(eq=False)
class RiskAnalysis:
    """One analysis of a projection: every threat without listed processes (`summary`),
    and what its pages need to list them (module docstring)."""

    summary: RiskResult
    projection: Projection | None
    """The projection it was made from (None while kept in `RiskCache`, which holds the
    projection weakly and gives it back with the analysis)."""
    options: RiskOptions
    categories: dict[str, str]
    routes: dict[int, Route]
    """Per threat (its index) how its search runs."""

    def page(self, offset: int, limit: int, processes: int) -> RiskResult:
        """`window(whole answer, offset, limit, processes)`, with its threats searched again."""
        page = window(self.summary, offset, limit, processes)
        page.threats = self.listed(page.threats, processes)
        return page

    def listed(self, threats: list[ThreatRisk], processes: int) -> list[ThreatRisk]:
        """`threats` (of this analysis) with the first `processes` processes listed per
        derivation."""
        p = self.projection
        assert p is not None, "an analysis kept in a RiskCache is given out with its projection"
        o = self.options
        shared = SharedSearch(p, o.horizon_hours, o.min_strength, HUBS)
        nodes = {p.index[t.id]: t for t in threats}
        asked = {node: self.routes[node] for node in nodes}
        found: dict[int, ThreatRisk] = {}
        for node, cascade in search_routed(
            shared,
            asked,
            o.top,
            lambda hub, time: BASES.get(shared, hub, time),
            first_per_interest(p, processes),
            every_strength=False,
        ):
            found[node] = with_processes(p, self.categories, nodes[node], cascade, processes)
        return [found[p.index[t.id]] for t in threats]

    def every_threat(self, processes: int, chunk: int = 100) -> Iterator[ThreatRisk]:
        """Every threat in ranking order with `processes` listed per derivation, searched
        `chunk` at a time (the report's way through a whole analysis)."""
        threats = self.summary.threats
        for start in range(0, len(threats), chunk):
            yield from self.listed(threats[start : start + chunk], processes)


def with_processes(
    projection: Projection,
    categories: dict[str, str],
    threat: ThreatRisk,
    cascade: ThreatCascade,
    limit: int,
) -> ThreatRisk:
    """`threat` with the first `limit` listed hits of `cascade` per derivation."""
    hits = listed_hits(projection, categories, cascade)
    nodes = cascade.processes[cascade.listed]
    lists: dict[str, list[ProcessHit]] = {}
    for node, hit in zip(nodes.tolist(), hits, strict=True):
        for interest in projection.interests_of(node).tolist():
            kept = lists.setdefault(projection.ids[interest], [])
            if len(kept) < limit:
                kept.append(hit)
    derivation = {
        interest: derived.model_copy(update={"processes": lists.get(interest, [])})
        for interest, derived in threat.derivation.items()
    }
    return threat.model_copy(update={"derivation": derivation})


def analyse(
    store: GraphStore, projection: Projection, options: RiskOptions | None = None
) -> RiskAnalysis:
    """The analysis of every threat the projection's clearance may see, as served: its
    summary now, its pages when asked (`RiskAnalysis.page`)."""
    options = options or RiskOptions()
    categories, rows = visible_inputs(store, projection)
    threats = [projection.index[r.id] for r in rows]
    deriver = SummaryDeriver(projection, categories, options, threats)
    actors: dict[int, list[ActorRef]] = actors_by_threat(projection)
    assessed = [assess_threat(row, deriver, actors) for row in rows]
    return RiskAnalysis(
        summary=ranked_result(projection, options, assessed),
        projection=projection,
        options=options,
        categories=categories,
        routes=deriver.routes,
    )


class RiskCache:
    """Analyses (`RiskAnalysis`) kept with the projection they were made from.

    A server answers an analysis again from here until the projection it read is replaced
    (a write its clearance can see), at which point the analyses go with the old
    projection (weakly held), so no answer outlives its revision. At most
    `KEEP_PER_PROJECTION` option sets are kept per projection; each is compact (no
    process listed), its pages are made when asked.
    """

    KEEP_PER_PROJECTION = 8

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._results: weakref.WeakKeyDictionary[Projection, dict[str, RiskAnalysis]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self.computed = 0

    def get(self, projection: Projection, options: RiskOptions) -> RiskAnalysis:
        """The analysis of `projection` with `options`, computed once."""
        key = options.model_dump_json()
        with self._lock:
            kept = self._results.get(projection, {}).get(key)
        if kept is None:
            kept = replace(analyse(self.store, projection, options), projection=None)
            with self._lock:
                results = self._results.setdefault(projection, {})
                results[key] = kept
                while len(results) > self.KEEP_PER_PROJECTION:
                    del results[next(iter(results))]
                self.computed += 1
        return replace(kept, projection=projection)
