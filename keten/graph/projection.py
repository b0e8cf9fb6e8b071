"""The in-memory analysis graph: what the chain-effect queries run on.

The store is the system of record, but walking it per query would be far too slow for a
cascade over a million relations. A `Projection` reads every visible entity and relation
once, per store revision and clearance, into compact arrays:

* node ids sorted, so that comparing node indices compares ids (ties in answers break on id);
* the *propagation graph* in CSR form: row `u` lists the entities that a failure of `u`
  reaches, that is `A` for each `A -[:DEPENDS_ON]-> u` and `X` for each `u -[:DISRUPTS]-> X`,
  with per-edge `buffer_hours` (default 0), `strength` (default 1) and a redundancy-group id
  (-1 when none; one id per (dependent, group name), only for DEPENDS_ON edges);
* the SAFEGUARDS map (process -> interests) and every relation as (source, target, type) codes
  for the path and criticality queries, with a networkx view built only when asked for.

`ProjectionCache` keeps one projection per clearance and rebuilds only when the revision moved.

>>> from keten.graph.store import EntityRow, RelationRow
>>> class Tiny:
...     def revision(self, clearance): return 1
...     def iter_entities(self, clearance): return iter([EntityRow("r:power", "Resource", "Power"),
...         EntityRow("vp:water", "VitalProcess", "Water")])
...     def iter_relations(self, clearance): return iter([RelationRow("vp:water", "DEPENDS_ON",
...         "r:power", props={"buffer_hours": 12})])
>>> p = build_projection(Tiny(), Tlp.RED)
>>> p.successors("r:power"), float(p.buffer_hours[0])
(['vp:water'], 12.0)
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import networkx as nx
import numpy as np
import numpy.typing as npt

from keten.graph.assessments import AssessmentRule, choose_assessments
from keten.graph.store import EntityRow
from keten.schema.markings import Tlp
from keten.schema.relations import RelationType

RELATION_TYPES: list[str] = [t.value for t in RelationType]
"""Relation type codes: `rel_type[i]` indexes this list."""
TYPE_CODE: dict[str, int] = {name: code for code, name in enumerate(RELATION_TYPES)}
EDGE_DEPENDS_ON = 0
EDGE_DISRUPTS = 1

IntArray = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class ReadableStore(Protocol):
    """The part of `GraphStore` a projection reads."""

    def revision(self, clearance: Tlp = Tlp.RED) -> int: ...

    def iter_entities(self, clearance: Tlp = Tlp.RED) -> Any: ...

    def iter_relations(self, clearance: Tlp = Tlp.RED) -> Any: ...


@dataclass(eq=False)
class Projection:
    """Arrays of one store revision as seen by one clearance (read-only once built)."""

    revision: int
    clearance: Tlp
    ids: list[str]
    index: dict[str, int]
    kinds: list[str]
    names: list[str]
    indptr: Int64Array
    targets: IntArray
    buffer_hours: FloatArray
    strength: FloatArray
    group: IntArray
    group_size: IntArray
    edge_kind: npt.NDArray[np.int8]
    safeguards_indptr: Int64Array
    safeguards: IntArray
    rel_source: IntArray
    rel_target: IntArray
    rel_type: npt.NDArray[np.int8]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    workspaces: list[Any] = field(default_factory=list, repr=False)
    """Clean search workspaces kept for the next searches of this projection (they go with
    it; see keten.queries.kernel.borrowed_workspace)."""

    @property
    def node_count(self) -> int:
        """Number of visible entities."""
        return len(self.ids)

    @property
    def edge_count(self) -> int:
        """Number of edges of the propagation graph."""
        return int(self.targets.shape[0])

    def successors(self, entity_id: str) -> list[str]:
        """Ids that a failure of `entity_id` reaches directly (propagation graph)."""
        u = self.index[entity_id]
        return [self.ids[v] for v in self.targets[self.indptr[u] : self.indptr[u + 1]]]

    def interests_of(self, node: int) -> IntArray:
        """Indices of the interests that process `node` safeguards."""
        return self.safeguards[self.safeguards_indptr[node] : self.safeguards_indptr[node + 1]]

    @cached_property
    def safeguards_map(self) -> dict[str, list[str]]:
        """Process id -> ids of the interests it safeguards (only processes that have some)."""
        counts = np.diff(self.safeguards_indptr)
        return {
            self.ids[u]: [self.ids[i] for i in self.interests_of(u).tolist()]
            for u in np.flatnonzero(counts).tolist()
        }

    @cached_property
    def propagation_graph(self) -> nx.DiGraph:
        """networkx DiGraph of the propagation graph (u -> what u's failure reaches).

        Parallel edges collapse to the one with the smallest buffer; used by criticality.
        """
        with self._lock:
            graph = nx.DiGraph()
            graph.add_nodes_from(range(self.node_count))
            sources = np.repeat(np.arange(self.node_count), np.diff(self.indptr))
            order = np.argsort(-self.buffer_hours, kind="stable")
            graph.add_edges_from(
                (int(u), int(v), {"buffer_hours": float(b), "strength": float(s)})
                for u, v, b, s in zip(
                    sources[order],
                    self.targets[order],
                    self.buffer_hours[order],
                    self.strength[order],
                    strict=True,
                )
            )
            return graph

    @cached_property
    def relation_graph(self) -> nx.DiGraph:
        """networkx DiGraph of all relations in the direction effects travel.

        DEPENDS_ON is turned around (a failure of the target reaches the source); every other
        type keeps its direction. Each edge holds `types`: the relation types joining the pair.
        """
        with self._lock:
            graph = nx.DiGraph()
            graph.add_nodes_from(range(self.node_count))
            depends = self.rel_type == TYPE_CODE["DEPENDS_ON"]
            tail = np.where(depends, self.rel_target, self.rel_source)
            head = np.where(depends, self.rel_source, self.rel_target)
            for u, v, t in zip(tail.tolist(), head.tolist(), self.rel_type.tolist(), strict=True):
                if u == v:
                    continue
                data = graph.get_edge_data(u, v)
                if data is None:
                    graph.add_edge(u, v, types={RELATION_TYPES[t]})
                else:
                    data["types"].add(RELATION_TYPES[t])
            return graph


def _number(props: dict[str, Any], name: str, default: float) -> float:
    value = props.get(name)
    return default if value is None else float(value)


def _entities(rows: Any) -> tuple[list[str], list[str], list[str]]:
    entities: list[EntityRow] = list(rows)
    if any(a.id > b.id for a, b in itertools.pairwise(entities)):
        entities.sort(key=lambda e: e.id)
    return [e.id for e in entities], [e.kind for e in entities], [e.name for e in entities]


def _csr(
    tails: list[int], heads: list[int], n: int, *columns: list[Any]
) -> tuple[Int64Array, IntArray, list[npt.NDArray[Any]]]:
    """Sort edges by (tail, head) and return indptr, heads and the reordered columns."""
    tail = np.asarray(tails, dtype=np.int64)
    head = np.asarray(heads, dtype=np.int32)
    order = np.lexsort((head, tail))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail, minlength=n), out=indptr[1:])
    return indptr, head[order], [np.asarray(c)[order] for c in columns]


def _rows(store: ReadableStore, clearance: Tlp) -> tuple[Any, Any]:
    """Entities and relations to read: only the columns the projection needs when the store
    offers them (`projection_rows`: a server store then sends no property documents), else
    the full streams."""
    narrow = getattr(store, "projection_rows", None)
    if narrow is not None:
        return narrow(clearance)
    return store.iter_entities(clearance), store.iter_relations(clearance)


def build_projection(
    store: ReadableStore, clearance: Tlp, assessments: AssessmentRule = "all"
) -> Projection:
    """Read the store once into a `Projection` for `clearance` (hidden records stay out).

    The revision is read first: if a write lands while reading, the next `ProjectionCache.get`
    sees a newer revision and rebuilds, so an answer is never labelled newer than its data.
    Where institutes assessed the same dependency differently, `assessments` picks which
    counts (see keten.graph.assessments).
    """
    revision = store.revision(clearance)
    entity_rows, relation_rows = _rows(store, clearance)
    ids, kinds, names = _entities(entity_rows)
    index = {entity_id: i for i, entity_id in enumerate(ids)}
    tails: list[int] = []
    heads: list[int] = []
    buffers: list[float] = []
    strengths: list[float] = []
    groups: list[int] = []
    edge_kinds: list[int] = []
    group_ids: dict[tuple[int, str], int] = {}
    sg_tails: list[int] = []
    sg_heads: list[int] = []
    rel_source: list[int] = []
    rel_target: list[int] = []
    rel_type: list[int] = []
    for rel in choose_assessments(relation_rows, assessments):
        s, t = index.get(rel.source), index.get(rel.target)
        code = TYPE_CODE.get(rel.type)
        if s is None or t is None or code is None:
            continue
        rel_source.append(s)
        rel_target.append(t)
        rel_type.append(code)
        if rel.type == "DEPENDS_ON":
            name = rel.props.get("redundancy_group")
            gid = -1 if name is None else group_ids.setdefault((s, str(name)), len(group_ids))
            tails.append(t)
            heads.append(s)
            groups.append(gid)
            edge_kinds.append(EDGE_DEPENDS_ON)
        elif rel.type == "DISRUPTS":
            tails.append(s)
            heads.append(t)
            groups.append(-1)
            edge_kinds.append(EDGE_DISRUPTS)
        else:
            if rel.type == "SAFEGUARDS":
                sg_tails.append(s)
                sg_heads.append(t)
            continue
        buffers.append(_number(rel.props, "buffer_hours", 0.0))
        strengths.append(_number(rel.props, "strength", 1.0))
    n = len(ids)
    indptr, targets, (buffer_a, strength_a, group_a, kind_a) = _csr(
        tails, heads, n, buffers, strengths, groups, edge_kinds
    )
    sg_indptr, sg_targets, _ = _csr(sg_tails, sg_heads, n)
    group_arr = np.asarray(group_a, dtype=np.int32).reshape(-1)
    group_size = np.bincount(group_arr[group_arr >= 0], minlength=len(group_ids))
    projection = Projection(
        revision=revision,
        clearance=clearance,
        ids=ids,
        index=index,
        kinds=kinds,
        names=names,
        indptr=indptr,
        targets=targets,
        buffer_hours=np.asarray(buffer_a, dtype=np.float64).reshape(-1),
        strength=np.asarray(strength_a, dtype=np.float64).reshape(-1),
        group=group_arr,
        group_size=group_size.astype(np.int32),
        edge_kind=np.asarray(kind_a, dtype=np.int8).reshape(-1),
        safeguards_indptr=sg_indptr,
        safeguards=sg_targets,
        rel_source=np.asarray(rel_source, dtype=np.int32),
        rel_target=np.asarray(rel_target, dtype=np.int32),
        rel_type=np.asarray(rel_type, dtype=np.int8),
    )
    for value in vars(projection).values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False  # shared by concurrent requests: never edit in place
    return projection


class ProjectionCache:
    """One projection per clearance, rebuilt only when the store's revision changed.

    Thread-safe: concurrent requests for a stale clearance wait for a single rebuild, and a
    request for another clearance is not blocked by it.
    """

    def __init__(self, store: ReadableStore) -> None:
        self.store = store
        self._projections: dict[tuple[Tlp, AssessmentRule], Projection] = {}
        self._locks: dict[Tlp, threading.Lock] = {level: threading.Lock() for level in Tlp}
        self.builds = 0

    def get(self, clearance: Tlp, assessments: AssessmentRule = "all") -> Projection:
        """The projection of the current revision for `clearance` and assessment rule."""
        clearance = Tlp(clearance)
        key = (clearance, assessments)
        revision = self.store.revision(clearance)
        current = self._projections.get(key)
        if current is not None and current.revision == revision:
            return current
        with self._locks[clearance]:
            current = self._projections.get(key)
            if current is None or current.revision != self.store.revision(clearance):
                current = build_projection(self.store, clearance, assessments)
                self._projections[key] = current
                self.builds += 1
            return current
