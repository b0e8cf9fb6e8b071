"""The next revision's projection from the last one and what a small write changed.

Reading the whole store again after every write took a minute at national scale. A store
with a change log (`audit_head`, `audit_since`, `relations_touching`: both keten stores)
lists the audit entries after a projection's position, and the projection is brought up to
date by reading again only what they name:

* an entity named is read again (it may be new, renamed, hidden now, or gone); one whose
  marking changed may show or hide relations no entry names, so all its relations are read
  again too, and a gone one takes its relations along;
* for a relation named, every relation between its two ends (either way, any type) is
  dropped and those the clearance sees now are read again: one assessment group (source,
  type, target) lies within such a pair, so the `most_reliable` rule sees all of it again;
* nothing else changed: the audit trail names every record a write changes.

A hub with thousands of relations thus costs one pair, not its whole neighbourhood. Reading
again is idempotent, so a write that lands while this runs is applied again by the next
update. The arrays are edited without sorting them again (`merge_sorted`,
`_advanced_propagation`) and equal a fresh build (tests/graph/test_projection_delta.py). A
write too big to log record by record (a bulk entry), a trail that does not continue the
projection's position (another store), or more than `MAX_ENTRIES` entries, answer None: the
caller reads the whole store instead.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from keten.graph.assessments import choose_assessments
from keten.graph.projection import (
    AuditPosition,
    Edges,
    Entities,
    Int64Array,
    IntArray,
    Projection,
    Propagation,
    RelationTable,
    canonical,
    project,
    read_relations,
)
from keten.graph.projection_splice import Ranks, sorted_range, splice
from keten.graph.projection_strings import SortedIndex, edited, edited_codes
from keten.graph.store import EntityRow, RelationFilter, RelationRow, paged
from keten.schema.markings import Tlp

MAX_ENTRIES = 5_000
"""Audit entries past which reading the whole store is as good as following them."""
MAX_SHARE = 0.05
"""Entities and pairs named, as a share of the entities, past which the same holds."""


def has_change_log(store: Any) -> bool:
    """True when `store` can say what changed after an audit position."""
    return all(hasattr(store, name) for name in ("audit_head", "audit_since", "relations_touching"))


@dataclass(frozen=True, slots=True)
class Changes:
    """What the audit entries after a position name."""

    head: AuditPosition
    """The last entry read."""
    entities: frozenset[str]
    """Entities to read again."""
    relinked: frozenset[str]
    """Entities whose every relation is to be read again (their marking changed)."""
    pairs: frozenset[tuple[str, str]]
    """Pairs of entities (sorted) between which every relation is to be read again."""


def read_changes(store: Any, position: AuditPosition, limit: int) -> Changes | None:
    """The changes after `position`, or None when they cannot be followed: entry
    `position.seq` is not at `position.at` (another store, or a rewritten one), a bulk entry
    (counts, no record) follows, or more than `limit` entries do."""
    rows = store.audit_since(position.seq, limit + 2)
    moved_on = not rows or rows[0][0] != position.seq or rows[0][1] != position.at
    if position.seq > 0 and moved_on:
        return None
    if rows and rows[0][0] == position.seq:
        rows = rows[1:]
    if len(rows) > limit:
        return None
    entities: set[str] = set()
    relinked: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for _, _, action, entity, other, relation, detail in rows:
        if relation:
            pairs.add((min(relation[0], relation[2]), max(relation[0], relation[2])))
        elif entity is not None and other is None:
            entities.add(entity)
            fields = orjson.loads(detail).get("fields", []) if detail else []
            if action != "create" and (action != "update" or "marking" in fields):
                relinked.add(entity)
        else:
            return None  # a bulk entry: the records are not named
    head = AuditPosition(int(rows[-1][0]), str(rows[-1][1])) if rows else position
    return Changes(head, frozenset(entities), frozenset(relinked), frozenset(pairs))


def update_projection(store: Any, base: Projection) -> Projection | None:
    """`base` brought up to the store's current revision, or None when the changes since it
    cannot be followed (see the module docstring)."""
    if not has_change_log(store):
        return None
    revision = store.revision(base.clearance)
    changes = read_changes(store, base.position, MAX_ENTRIES)
    if changes is None:
        return None
    if not (changes.entities or changes.pairs):
        return dataclasses.replace(base, revision=revision, position=changes.head, workspaces=[])
    if len(changes.entities) + len(changes.pairs) > max(100, MAX_SHARE * base.node_count):
        return None
    entities, remap, removed = _entities(store, base, changes.entities)
    ranks = Ranks(remap, base.node_count, len(entities.ids))
    index = base.index
    marked = np.array(
        sorted(index[i] for i in changes.relinked | removed if i in index), dtype=np.int64
    )
    pairs = sorted((index[a], index[b]) for a, b in changes.pairs if a in index and b in index)
    drop_rows = _table_rows(base, marked, pairs)
    codes = {name: code for code, name in enumerate(base.group_names)}
    rows = choose_assessments(_fresh_rows(store, changes, base.clearance), base.assessments)
    fresh = read_relations(rows, entities.index, codes)
    names, recode = _group_names(base, drop_rows, fresh, list(codes))
    fresh = canonical(dataclasses.replace(fresh, group=recode[fresh.group]))
    table = _spliced_table(base, drop_rows, ranks, recode, fresh)
    graph = _spliced_propagation(base, _edge_rows(base, marked, pairs), ranks, fresh, names, recode)
    return project(
        revision, base.clearance, base.assessments, entities, table, names, changes.head, graph
    )


def _fresh_rows(store: Any, changes: Changes, clearance: Tlp) -> list[RelationRow]:
    """The visible relations of the relinked entities and between the pairs, once each."""
    rows = {r.ref: r for r in store.relations_touching(set(changes.relinked), clearance)}
    for a, b in changes.pairs:
        for source, target in ((a, b), (b, a)):
            flt = RelationFilter(source=source, target=target, clearance=clearance)
            found = paged(lambda cursor, f=flt: store.list_relations(f, cursor, 1000))  # type: ignore[misc]
            rows.update((r.ref, r) for r in found)
    return [rows[ref] for ref in sorted(rows)]


def _entities(
    store: Any, base: Projection, touched: frozenset[str]
) -> tuple[Entities, IntArray | None, set[str]]:
    """The entities after the change, old index -> new index when the set changed (None
    when only names or kinds did, or nothing), and the ids gone. Ids, names and kinds are
    edited as arrays (keten.graph.projection_strings): no Python loop over every entity."""
    fresh: dict[str, EntityRow | None] = {
        entity_id: store.get_entity(entity_id, base.clearance) for entity_id in touched
    }
    index = base.index
    removed = {i for i, row in fresh.items() if row is None and i in index}
    added = {i: row for i, row in fresh.items() if row is not None and i not in index}
    renamed = {
        i: row
        for i, row in fresh.items()
        if row is not None
        and i in index
        and (row.kind, row.name) != (base.kinds[index[i]], base.names[index[i]])
    }
    if not removed and not added and not renamed:
        return Entities(base.ids, index, base.kinds, base.names), None, removed
    gone = sorted(index[i] for i in removed | renamed.keys())  # renamed: out, then back in
    rows = added | renamed
    names = edited(base.names, gone, {i: row.name for i, row in rows.items()}, base.ids)
    kinds = edited_codes(base.kinds, gone, {i: row.kind for i, row in rows.items()}, base.ids)
    if not removed and not added:
        return Entities(base.ids, index, kinds, names), None, removed
    ids = edited(base.ids, sorted(index[i] for i in removed), {i: i for i in added})
    remap = _remap(base, removed, sorted(added))
    return Entities(ids, SortedIndex(ids), kinds, names), remap, removed


def _with_keys(keys: npt.NDArray[np.int64], more: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sorted distinct `keys` with the distinct `more` put in their places (no full sort)."""
    more = np.unique(more)
    places = np.searchsorted(keys, more)
    known = places < keys.shape[0]
    known[known] = keys[places[known]] == more[known]
    return np.insert(keys, places[~known], more[~known])


