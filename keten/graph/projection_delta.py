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

from keten.graph.assessments import choose_assessments
from keten.graph.projection import (
    AuditPosition,
    Entities,
    Projection,
    RelationTable,
    assemble,
    read_relations,
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
    table = _untouched_relations(base, touched, remap)
    group_names = list(base.group_names)
    codes = {name: code for code, name in enumerate(group_names)}
    rows = choose_assessments(store.relations_touching(touched, base.clearance), base.assessments)
    fresh = read_relations(rows, entities.index, codes)
    group_names.extend(list(codes)[len(group_names) :])
    combined = RelationTable.concat([table, fresh])
    return assemble(
        revision, base.clearance, base.assessments, entities, combined, group_names, position
    )


def _entities(
    store: Any, base: Projection, touched: set[str]
) -> tuple[Entities, np.ndarray | None]:
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
    kept = [i for i in base.ids if i not in removed] if removed else list(base.ids)
    ids = kept
    for entity_id in added:
        bisect.insort(ids, entity_id)
    new_index = {entity_id: i for i, entity_id in enumerate(ids)}
    old_names = base.names
    kinds_of = {i: row.kind for i, row in fresh.items() if row is not None}
    names_of = {i: row.name for i, row in fresh.items() if row is not None}
    kinds = [kinds_of[i] if i in kinds_of else base.kinds[index[i]] for i in ids]
    names = [names_of[i] if i in names_of else old_names[index[i]] for i in ids]
    remap = np.fromiter((new_index.get(i, -1) for i in base.ids), dtype=np.int32)
    return Entities(ids, new_index, kinds, names), remap


def _untouched_relations(
    base: Projection, touched: set[str], remap: np.ndarray | None
) -> RelationTable:
    """The relations of `base` that touch none of the `touched` ids, on the new indices."""
    hit = np.zeros(base.node_count, dtype=np.bool_)
    hit[[base.index[i] for i in touched if i in base.index]] = True
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
        table.source = remap[table.source]
        table.target = remap[table.target]
    return table
