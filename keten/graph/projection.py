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

import dataclasses
import itertools
import logging
import threading
import weakref
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from keten.graph.assessments import AssessmentRule, choose_assessments
from keten.graph.projection_splice import let_go
from keten.graph.projection_strings import Codes, SortedIndex, Strings, pick
from keten.schema.markings import Tlp
from keten.schema.relations import RelationType

if TYPE_CHECKING:
    import networkx as nx

log = logging.getLogger(__name__)

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


@dataclass(frozen=True, slots=True)
class AuditPosition:
    """The last entry of a store's audit trail when a projection was read: its number and
    time. A write after it is read from the trail and applied (keten.graph.projection_delta);
    an entry of that number with another time means the store is not the one projected."""

    seq: int
    at: str


@dataclass(eq=False)
class Projection:
    """Arrays of one store revision as seen by one clearance (read-only once built).

    The arrays may be memory-mapped files (keten.graph.projection_files): they are then
    shared with the page cache and with other processes reading the same revision.
    """

    revision: int
    clearance: Tlp
    ids: Sequence[str]
    index: Mapping[str, int]
    kinds: Sequence[str]
    names: Sequence[str]
    indptr: Int64Array
    targets: IntArray
    buffer_hours: FloatArray
    strength: FloatArray
    group: IntArray
    group_size: IntArray
    group_key: Int64Array
    """Per group: dependent * max(1, len(group_names)) + name code (see `Propagation`)."""
    edge_kind: npt.NDArray[np.int8]
    safeguards_indptr: Int64Array
    safeguards: IntArray
    rel_source: IntArray
    rel_target: IntArray
    rel_type: npt.NDArray[np.int8]
    rel_buffer: FloatArray
    rel_strength: FloatArray
    rel_group: IntArray
    """Per relation (in `rel_*` order): buffer, strength and redundancy group name code."""
    group_names: list[str]
    """Redundancy group names by code (`rel_group`)."""
    assessments: AssessmentRule = "all"
    position: AuditPosition = AuditPosition(0, "")
    """Where the store's audit trail ended when this projection was read."""
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
        import networkx as nx  # half a second to import: only analyses that walk it need it

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
    def effect_edges(self) -> EffectEdges:
        """All relations in the direction effects travel, as CSR arrays (for paths).

        DEPENDS_ON is turned around (a failure of the target reaches the source); every other
        type keeps its direction; a relation from an entity to itself is left out. Arrays,
        not a networkx graph: at 1M entities / 10M relations that graph took minutes and
        several GB to build; these take seconds and about 60 MB.
        """
        with self._lock:
            depends = self.rel_type == TYPE_CODE["DEPENDS_ON"]
            tail = np.where(depends, self.rel_target, self.rel_source)
            head = np.where(depends, self.rel_source, self.rel_target)
            keep = np.flatnonzero(tail != head)
            order = keep[np.lexsort((head[keep], tail[keep]))]
            return EffectEdges(
                indptr=indptr_of(tail[order], self.node_count),
                heads=head[order].astype(np.int32),
                types=self.rel_type[order],
            )


@dataclass(frozen=True)
class EffectEdges:
    """Relations as edges in the direction effects travel: node u's edges are
    `heads[indptr[u]:indptr[u + 1]]` (ascending, one per relation) with their type codes."""

    indptr: Int64Array
    heads: IntArray
    types: npt.NDArray[np.int8]

    def types_between(self, u: int, v: int) -> set[str]:
        """The relation types of the edges from u to v."""
        start, end = int(self.indptr[u]), int(self.indptr[u + 1])
        row = self.heads[start:end]
        first, last = np.searchsorted(row, v, "left"), np.searchsorted(row, v, "right")
        return {RELATION_TYPES[t] for t in self.types[start + first : start + last].tolist()}


def _number(props: dict[str, Any], name: str, default: float) -> float:
    value = props.get(name)
    return default if value is None else float(value)


