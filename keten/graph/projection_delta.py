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
    IntArray,
    Projection,
    Propagation,
    RelationTable,
    indptr_of,
    merge_sorted,
    project,
    read_relations,
    sorted_group_names,
)
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
    dropped = _dropped(base, changes, removed)
    codes = {name: code for code, name in enumerate(base.group_names)}
    rows = choose_assessments(_fresh_rows(store, changes, base.clearance), base.assessments)
    fresh = read_relations(rows, entities.index, codes)
    kept = _kept_relations(base, dropped, remap)
    (kept, fresh), names, recode = sorted_group_names([kept, fresh], list(codes))
    n = len(entities.ids)
    table = merge_sorted(kept, fresh, n)
    graph = _advanced_propagation(base, dropped, remap, fresh, n, len(names), recode)
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


@dataclass(frozen=True, slots=True)
class Dropped:
    """What of the old projection is read again: every relation touching `entities`
    (marked), and those between the `pairs` (as pair keys on old indices)."""

    entities: npt.NDArray[np.bool_]
    pair_keys: npt.NDArray[np.int64]

    def among(self, a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
        """Which of the pairs (a, b) (old indices) are dropped."""
        a64, b64 = a.astype(np.int64), b.astype(np.int64)
        n = self.entities.shape[0]
        key = np.minimum(a64, b64) * n + np.maximum(a64, b64)
        return self.entities[a] | self.entities[b] | np.isin(key, self.pair_keys)


def _dropped(base: Projection, changes: Changes, removed: set[str]) -> Dropped:
    index, n = base.index, base.node_count
    marked = np.zeros(n, dtype=np.bool_)
    marked[[index[i] for i in changes.relinked | removed if i in index]] = True
    keys = [
        min(index[a], index[b]) * n + max(index[a], index[b])
        for a, b in changes.pairs
        if a in index and b in index
    ]
    return Dropped(marked, np.array(sorted(keys), dtype=np.int64))


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


def _kept_relations(base: Projection, dropped: Dropped, remap: IntArray | None) -> RelationTable:
    """The relations of `base` not read again, on the new indices."""
    keep = ~dropped.among(base.rel_source, base.rel_target)
    table = RelationTable(
        base.rel_source[keep],
        base.rel_target[keep],
        base.rel_type[keep],
        base.rel_buffer[keep],
        base.rel_strength[keep],
        base.rel_group[keep],
    )
    if remap is not None:
        table.source = remap[table.source].astype(np.int32)
        table.target = remap[table.target].astype(np.int32)
    return table


def _advanced_propagation(
    base: Projection,
    dropped: Dropped,
    remap: IntArray | None,
    fresh: RelationTable,
    n: int,
    names: int,
    recode: IntArray,
) -> Propagation:
    """The propagation graph of `base` without the `dropped` edges, with the `fresh`
    relations' edges put in their places, and the groups numbered again: what
    `propagation_of` would make of the whole table, without sorting the kept edges again.
    No fresh edge joins a pair of entities that a kept edge joins (all relations of a pair
    or of an entity are read again together), so places are found by (tail, head) alone."""
    tails = np.repeat(np.arange(base.node_count, dtype=np.int64), np.diff(base.indptr))
    heads = base.targets.astype(np.int64)
    keep = ~dropped.among(tails, heads)
    tails, heads = tails[keep], heads[keep]
    if remap is not None:
        tails, heads = remap[tails].astype(np.int64), remap[heads].astype(np.int64)
    old_group = base.group[keep]
    # the key of every old group, in the new numbering of entities and names
    width = max(len(base.group_names), 1)
    dependent, code = np.divmod(base.group_key, width)
    if remap is not None:
        dependent = remap[dependent].astype(np.int64)
    old_keys = (dependent * max(names, 1) + recode[code]).astype(np.int64)
    still = np.bincount(old_group[old_group >= 0], minlength=old_keys.shape[0]) > 0
    edges = Edges.of(fresh, names).sorted(n)
    group_key = _with_keys(old_keys[still], edges.key[edges.key >= 0])
    renumbered = np.append(np.searchsorted(group_key, old_keys), -1)  # -1 stays -1
    kept_group = renumbered[old_group]
    fresh_group = np.where(edges.key >= 0, np.searchsorted(group_key, edges.key), -1)
    places = np.searchsorted(tails * n + heads, edges.tails * n + edges.heads)
    merged_tails = np.insert(tails, places, edges.tails)
    group = np.insert(kept_group, places, fresh_group).astype(np.int32)
    return Propagation(
        indptr=indptr_of(merged_tails, n),
        targets=np.insert(heads, places, edges.heads).astype(np.int32),
        buffer_hours=np.insert(base.buffer_hours[keep], places, edges.buffer_hours),
        strength=np.insert(base.strength[keep], places, edges.strength),
        group=group,
        edge_kind=np.insert(base.edge_kind[keep], places, edges.kind),
        group_size=np.bincount(group[group >= 0], minlength=group_key.shape[0]).astype(np.int32),
        group_key=group_key.astype(np.int64),
    )