def _remap(base: Projection, removed: set[str], added: list[str]) -> IntArray:
    """Old index -> new index (-1 for the removed) when `removed` go and `added` come."""
    n = base.node_count
    dropped = np.zeros(n, dtype=np.bool_)
    dropped[[base.index[i] for i in removed]] = True
    inserted = np.sort([bisect.bisect_left(base.ids, i) for i in added]).astype(np.int64)
    before = np.arange(n, dtype=np.int64)
    shift = np.searchsorted(inserted, before, side="right") - (np.cumsum(dropped) - dropped)
    return np.where(dropped, -1, before + shift)


def _table_rows(base: Projection, marked: Int64Array, pairs: list[tuple[int, int]]) -> Int64Array:
    """Rows of the relation table read again: those between the `pairs` (found by binary
    search: the table is sorted by source, then target) and every row touching a `marked`
    entity (one pass over the targets, only when some entity was re-marked or removed)."""
    source, target = base.rel_source, base.rel_target
    parts = []
    for a, b in pairs:
        for x, y in ((a, b), (b, a)):
            lo, hi = sorted_range(source, x)
            lo, hi = sorted_range(target, y, lo, hi)
            parts.append(np.arange(lo, hi, dtype=np.int64))
    if marked.shape[0]:
        for u in marked.tolist():
            parts.append(np.arange(*sorted_range(source, u), dtype=np.int64))
        parts.append(np.flatnonzero(_mask(marked, base.node_count)[target]))
    return _positions(parts)