@dataclass(eq=False)
class RelationTable:
    """The relations a projection uses, one row each, in columns.

    The propagation graph, its redundancy groups and the SAFEGUARDS map all derive from
    this table (`assemble`), which is what a small write edits (keten.graph.projection_delta)
    instead of reading the store again. `group` codes index `group_names` (-1: none).
    """

    source: IntArray
    target: IntArray
    type: npt.NDArray[np.int8]
    buffer_hours: FloatArray
    strength: FloatArray
    group: IntArray

    def __len__(self) -> int:
        return int(self.source.shape[0])

    def take(self, rows: npt.NDArray[Any] | slice) -> RelationTable:
        """The rows selected by a mask or index array."""
        return RelationTable(*(column[rows] for column in self.columns()))

    def columns(self) -> tuple[npt.NDArray[Any], ...]:
        """The columns in field order."""
        return (
            self.source, self.target, self.type, self.buffer_hours, self.strength, self.group
        )  # fmt: skip

    @staticmethod
    def concat(parts: list[RelationTable]) -> RelationTable:
        """One table of the rows of `parts`, in order."""
        return RelationTable(
            *(np.concatenate(c) for c in zip(*(p.columns() for p in parts), strict=False))
        )


def read_relations(
    rows: Any, index: Mapping[str, int], group_codes: dict[str, int]
) -> RelationTable:
    """The relations among `rows` with both ends in `index`, as a table.

    Columns grow in compact `array`s, not lists of Python numbers: at ten million relations
    lists cost gigabytes. New redundancy group names get the next codes in `group_codes`.
    """
    source, target, types = array("i"), array("i"), array("b")
    buffers, strengths, groups = array("d"), array("d"), array("i")
    depends = TYPE_CODE["DEPENDS_ON"]
    weighted = {depends, TYPE_CODE["DISRUPTS"]}
    for rel in rows:
        s, t = index.get(rel.source), index.get(rel.target)
        code = TYPE_CODE.get(rel.type)
        if s is None or t is None or code is None:
            continue
        source.append(s)
        target.append(t)
        types.append(code)
        if code in weighted:
            buffers.append(_number(rel.props, "buffer_hours", 0.0))
            strengths.append(_number(rel.props, "strength", 1.0))
        else:
            buffers.append(0.0)
            strengths.append(1.0)
        name = rel.props.get("redundancy_group") if code == depends else None
        groups.append(-1 if name is None else group_codes.setdefault(str(name), len(group_codes)))
    return RelationTable(
        np.frombuffer(source, dtype=np.int32),
        np.frombuffer(target, dtype=np.int32),
        np.frombuffer(types, dtype=np.int8),
        np.frombuffer(buffers, dtype=np.float64),
        np.frombuffer(strengths, dtype=np.float64),
        np.frombuffer(groups, dtype=np.int32),
    )


def canonical(table: RelationTable) -> RelationTable:
    """The table sorted by (source, target, type, buffer, strength, group): the order no
    longer depends on how the store streamed the rows or on which write came last, so a
    projection updated after a write equals one built afresh."""
    return table.take(_canonical_order(table))


def _canonical_order(table: RelationTable) -> Int64Array:
    return np.lexsort(
        (table.group, table.strength, table.buffer_hours, table.type, table.target, table.source)
    )


def sort_canonically(table: RelationTable) -> None:
    """`canonical` in place, a column at a time: a column no other table shares goes as its
    sorted copy comes (reading a store of 10M relations, 290 MB that a sorted copy of the
    whole table doubled)."""
    order = _canonical_order(table)
    for name in ("source", "target", "type", "buffer_hours", "strength", "group"):
        column = getattr(table, name)
        setattr(table, name, None)
        setattr(table, name, column[order])
        del column


