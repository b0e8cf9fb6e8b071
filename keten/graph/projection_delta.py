"""The next revision's projection from the last one and what a small write changed.

Reading the whole store again after every write took a minute at national scale. A store
with a change log (`audit_head`, `changes_since`, `relations_touching`: both keten stores)
says which records the audit entries after a projection's position name; the projection is
then brought up to date by reading again only those entities and the relations touching
them:

* an entity named is read again (it may be new, renamed, hidden now, or gone);
* every relation with an end among the named ids is dropped and those the clearance sees
  now are read again, so a relation written, deleted, re-marked, or one whose end appeared
  or vanished, comes out as the store has it; one assessment group (source, type, target)
  shares its ends, so the `most_reliable` rule sees all of it again too;
* nothing else changed, since the audit trail names every record a write changes.

Reading again is idempotent, so a write that lands while this runs is simply applied again
by the next update. The result is `assemble`d like a fresh build, and equals one
(tests/graph/test_projection_delta.py). A write too big to log record by record (a bulk
entry), a trail that does not continue the projection's position (another store), or more
than `MAX_ENTRIES` entries, answer None: the caller reads the whole store instead.
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt

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
from keten.graph.store import EntityRow

MAX_ENTRIES = 5_000
"""Audit entries past which reading the whole store is as good as following them."""
MAX_TOUCHED_SHARE = 0.05
"""Share of the entities past which the same holds."""


def has_change_log(store: Any) -> bool:
    """True when `store` can say what changed after an audit position."""
    return all(
        hasattr(store, name) for name in ("audit_head", "changes_since", "relations_touching")
    )


def update_projection(store: Any, base: Projection) -> Projection | None:
    """`base` brought up to the store's current revision, or None when the changes since it
    cannot be followed (see the module docstring)."""
    if not has_change_log(store):
        return None
    revision = store.revision(base.clearance)
    found = store.changes_since(base.position.seq, base.position.at, MAX_ENTRIES)
    if found is None:
        return None
    seq, at, touched = found
    position = AuditPosition(seq, at)
    if not touched:
        return dataclasses.replace(base, revision=revision, position=position, workspaces=[])
    if len(touched) > max(100, MAX_TOUCHED_SHARE * base.node_count):
        return None
    entities, remap = _entities(store, base, touched)
    hit = np.zeros(base.node_count, dtype=np.bool_)
    hit[[base.index[i] for i in touched if i in base.index]] = True
    codes = {name: code for code, name in enumerate(base.group_names)}
    rows = choose_assessments(store.relations_touching(touched, base.clearance), base.assessments)
    fresh = read_relations(rows, entities.index, codes)
    kept = _untouched_relations(base, hit, remap)
    (kept, fresh), names, recode = sorted_group_names([kept, fresh], list(codes))
    n = len(entities.ids)
    table = merge_sorted(kept, fresh, n)
    graph = _advanced_propagation(base, hit, remap, fresh, n, len(names), recode)
    return project(
        revision, base.clearance, base.assessments, entities, table, names, position, graph
    )


def _entities(store: Any, base: Projection, touched: set[str]) -> tuple[Entities, IntArray | None]:
    """The entities after the change, and old index -> new index when the set changed
    (None when only names or kinds did, or nothing)."""
    fresh: dict[str, EntityRow | None] = {
        entity_id: store.get_entity(entity_id, base.clearance) for entity_id in touched
    }
    index = base.index
    removed = {i for i, row in fresh.items() if row is None and i in index}
    added = sorted(i for i, row in fresh.items() if row is not None and i not in index)
    renamed = {
        i: row
        for i, row in fresh.items()
        if row is not None
        and i in index
        and (row.kind, row.name) != (base.kinds[index[i]], base.names[index[i]])
    }
    if not removed and not added:
        if not renamed:
            return Entities(base.ids, index, base.kinds, base.names), None
        kinds, names = list(base.kinds), list(base.names)
        for entity_id, row in renamed.items():
            kinds[index[entity_id]] = row.kind
            names[index[entity_id]] = row.name
        return Entities(base.ids, index, kinds, names), None
    names = list(base.names)  # one bulk decode when they are mapped, not one each
    ids, kinds = list(base.ids), list(base.kinds)
    for entity_id, row in renamed.items():
        kinds[index[entity_id]] = row.kind
        names[index[entity_id]] = row.name
    gone = sorted((index[i] for i in removed), reverse=True)
    for position in gone:
        del ids[position], kinds[position], names[position]
    for entity_id in added:
        place = bisect.bisect_left(ids, entity_id)
        row = fresh[entity_id]
        assert row is not None
        ids.insert(place, entity_id)
        kinds.insert(place, row.kind)
        names.insert(place, row.name)
    new_index = dict(zip(ids, range(len(ids)), strict=True))
    remap = _remap(base, removed, added)
    return Entities(ids, new_index, kinds, names), remap


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


def _untouched_relations(
    base: Projection, hit: npt.NDArray[np.bool_], remap: IntArray | None
) -> RelationTable:
    """The relations of `base` with no end among the `hit` entities, on the new indices."""
    keep = ~(hit[base.rel_source] | hit[base.rel_target])
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
    hit: npt.NDArray[np.bool_],
    remap: IntArray | None,
    fresh: RelationTable,
    n: int,
    names: int,
    recode: IntArray,
) -> Propagation:
    """The propagation graph of `base` without the edges touching `hit` entities, with the
    `fresh` relations' edges put in their places, and the groups numbered again: what
    `propagation_of` would make of the whole table, without sorting the kept edges again.
    No fresh edge joins a pair of entities that a kept edge joins (one of its ends was hit),
    so places are found by (tail, head) alone."""
    tails = np.repeat(np.arange(base.node_count, dtype=np.int64), np.diff(base.indptr))
    heads = base.targets.astype(np.int64)
    keep = ~(hit[tails] | hit[heads])
    tails, heads = tails[keep], heads[keep]
    if remap is not None:
        tails, heads = remap[tails].astype(np.int64), remap[heads].astype(np.int64)
    old_group = base.group[keep]
    # the key of every old group, in the new numbering of entities and names
    width = max(len(base.group_names), 1)
    dependent, code = np.divmod(base.group_key, width)
    if remap is not None:
        dependent = remap[dependent].astype(np.int64)
    old_keys = dependent * max(names, 1) + recode[code]
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