def _edge_rows(base: Projection, marked: Int64Array, pairs: list[tuple[int, int]]) -> Int64Array:
    """Edges of the propagation graph read again: those joining the `pairs` either way, and
    every edge from or to a `marked` entity."""
    indptr, targets = base.indptr, base.targets
    parts = []
    for a, b in pairs:
        for x, y in ((a, b), (b, a)):
            lo, hi = sorted_range(targets, y, int(indptr[x]), int(indptr[x + 1]))
            parts.append(np.arange(lo, hi, dtype=np.int64))
    if marked.shape[0]:
        for u in marked.tolist():
            parts.append(np.arange(int(indptr[u]), int(indptr[u + 1]), dtype=np.int64))
        parts.append(np.flatnonzero(_mask(marked, base.node_count)[targets]))
    return _positions(parts)


def _mask(marked: Int64Array, n: int) -> npt.NDArray[np.bool_]:
    mask = np.zeros(n, dtype=np.bool_)
    mask[marked] = True
    return mask


def _positions(parts: list[Int64Array]) -> Int64Array:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(parts)).astype(np.int64)


def _group_names(
    base: Projection, drop: Int64Array, fresh: RelationTable, names: list[str]
) -> tuple[list[str], IntArray]:
    """The redundancy group names still used, sorted, and old code -> new code (its last
    slot maps -1 to -1), as `sorted_group_names` makes them, without counting every row
    unless a row read again held a name (which may then be gone)."""
    old = len(base.group_names)
    used = np.zeros(len(names), dtype=np.bool_)
    used[:old] = True  # every name of a projection is used in it
    dropped = base.rel_group[drop]
    dropped = dropped[dropped >= 0]
    if dropped.shape[0]:
        groups = base.rel_group[base.rel_group >= 0]
        left = np.bincount(groups, minlength=old) - np.bincount(dropped, minlength=old)
        used[:old] = left > 0
    used[fresh.group[fresh.group >= 0]] = True
    codes = np.flatnonzero(used)
    order = sorted(range(codes.shape[0]), key=lambda i: names[codes[i]])
    recode = np.full(len(names) + 1, -1, dtype=np.int32)
    recode[codes[order]] = np.arange(len(order), dtype=np.int32)
    return [names[codes[i]] for i in order], recode


def _unchanged(recode: IntArray, count: int) -> bool:
    return bool(np.array_equal(recode[:count], np.arange(count)))