def merge_sorted(kept: RelationTable, fresh: RelationTable, n: int) -> RelationTable:
    """`kept` (sorted as by `canonical`) with the rows of `fresh` put in their places.

    Rows read again after a write touch an entity that kept rows do not, so no fresh row
    shares (source, target, type) with a kept one and the places are found on that key
    alone: a search per fresh row instead of sorting the whole table again.
    """
    fresh = canonical(fresh)
    places = np.searchsorted(_pair_key(kept, n), _pair_key(fresh, n))
    columns = zip(kept.columns(), fresh.columns(), strict=True)
    return RelationTable(*(np.insert(k, places, f) for k, f in columns))


def _pair_key(table: RelationTable, n: int) -> Int64Array:
    """(source, target, type) as one number, in the order `canonical` sorts by."""
    pair = table.source.astype(np.int64) * n + table.target
    return pair * len(RELATION_TYPES) + table.type


def _csr(
    tails: npt.NDArray[Any], heads: npt.NDArray[Any], n: int, *columns: npt.NDArray[Any]
) -> tuple[Int64Array, IntArray, list[npt.NDArray[Any]]]:
    """Sort edges by (tail, head) and return indptr, heads and the reordered columns
    (stable: edges of one pair keep their order)."""
    order = np.argsort(tails.astype(np.int64) * n + heads, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tails, minlength=n), out=indptr[1:])
    return indptr, heads[order].astype(np.int32), [c[order] for c in columns]


def _read_entities(rows: Any) -> tuple[list[str], Codes, Strings]:
    """Ids, kinds and names, sorted by id (stores stream them sorted; checked, not trusted).

    Only the ids become a list of Python strings (reading the relations needs a dict of
    them); kinds become codes and names one UTF-8 blob as the rows come, so that a name is
    freed with its row. At 1M entities lists of the three took 420 MB, and names and ids
    freed later left much of that memory with the process (the allocator's pools held
    strings of both), where the whole read afresh peaked.
    """
    ids: list[str] = []
    codes, vocabulary = array("h"), dict[str, int]()
    blob, ends = bytearray(), array("q")
    for row in rows:
        ids.append(row.id)
        codes.append(vocabulary.setdefault(row.kind, len(vocabulary)))
        blob += row.name.encode()
        ends.append(len(blob))
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    offsets[1:] = np.frombuffer(ends, dtype=np.int64)
    names = Strings(np.frombuffer(bytes(blob), dtype=np.uint8), offsets)
    kinds = _sorted_codes(np.frombuffer(codes, dtype=np.int16), list(vocabulary))
    if any(a > b for a, b in itertools.pairwise(ids)):
        order = sorted(range(len(ids)), key=ids.__getitem__)
        ids = [ids[i] for i in order]
        kinds = Codes(kinds.codes[order], kinds.vocabulary)
        names = Strings.of(pick(names, np.array(order, dtype=np.int64)))
    return ids, kinds, names


def _sorted_codes(codes: npt.NDArray[np.int16], vocabulary: list[str]) -> Codes:
    """The codes again over the vocabulary sorted (as `Codes.of` makes them)."""
    ranked = sorted(vocabulary)
    recode = np.array([ranked.index(name) for name in vocabulary], dtype=np.int16)
    return Codes(recode[codes] if codes.shape[0] else codes.copy(), ranked)


def _rows(store: ReadableStore, clearance: Tlp) -> tuple[Any, Any]:
    """Entities and relations to read: only the columns the projection needs when the store
    offers them (`projection_rows`: a server store then sends no property documents), else
    the full streams."""
    narrow = getattr(store, "projection_rows", None)
    if narrow is not None:
        return narrow(clearance)
    return store.iter_entities(clearance), store.iter_relations(clearance)


@dataclass(frozen=True, slots=True)
class Entities:
    """The visible entities of a projection, sorted by id (lists and a dict when read from
    the store, arrays when opened from files: keten.graph.projection_strings)."""

    ids: Sequence[str]
    index: Mapping[str, int]
    kinds: Sequence[str]
    names: Sequence[str]


