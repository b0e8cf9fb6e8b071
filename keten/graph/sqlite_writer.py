"""`SqliteWriter`: one write transaction of the SQLite store.

Rows become statement parameters by pure functions (`entity_params`, `relation_params`), so
the loading pipeline can make them in its checker process. A batch is first tried as plain
inserts: a batch of new records (every record of a first load) costs one `executemany` and
nothing else. The first row whose identity is already there stops it with a UNIQUE error,
which SQLite raises before that row writes anything; the rows before it are new and stay,
and the rest of the batch goes the exact way: the stored rows are read and merged by
`keten.graph.merge`, and only what changed is written, with its audit entries. (That is
what the same rows in two batches would do; a savepoint around each batch did the same but
copied every page the batch touched into its journal, which cost as much as the inserts.)
Writes of up to `AUDIT_EACH_UP_TO` records always go the exact way, so that each gets its
audit entry.

Every write keeps count of what it made visible to whom: `least_level` is the lowest
clearance that can see a change (its revision counters move), and bulk audit counts are
kept per level (see `keten.graph.history`).

A restore keeps the times its rows bring, which may lie ahead of the store's clock (an
export from a server whose clock ran ahead); it moves the clock up to the latest of them,
so that every later write is stamped after every time already stored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from keten.graph.history import AuditContext, record_change
from keten.graph.merge import merge_entities, merge_relations
from keten.graph.rows import (
    LEVELS,
    MARKINGS,
    audit_level,
    dump_props,
    search_text,
)
from keten.graph.store import (
    KEEP,
    Change,
    EntityRow,
    Ref,
    RelationRow,
    WriteMode,
)
from keten.graph.write_book import ENTITY, RELATION, WriteBook

ENTITY_COLUMNS = "id, kind, name, marking, props, created_at, updated_at"
RELATION_COLUMNS = "source, type, target, key, marking, props, created_at, updated_at"

INSERT_ENTITY_NEW = """
INSERT INTO entities (id, kind, name, marking, props, search, created_at, updated_at)
VALUES (?1, ?2, ?3, max(?4, 0), ?5, ?6, ?7, ?7)
"""
"""The fast path: new entities get the transaction's stamp (?7). It takes the first
`NEW_PARAMS` parameters and the stamp only: binding the others too (times a new row does not
use, the audit level) cost about a quarter of the insert time (`None` binds slowly)."""
INSERT_ENTITY_RESTORED = """
INSERT INTO entities (id, kind, name, marking, props, search, created_at, updated_at)
VALUES (?1, ?2, ?3, max(?4, 0), ?5, ?6, coalesce(?8, ?9, ?11), coalesce(?9, ?11))
"""
INSERT_RELATION_NEW = """
INSERT INTO relations (source, type, target, key, marking, props, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, max(?5, 0), ?6, ?7, ?7)
"""
NEW_PARAMS = 6
"""Parameters of a row the fast-path inserts take before the stamp."""
INSERT_RELATION_RESTORED = """
INSERT INTO relations (source, type, target, key, marking, props, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, max(?5, 0), ?6, coalesce(?8, ?9, ?11), coalesce(?9, ?11))
"""
PUT_ENTITY = """
INSERT INTO entities (id, kind, name, marking, props, search, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (id) DO UPDATE SET kind = ?2, name = ?3, marking = ?4, props = ?5, search = ?6,
    created_at = ?7, updated_at = ?8
"""
"""The exact path: write a merged row as it is (its times were set by the merge)."""
PUT_RELATION = """
INSERT INTO relations (source, type, target, key, marking, props, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (source, type, target, key) DO UPDATE SET marking = ?5, props = ?6,
    created_at = ?7, updated_at = ?8
"""
RELATION_VISIBLE = """
    r.marking <= :level
    AND (SELECT marking FROM entities WHERE id = r.source) <= :level
    AND (SELECT marking FROM entities WHERE id = r.target) <= :level
"""
"""A relation is visible when it and both its ends are at or below the clearance level."""
RELATION_TARGET_INDEX = "CREATE INDEX IF NOT EXISTS relations_target ON relations (target, type)"
DEFER_INDEX_BELOW = 100_000
"""A bulk load rebuilds the target index at the end when the table held fewer relations."""
AUDIT_LEVEL = -1
"""Position of the audit level in a parameter tuple (the last)."""
TIMES = 7
"""Position of `created_at` in a parameter tuple (`updated_at` follows)."""


def split_props(props: dict[str, Any]) -> tuple[str, str | None]:
    """A row's properties as (canonical JSON of those it sets, JSON list of those it removes,
    or None when it removes none).

    The JSON is written first: without a `null` in it no property is None, which one search
    of a short text tells faster than comparing every value with None.
    """
    text = dump_props(props)
    if "null" not in text or None not in props.values():
        return text, None
    removed = sorted(k for k, v in props.items() if v is None)
    return dump_props({k: v for k, v in props.items() if v is not None}), orjson.dumps(
        removed
    ).decode()


LEVEL_PARAMS = {**LEVELS, KEEP: -1}
"""A marking as a parameter: its level, or -1 for KEEP."""


def entity_params(rows: list[EntityRow]) -> list[tuple[Any, ...]]:
    """Parameters of entity rows: pure, so the loading pipeline can run it elsewhere.

    (id, kind, name, level, props, search, removed, created_at, updated_at, audit level).
    """
    params = []
    for r in rows:
        level = LEVEL_PARAMS[r.marking]
        props, removed = split_props(r.props)
        search = search_text(r.name, r.props)
        params.append(
            (r.id, r.kind, r.name, level, props, search, removed, r.created_at, r.updated_at,
             max(level, 0))
        )  # fmt: skip
    return params


def relation_params(rows: list[RelationRow]) -> list[tuple[Any, ...]]:
    """Parameters of relation rows; a pure function like `entity_params`.

    (source, type, target, key, level, props, removed, created_at, updated_at, audit level).
    """
    params = []
    for r in rows:
        level = LEVEL_PARAMS[r.marking]
        props, removed = split_props(r.props)
        ref = (r.source, r.type, r.target, r.key)
        audit = relation_audit_level(ref, level)
        params.append((*ref, level, props, removed, r.created_at, r.updated_at, audit))
    return params


def quick_relation_values(rows: list[RelationRow], stamp: str) -> list[tuple[Any, ...]]:
    """INSERT_RELATION_NEW values of rows: what `relation_params` gives them, the first
    `NEW_PARAMS`, and the stamp (made directly: a bulk load makes millions)."""
    return [
        (r.source, r.type, r.target, r.key, LEVEL_PARAMS[r.marking], split_props(r.props)[0],
         stamp)
        for r in rows
    ]  # fmt: skip


def relation_audit_level(ref: tuple[Any, ...], level: int) -> int:
    """The audit level of a relation whose identity `ref` begins with, of marking level
    `level` (-1, KEEP, counts as clear): its own, or that of an end in a namespace above
    it, which only an end naming a namespace can have (see `audit_level`)."""
    level = level if level > 0 else 0
    if "@" in ref[0] or "@" in ref[2]:  # an end in a namespace: it may raise the level
        return audit_level(ref[:4], level)
    return level


def with_nulls(props_json: str, removed: str | None) -> dict[str, Any]:
    """A row's properties again from its parameters, removals as None."""
    props: dict[str, Any] = orjson.loads(props_json)
    for name in orjson.loads(removed) if removed else ():
        props[name] = None
    return props


def marking_param(level: int) -> str:
    """A level parameter as a marking again (KEEP for -1)."""
    return KEEP if level < 0 else MARKINGS[level]


def entity_of_params(p: tuple[Any, ...]) -> EntityRow:
    """The row an `entity_params` tuple was made from."""
    return EntityRow(p[0], p[1], p[2], marking_param(p[3]), with_nulls(p[4], p[6]), p[7], p[8])


def relation_of_params(p: tuple[Any, ...]) -> RelationRow:
    """The row a `relation_params` tuple was made from."""
    return RelationRow(
        p[0], p[1], p[2], p[3], marking_param(p[4]), with_nulls(p[5], p[6]), p[7], p[8]
    )


def put_entity_params(row: EntityRow) -> tuple[Any, ...]:
    """PUT_ENTITY parameters of a merged row."""
    props = dump_props(row.props)
    search = search_text(row.name, row.props)
    level = LEVELS[row.marking]
    return (row.id, row.kind, row.name, level, props, search, row.created_at, row.updated_at)


def put_relation_params(row: RelationRow) -> tuple[Any, ...]:
    """PUT_RELATION parameters of a merged row."""
    return (
        *row.ref,
        LEVELS[row.marking],
        dump_props(row.props),
        row.created_at,
        row.updated_at,
    )


def entity_from_row(row: tuple[Any, ...]) -> EntityRow:
    """Map a SELECT of ENTITY_COLUMNS to an EntityRow."""
    id_, kind, name, marking, props, created, updated = row
    return EntityRow(id_, kind, name, MARKINGS[marking], orjson.loads(props), created, updated)


def relation_from_row(row: tuple[Any, ...]) -> RelationRow:
    """Map a SELECT of RELATION_COLUMNS to a RelationRow."""
    source, type_, target, key, marking, props, created, updated = row
    return RelationRow(
        source, type_, target, key, MARKINGS[marking], orjson.loads(props), created, updated
    )


def json_list(values: Iterable[Any]) -> str:
    """A list as a JSON text, for `json_each` (one parameter however many values)."""
    return orjson.dumps(list(values)).decode()


class SqliteWriter(WriteBook):
    """The open transaction of `SqliteStore.writer()`."""

    prepare = (entity_params, relation_params)
    """Pure functions from rows to `write_*_params` input, for `keten.ingest.pipeline`."""

    def __init__(
        self, conn: sqlite3.Connection, context: AuditContext, mode: WriteMode, stamp: str
    ) -> None:
        super().__init__(mode)
        self.conn = conn
        self.context = context
        self.stamp = stamp
        self.index_deferred = False

    # -- writing ---------------------------------------------------------------------------

    def upsert_entities(self, rows: list[EntityRow]) -> None:
        """Merge entities into the store (see `keten.graph.merge`)."""
        self.write_entity_params(entity_params(rows))

    def upsert_relations(self, rows: list[RelationRow]) -> None:
        """Merge relations into the store. A bulk batch goes the quick way straight from its
        rows (`quick_relation_values`); only the rows from a stored identity on are turned
        into the parameters of the exact way."""
        if self.mode is WriteMode.RESTORE or not self.bulk_with(len(rows)):
            self.write_relation_params(relation_params(rows))
            return
        self.note_written(len(rows))
        values = quick_relation_values(rows, self.stamp)
        new = self._execute_new(INSERT_RELATION_NEW, values)
        if new:
            created = values[:new]
            levels = [relation_audit_level(v, v[4]) for v in created]
            self._created_new(RELATION, created, restore=False, levels=levels)
        if new < len(rows):
            self._merge_relations([relation_of_params(p) for p in relation_params(rows[new:])])

    def write_entity_params(self, params: list[tuple[Any, ...]]) -> None:
        """Write entities already turned into parameters by `entity_params`."""
        self.note_times(t for p in params for t in (p[TIMES], p[TIMES + 1]))
        new = self._insert_new(ENTITY, params) if params else 0
        if new < len(params):
            self._merge_entities([entity_of_params(p) for p in params[new:]])

    def write_relation_params(self, params: list[tuple[Any, ...]]) -> None:
        """Write relations already turned into parameters by `relation_params`."""
        self.note_times(t for p in params for t in (p[TIMES], p[TIMES + 1]))
        new = self._insert_new(RELATION, params) if params else 0
        if new < len(params):
            self._merge_relations([relation_of_params(p) for p in params[new:]])

    def _insert_new(self, side: int, params: list[tuple[Any, ...]]) -> int:
        """Insert a batch's rows in one go up to the first whose identity is stored; how
        many were inserted (0 when the batch must go the exact way from its start)."""
        self.note_written(len(params))
        if not self.bulk:
            return 0
        restore = self.mode is WriteMode.RESTORE
        if side == ENTITY:
            insert = INSERT_ENTITY_RESTORED if restore else INSERT_ENTITY_NEW
        else:
            insert = INSERT_RELATION_RESTORED if restore else INSERT_RELATION_NEW
        stamp = (self.stamp,)
        if restore:  # the restored times are parameters 8 and 9
            values = [p + stamp for p in params]
        else:
            values = [p[:NEW_PARAMS] + stamp for p in params]
        params = params[: self._execute_new(insert, values)]
        if not params:
            return 0
        self._created_new(side, params, restore)
        return len(params)

    def _execute_new(self, insert: str, values: list[tuple[Any, ...]]) -> int:
        """Run a quick-way insert; how many rows went in before the first whose identity is
        stored (SQLite stops at it before it writes anything)."""
        before = self.conn.total_changes
        try:
            self.conn.executemany(insert, values)
        except sqlite3.IntegrityError:  # a stored identity (or a bad row: the exact way says)
            return self.conn.total_changes - before
        return len(values)

    def _created_new(
        self,
        side: int,
        params: list[tuple[Any, ...]],
        restore: bool,
        levels: list[int] | None = None,
    ) -> None:
        """Count and audit rows inserted the quick way: `params` begin with the identity and
        the level (as `entity_params` and `relation_params` make them); `levels` are their
        audit levels where the tuples do not end with them."""
        self.add_created(side, len(params))
        if levels is None:
            levels = [p[AUDIT_LEVEL] for p in params]
        if side == ENTITY:
            self.audit_created(side, levels, lambda i: (params[i][0], None))
            if self.least_level > 0:
                self.seen_level(min(max(p[3], 0) for p in params))
        else:
            self.audit_created(side, levels, lambda i: (None, tuple(params[i][:4])))
            if self.least_level > 0:  # once clear readers see a change, nothing more to learn
                self.seen_relations([(p[:4], max(p[4], 0)) for p in params], self.levels_of)
        if restore:  # restored records keep their own times: remember them by identity
            self.seen.update(hash(p[0] if side == ENTITY else p[:4]) for p in params)

    def _merge_entities(self, rows: list[EntityRow]) -> None:
        """The exact way: read what is stored, merge, write what changed."""
        stored = self.stored_entities({r.id for r in rows})
        merged = merge_entities(rows, stored, self.mode, self.stamp, self.seen)
        self.conn.executemany(PUT_ENTITY, [put_entity_params(r) for r in merged.created])
        self.conn.executemany(PUT_ENTITY, [put_entity_params(a) for _, a, _ in merged.updated])
        self.tally(ENTITY, merged)
        for row in merged.created:
            self.seen_level(LEVELS[row.marking])
            self.audit(ENTITY, "create", row.id, None, None, LEVELS[row.marking])
        for before, after, fields in merged.updated:
            self.seen_level(min(LEVELS[before.marking], LEVELS[after.marking]))
            self.note_change(Change(after.id, None, fields))
            self.audit(ENTITY, "update", after.id, None, fields, LEVELS[after.marking])

    def _merge_relations(self, rows: list[RelationRow]) -> None:
        """The exact way for relations."""
        stored = self.stored_relations({r.ref for r in rows})
        merged = merge_relations(rows, stored, self.mode, self.stamp, self.seen)
        self.conn.executemany(PUT_RELATION, [put_relation_params(r) for r in merged.created])
        self.conn.executemany(PUT_RELATION, [put_relation_params(a) for _, a, _ in merged.updated])
        self.tally(RELATION, merged)
        seen: list[tuple[Ref, int]] = []
        for row in merged.created:
            seen.append((row.ref, LEVELS[row.marking]))
            level = audit_level(row.ref, LEVELS[row.marking])
            self.audit(RELATION, "create", None, row.ref, None, level)
        for before, after, fields in merged.updated:
            seen.append((after.ref, min(LEVELS[before.marking], LEVELS[after.marking])))
            self.note_change(Change(None, after.ref, fields))
            level = audit_level(after.ref, LEVELS[after.marking])
            self.audit(RELATION, "update", None, after.ref, fields, level)
        self.seen_relations(seen, self.levels_of)

    def _write_audit(self) -> None:
        """At the end: the audit entries `WriteBook.audit_entries` decides on."""
        entries, bulk = self.audit_entries()
        for e in entries:
            record_change(
                self.conn, self.context, e.action, e.entity, e.relation, e.detail, e.level,
                e.level_max,
            )  # fmt: skip
        if bulk is not None:
            action = f"bulk-{self.context.action}"
            record_change(self.conn, self.context, action, None, None, bulk.detail, bulk.level)

    # -- deleting ----------------------------------------------------------------------------

    def delete_entity(self, entity: EntityRow, relations: list[RelationRow]) -> None:
        """Delete an entity and the given relations (all that touch it), with audit entries.

        The relations are visible only where the entity is, so the entity's level is the
        least clearance that sees any part of this change.
        """
        refs = json_list(r.ref for r in relations)
        self.conn.execute(
            "DELETE FROM relations WHERE (source, type, target, key) IN (SELECT "
            "json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
            "json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each(?))",
            (refs,),
        )
        self.conn.execute("DELETE FROM entities WHERE id = ?", (entity.id,))
        for rel in relations:
            level = audit_level(rel.ref, LEVELS[rel.marking])
            self.audit(RELATION, "delete", None, rel.ref, None, level)
        level = LEVELS[entity.marking]
        self.audit(ENTITY, "delete", entity.id, None, None, level)
        self.seen_level(level)

    def delete_relation(self, relation: RelationRow, visible_from: int) -> None:
        """Delete one relation, visible from clearance level `visible_from` up."""
        self.conn.execute(
            "DELETE FROM relations WHERE source = ? AND type = ? AND target = ? AND key = ?",
            relation.ref,
        )
        level = audit_level(relation.ref, LEVELS[relation.marking])
        self.audit(RELATION, "delete", None, relation.ref, None, level)
        self.seen_level(visible_from)

    # -- reading inside the transaction ----------------------------------------------------

    def levels_of(self, ids: Iterable[str]) -> dict[str, int]:
        """Marking levels of the ids known to the store, as seen inside this transaction."""
        query = "SELECT id, marking FROM entities WHERE id IN (SELECT value FROM json_each(?))"
        return dict(self._chunked(query, list(ids)))

    def stored_shares(self, resources: list[str], clearance: int) -> list[RelationRow]:
        """Stored SOURCED_FROM relations of these resources that a reader of level
        `clearance` may see (it and both ends at or below it), in one query per 10,000."""
        query = (
            f"SELECT {RELATION_COLUMNS} FROM relations r WHERE r.type = 'SOURCED_FROM' "
            f"AND r.source IN (SELECT value FROM json_each(:ids)) AND {RELATION_VISIBLE}"
        )
        found = []
        for start in range(0, len(resources), 10_000):
            chunk = json_list(resources[start : start + 10_000])
            rows = self.conn.execute(query, {"ids": chunk, "level": clearance})
            found += [relation_from_row(r) for r in rows]
        return found

    def kinds_of(self, ids: Iterable[str]) -> dict[str, str]:
        """Kinds of the ids known to the store, as seen inside this transaction."""
        query = "SELECT id, kind FROM entities WHERE id IN (SELECT value FROM json_each(?))"
        return dict(self._chunked(query, list(ids)))

    def stored_entities(self, ids: Iterable[str]) -> dict[str, EntityRow]:
        """Stored rows of these ids, as seen inside this transaction."""
        query = (
            f"SELECT {ENTITY_COLUMNS} FROM entities WHERE id IN (SELECT value FROM json_each(?))"
        )
        rows = (entity_from_row(r) for r in self._chunked(query, list(ids)))
        return {row.id: row for row in rows}

    def stored_relations(self, refs: Iterable[Ref]) -> dict[Ref, RelationRow]:
        """Stored rows of these relation identities, as seen inside this transaction."""
        query = (
            "SELECT r.source, r.type, r.target, r.key, r.marking, r.props, r.created_at, "
            "r.updated_at FROM relations r JOIN json_each(?) j "
            "ON r.source = json_extract(j.value, '$[0]') AND r.type = json_extract(j.value, "
            "'$[1]') AND r.target = json_extract(j.value, '$[2]') "
            "AND r.key = json_extract(j.value, '$[3]')"
        )
        rows = (relation_from_row(r) for r in self._chunked(query, list(refs)))
        return {row.ref: row for row in rows}

    def _chunked(self, query: str, values: list[Any]) -> Iterable[tuple[Any, ...]]:
        for start in range(0, len(values), 10_000):
            yield from self.conn.execute(query, (json_list(values[start : start + 10_000]),))

    # -- the end of the transaction --------------------------------------------------------

    def finish(self) -> None:
        """Before commit: rebuild a deferred index, note a bulk write in the audit trail,
        move the clock past the times a restore wrote."""
        if self.index_deferred:
            self.conn.execute(RELATION_TARGET_INDEX)
        self._write_audit()
        if self.latest > self.stamp:
            self.conn.execute("UPDATE clock SET stamp = ?", (self.latest,))

    def defer_indexes(self) -> None:
        """Before a bulk load into a small table: drop the target index, rebuilt at commit.

        One sorted index build is about a third cheaper than a million random index inserts;
        inside the transaction, so a refused or killed load keeps the index as it was.
        """
        size = self.conn.execute("SELECT count(*) FROM relations").fetchone()[0]
        if size < DEFER_INDEX_BELOW:
            self.conn.execute("DROP INDEX IF EXISTS relations_target")
            self.index_deferred = True