def _spliced_table(
    base: Projection, drop: Int64Array, ranks: Ranks, recode: IntArray, fresh: RelationTable
) -> RelationTable:
    """The relation table without the rows read again, with the `fresh` rows (sorted) in
    their places: what `canonical` would make of the whole, one copy per column."""
    places = np.array(
        [
            _table_place(base, ranks, s, t)
            for s, t in zip(fresh.source.tolist(), fresh.target.tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    places -= np.searchsorted(drop, places, side="left")
    group = base.rel_group
    if not _unchanged(recode, len(base.group_names)):
        group = recode[group]
    columns: tuple[npt.NDArray[Any], ...] = (
        base.rel_source,
        base.rel_target,
        base.rel_type,
        base.rel_buffer,
        base.rel_strength,
        group,
    )
    moves = (ranks.move, ranks.move, None, None, None, None)  # entity indices shift
    return RelationTable(
        *(
            splice(c, drop, places, f, m)
            for c, f, m in zip(columns, fresh.columns(), moves, strict=True)
        )
    )


def _table_place(base: Projection, ranks: Ranks, source: int, target: int) -> int:
    """Where a row from `source` to `target` (new indices) goes among the old rows."""
    old = ranks.old_of(source)
    if old < 0:
        return int(np.searchsorted(base.rel_source, ranks.floor(source), side="left"))
    lo, hi = sorted_range(base.rel_source, old)
    return lo + int(np.searchsorted(base.rel_target[lo:hi], ranks.floor(target), side="left"))


def _edge_place(base: Projection, ranks: Ranks, tail: int, head: int) -> int:
    """Where an edge from `tail` to `head` (new indices) goes among the old edges."""
    old = ranks.old_of(tail)
    if old < 0:
        return int(base.indptr[ranks.floor(tail)])
    lo, hi = int(base.indptr[old]), int(base.indptr[old + 1])
    return lo + int(np.searchsorted(base.targets[lo:hi], ranks.floor(head), side="left"))


def _spliced_propagation(
    base: Projection,
    drop: Int64Array,
    ranks: Ranks,
    fresh: RelationTable,
    names: list[str],
    recode: IntArray,
) -> Propagation:
    """The propagation graph of `base` without the edges read again, with the `fresh`
    relations' edges in their places and the groups numbered again: what `propagation_of`
    would make of the whole table, one copy per column. No fresh edge joins a pair that a
    kept edge joins (a pair's relations are read again together), so places are found by
    (tail, head) alone."""
    n = ranks.new_count
    edges = Edges.sorted_of(fresh, len(names), n)
    group_key, renumbered, sizes = _groups(base, drop, ranks, names, recode, edges.key)
    kept_group = base.group
    if not np.array_equal(renumbered, np.arange(base.group_size.shape[0])):
        kept_group = np.append(renumbered, -1).astype(np.int32)[base.group]
    fresh_group = np.where(edges.key >= 0, np.searchsorted(group_key, edges.key), -1)
    places = np.array(
        [
            _edge_place(base, ranks, t, h)
            for t, h in zip(edges.tails.tolist(), edges.heads.tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    places -= np.searchsorted(drop, places, side="left")
    group = splice(kept_group, drop, places, fresh_group).astype(np.int32, copy=False)
    np.add.at(sizes, fresh_group[fresh_group >= 0], 1)
    return Propagation(
        indptr=_indptr(base, drop, ranks, edges.tails),
        targets=splice(base.targets, drop, places, edges.heads, ranks.move),
        buffer_hours=splice(base.buffer_hours, drop, places, edges.buffer_hours),
        strength=splice(base.strength, drop, places, edges.strength),
        group=group,
        edge_kind=splice(base.edge_kind, drop, places, edges.kind),
        group_size=sizes.astype(np.int32),
        group_key=group_key.astype(np.int64),
    )


def _groups(
    base: Projection,
    drop: Int64Array,
    ranks: Ranks,
    names: list[str],
    recode: IntArray,
    fresh_keys: Int64Array,
) -> tuple[Int64Array, Int64Array, Int64Array]:
    """The group keys after the change, old group -> new group, and the new groups' sizes
    without the fresh edges. Keys keep their order (entity and name codes only shift), so a
    change that adds or drops no group numbers them as before."""
    width = max(len(base.group_names), 1)
    dependent, code = np.divmod(base.group_key, width)
    old_keys = (ranks.apply(dependent) * max(len(names), 1) + recode[code]).astype(np.int64)
    sizes = base.group_size.astype(np.int64)
    gone = base.group[drop]
    np.subtract.at(sizes, gone[gone >= 0], 1)
    still = sizes > 0
    group_key = _with_keys(old_keys[still], fresh_keys[fresh_keys >= 0])
    renumbered = np.searchsorted(group_key, old_keys).astype(np.int64)
    new_sizes = np.zeros(group_key.shape[0], dtype=np.int64)
    new_sizes[renumbered[still]] = sizes[still]
    return group_key, renumbered, new_sizes


def _indptr(base: Projection, drop: Int64Array, ranks: Ranks, tails: IntArray) -> Int64Array:
    """Row starts after the change: the old rows' counts less what was dropped, moved to the
    new indices, plus the fresh edges."""
    counts = np.diff(base.indptr)
    if drop.shape[0]:
        rows = np.searchsorted(base.indptr, drop, side="right") - 1
        counts = counts - np.bincount(rows, minlength=base.node_count)
    if ranks.remap is None:
        new = counts.astype(np.int64)
    else:
        new = np.zeros(ranks.new_count, dtype=np.int64)
        valid = ranks.remap >= 0
        new[ranks.remap[valid]] = counts[valid]
    np.add.at(new, tails, 1)
    indptr = np.zeros(ranks.new_count + 1, dtype=np.int64)
    np.cumsum(new, out=indptr[1:])
    return indptr