def sorted_group_names(
    tables: list[RelationTable], names: list[str]
) -> tuple[list[RelationTable], list[str], IntArray]:
    """The tables with group codes renumbered so that the names used are sorted (unused
    names drop out), the names, and old code -> new code (its last slot maps -1 to -1):
    codes then do not depend on the order names were first met in."""
    counts = np.zeros(len(names), dtype=np.int64)
    for table in tables:
        counts += np.bincount(table.group[table.group >= 0], minlength=len(names))
    used = np.flatnonzero(counts)
    kept = [names[c] for c in used.tolist()]
    order = sorted(range(len(kept)), key=kept.__getitem__)
    recode = np.full(len(names) + 1, -1, dtype=np.int32)
    recode[used[order]] = np.arange(len(kept), dtype=np.int32)
    recoded = [dataclasses.replace(t, group=recode[t.group]) for t in tables]
    return recoded, [kept[i] for i in order], recode


@dataclass(eq=False)
class Propagation:
    """The propagation graph in CSR order (see `Projection`), with one key per redundancy
    group: dependent * max(1, number of group names) + name code, groups numbered in key
    order."""

    indptr: Int64Array
    targets: IntArray
    buffer_hours: FloatArray
    strength: FloatArray
    group: IntArray
    edge_kind: npt.NDArray[np.int8]
    group_size: IntArray
    group_key: Int64Array


@dataclass(eq=False)
class Edges:
    """Propagation edges sorted by (tail, head); `key` is the group key (-1: no group)."""

    tails: IntArray
    heads: IntArray
    buffer_hours: FloatArray
    strength: FloatArray
    key: Int64Array
    kind: npt.NDArray[np.int8]

    @staticmethod
    def sorted_of(table: RelationTable, names: int, n: int) -> Edges:
        """The DEPENDS_ON (turned around) and DISRUPTS rows of `table` as edges sorted by
        (tail, head), stable (edges of one pair keep their order). The order is found
        first and each column gathered once in it: at 10M relations, edges made in table
        order and then copied sorted held both, 0.4 GB more."""
        rows = _weighted(table)
        depends = table.type[rows] == TYPE_CODE["DEPENDS_ON"]
        tails = np.where(depends, table.target[rows], table.source[rows]).astype(np.int64)
        tails *= n
        tails += np.where(depends, table.source[rows], table.target[rows])
        del depends
        order = np.argsort(tails, kind="stable")
        del tails
        return Edges.at(table, rows[order], names)

    @staticmethod
    def at(table: RelationTable, weighted: Int64Array, names: int) -> Edges:
        """The rows `weighted` (DEPENDS_ON or DISRUPTS) of `table` as edges, in that order."""
        dep = table.type[weighted] == TYPE_CODE["DEPENDS_ON"]
        tails = np.where(dep, table.target[weighted], table.source[weighted])
        heads = np.where(dep, table.source[weighted], table.target[weighted])
        codes = table.group[weighted]
        key = heads.astype(np.int64)  # made in place: each temporary is 80 MB at 10M edges
        key *= max(names, 1)
        key += codes
        key[~(dep & (codes >= 0))] = -1
        del codes
        kind = np.where(dep, EDGE_DEPENDS_ON, EDGE_DISRUPTS).astype(np.int8)
        return Edges(
            tails, heads, table.buffer_hours[weighted], table.strength[weighted], key, kind
        )


def _weighted(table: RelationTable) -> Int64Array:
    """Rows of `table` that are edges of the propagation graph (DEPENDS_ON, DISRUPTS)."""
    types = table.type
    return np.flatnonzero((types == TYPE_CODE["DEPENDS_ON"]) | (types == TYPE_CODE["DISRUPTS"]))


def propagation_of(table: RelationTable, n: int, names: int) -> Propagation:
    """The propagation graph of a sorted relation table over `n` entities."""
    edges = Edges.sorted_of(table, names, n)
    grouped = edges.key >= 0
    group_key, inverse = np.unique(edges.key[grouped], return_inverse=True)
    group = np.full(edges.key.shape[0], -1, dtype=np.int32)
    group[grouped] = inverse.reshape(-1)
    return Propagation(
        indptr=indptr_of(edges.tails, n),
        targets=edges.heads.astype(np.int32, copy=False),
        buffer_hours=edges.buffer_hours,
        strength=edges.strength,
        group=group,
        edge_kind=edges.kind,
        group_size=np.bincount(group[grouped], minlength=group_key.shape[0]).astype(np.int32),
        group_key=group_key.astype(np.int64),
    )


def indptr_of(tails: npt.NDArray[Any], n: int) -> Int64Array:
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tails, minlength=n), out=indptr[1:])
    return indptr


def assemble(
    revision: int,
    clearance: Tlp,
    assessments: AssessmentRule,
    entities: Entities,
    table: RelationTable,
    group_names: list[str],
    position: AuditPosition,
) -> Projection:
    """The projection of `entities` and the relation `table` (sorted here, see `canonical`):
    the propagation CSR with its redundancy groups, and the SAFEGUARDS map."""
    (table,), group_names, _ = sorted_group_names([table], group_names)
    table = canonical(table)
    graph = propagation_of(table, len(entities.ids), len(group_names))
    return project(revision, clearance, assessments, entities, table, group_names, position, graph)


def project(
    revision: int,
    clearance: Tlp,
    assessments: AssessmentRule,
    entities: Entities,
    table: RelationTable,
    group_names: list[str],
    position: AuditPosition,
    graph: Propagation,
) -> Projection:
    """The projection made of its parts (read-only)."""
    n = len(entities.ids)
    safeguards = np.flatnonzero(table.type == TYPE_CODE["SAFEGUARDS"])
    sg_indptr, sg_targets, _ = _csr(
        table.source[safeguards].astype(np.int64), table.target[safeguards], n
    )
    projection = Projection(
        revision=revision,
        clearance=clearance,
        ids=entities.ids,
        index=entities.index,
        kinds=entities.kinds,
        names=entities.names,
        indptr=graph.indptr,
        targets=graph.targets,
        buffer_hours=np.asarray(graph.buffer_hours, dtype=np.float64),  # no copy when right
        strength=np.asarray(graph.strength, dtype=np.float64),
        group=np.asarray(graph.group, dtype=np.int32),
        group_size=np.asarray(graph.group_size, dtype=np.int32),
        group_key=graph.group_key,
        edge_kind=graph.edge_kind,
        safeguards_indptr=sg_indptr,
        safeguards=sg_targets,
        rel_source=table.source,
        rel_target=table.target,
        rel_type=table.type,
        rel_buffer=table.buffer_hours,
        rel_strength=table.strength,
        rel_group=table.group,
        group_names=group_names,
        assessments=assessments,
        position=position,
    )
    return freeze(projection)


def freeze(projection: Projection) -> Projection:
    """Make every array of `projection` read-only (shared by concurrent requests)."""
    for value in vars(projection).values():
        if isinstance(value, np.ndarray) and value.flags.writeable:
            value.flags.writeable = False  # never edited in place
    return projection


def build_projection(
    store: ReadableStore, clearance: Tlp, assessments: AssessmentRule = "all"
) -> Projection:
    """Read the store once into a `Projection` for `clearance` (hidden records stay out).

    The revision and the audit position are read first: if a write lands while reading, the
    next `ProjectionCache.get` sees a newer revision and applies that write again (applying
    it is idempotent), so an answer is never labelled newer than its data. Where institutes
    assessed the same dependency differently, `assessments` picks which counts (see
    keten.graph.assessments).
    """
    clearance = Tlp(clearance)
    revision = store.revision(clearance)
    position = audit_position(store)
    entity_rows, relation_rows = _rows(store, clearance)
    ids, kinds, names = _read_entities(entity_rows)
    index = {entity_id: i for i, entity_id in enumerate(ids)}
    group_codes: dict[str, int] = {}
    table = read_relations(choose_assessments(relation_rows, assessments), index, group_codes)
    del index
    entities = compact_entities(ids, kinds, names)
    del ids, kinds, names
    (table,), group_names, _ = sorted_group_names([table], list(group_codes))
    sort_canonically(table)
    graph = propagation_of(table, len(entities.ids), len(group_names))
    return project(revision, clearance, assessments, entities, table, group_names, position, graph)


def compact_entities(ids: list[str], kinds: Codes, names: Strings) -> Entities:
    """Entities (sorted by id) as the arrays a projection opened from its files holds
    (keten.graph.projection_strings) instead of a list and a dict of a million Python
    strings: reading the relations needs the dict; sorting them and saving the projection,
    which at 10M relations is where a store read afresh peaks, do not."""
    strings = Strings.of(ids)
    return Entities(strings, SortedIndex(strings), kinds, names)


def audit_position(store: Any) -> AuditPosition:
    """Where the store's audit trail ends now ((0, "") when the store offers no change log:
    a projection of it is then rebuilt after every write)."""
    head = getattr(store, "audit_head", None)
    if head is None:
        return AuditPosition(0, "")
    seq, at = head()
    return AuditPosition(int(seq), str(at))


BEFORE_REFRESH: list[Callable[[], None]] = []
"""Called before a projection is brought forward or read afresh: analyses that keep arrays
derived from a projection (keten.queries.bitsets) let them go here, so that a write's new
columns are not made while another clearance's derived arrays still take memory."""

_CACHES: weakref.WeakSet[ProjectionCache] = weakref.WeakSet()
"""Every live `ProjectionCache` of the process (a server has one), for `make_room`."""


def make_room(but: Projection | None = None) -> None:
    """Before hundreds of MB are made at national scale (a projection brought forward or
    read afresh, the search arrays of a propagation laid out), every kept projection's
    mapped pages leave the process's resident memory and the spare workspaces of those
    other than `but` go (`ProjectionCache.make_room`). Without it, at 1M entities / 10M
    relations, the pages a cascade of the other clearance had read (263 MB) and its
    workspaces stayed resident beside the new arrays, which set the server's peak."""
    for cache in list(_CACHES):
        cache.make_room(but)


SAVE_DELAY = 2.0
"""Seconds a server waits before saving an updated projection (see `ProjectionCache`)."""


class ProjectionCache:
    """One projection per clearance and assessment rule, kept up to date with the store.

    When the revision moved, the projection is brought forward by the changes since it
    (keten.graph.projection_delta) and only read afresh when those cannot be followed. With
    a `directory`, each revision is also saved there (keten.graph.projection_files) and a new
    process starts from the newest saved one: a server start or a CLI command then maps
    arrays instead of reading the whole store. `builds`, `updates` and `opened` count the
    three ways a projection came.

    Thread-safe: concurrent requests for a stale clearance wait for a single refresh, and a
    request for another clearance is not blocked by it.
    """

    def __init__(
        self, store: ReadableStore, directory: Path | None = None, background: bool = False
    ) -> None:
        from keten.graph.projection_delta import has_change_log
        from keten.graph.projection_files import ProjectionFiles, store_key

        self.store = store
        key = store_key(store) if directory is not None and has_change_log(store) else None
        self.files = ProjectionFiles(directory, key) if directory and key else None
        self._projections: dict[tuple[Tlp, AssessmentRule], Projection] = {}
        self._locks: dict[Tlp, threading.Lock] = {level: threading.Lock() for level in Tlp}
        self.background = background
        """Save updated projections in a thread of their own (a server: the answer need not
        wait for the files); a projection read afresh is always saved before it is used,
        so that its memory can go."""
        self.builds = 0
        self.updates = 0
        self.opened = 0
        self.saved = 0
        _CACHES.add(self)

    def get(self, clearance: Tlp, assessments: AssessmentRule = "all") -> Projection:
        """The projection of the current revision for `clearance` and assessment rule."""
        clearance = Tlp(clearance)
        key = (clearance, assessments)
        current = self._projections.get(key)
        if current is not None and current.revision == self.store.revision(clearance):
            return current
        with self._locks[clearance]:
            old = self._projections.get(key)
            current = old
            if current is None or current.revision != self.store.revision(clearance):
                if old is not None:
                    old.workspaces.clear()  # before the next revision's arrays are made
                for hook in BEFORE_REFRESH:
                    hook()
                make_room()
                current = self._refresh(current, clearance, assessments)
                self._replace(key, old, current)
            return current

    def make_room(self, but: Projection | None = None) -> None:
        """Let the pages of every kept projection's mapped arrays leave the process's
        resident memory (`let_go`), and drop the spare search workspaces of those other
        than `but`: they stay in the file cache, and the next request that reads them maps
        them again from there (a cascade at 1M entities reads 263 MB of them), while a
        workspace is made again in milliseconds. See `make_room` for when."""
        for projection in list(self._projections.values()):
            if projection is not but:
                projection.workspaces.clear()
            for value in vars(projection).values():
                parts = vars(value).values() if isinstance(value, Strings | Codes) else [value]
                for part in parts:
                    if isinstance(part, np.ndarray):
                        let_go(part)

    def _replace(
        self, key: tuple[Tlp, AssessmentRule], old: Projection | None, new: Projection
    ) -> None:
        """Serve `new` for `key`. The spare workspaces of `old` go with it: a workspace and
        its projection point at each other, so without this the old arrays (hundreds of MB
        at national scale) would wait for the garbage collector instead of going now."""
        self._projections[key] = new
        if old is not None and old is not new:
            old.workspaces.clear()

    def open_kept(self) -> int:
        """Open every projection kept beside the store (their arrays mapped, nothing read
        from the store), so that the first request of each clearance finds it open; a
        server does this before it accepts requests. Returns how many it opened."""
        if self.files is None:
            return 0
        count = 0
        for clearance, rule in self.files.kept():
            with self._locks[clearance]:
                if (clearance, rule) in self._projections:
                    continue
                opened = self.files.newest(clearance, rule)
                if opened is not None:
                    self._projections[(clearance, rule)] = opened
                    self.opened += 1
                    count += 1
        return count

    def _refresh(
        self, current: Projection | None, clearance: Tlp, assessments: AssessmentRule
    ) -> Projection:
        from keten.graph.projection_delta import update_projection

        if current is None and self.files is not None:
            current = self.files.newest(clearance, assessments)
            if current is not None:
                self.opened += 1
        if current is not None:
            updated = update_projection(self.store, current)
            if updated is not None:
                if updated.position == current.position:
                    return updated  # nothing this clearance sees changed since it
                self.updates += 1
                if self.background:
                    self._save_later((clearance, assessments), updated)
                    return updated
                return self._saved(updated)
        built = build_projection(self.store, clearance, assessments)
        self.builds += 1
        return self._saved(built)

    def _save_later(self, key: tuple[Tlp, AssessmentRule], projection: Projection) -> None:
        """Save `projection` in a thread, then serve the mapped copy if it is still current.

        Under a stream of writes only the newest revision is written: a save finds its
        projection already replaced and leaves it, so the disk and the GIL are not spent on
        revisions no reader will ask for again.
        """
        if self.files is None or projection.position.seq <= 0:
            return

        def save() -> None:
            with self._locks[key[0]]:
                if self._projections.get(key) is not projection:
                    return  # a newer revision came meanwhile; its own save keeps that one
            try:
                mapped = self._saved(projection)
            except OSError as exc:
                log.warning("could not keep the projection beside the store: %s", exc)
                return
            with self._locks[key[0]]:
                if self._projections.get(key) is projection:
                    self._replace(key, projection, mapped)

        # a moment later: the answer that asked for this projection goes first
        later = threading.Timer(SAVE_DELAY, save)
        later.name, later.daemon = "keten-projection-save", True
        later.start()

    def _saved(self, projection: Projection) -> Projection:
        """`projection`, written beside the store (its arrays then mapped from the files)."""
        if self.files is None or projection.position.seq <= 0:
            return projection
        self.saved += 1
        return self.files.save(projection)
