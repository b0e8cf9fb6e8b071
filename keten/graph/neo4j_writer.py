"""`Neo4jWriter`: one write of the Neo4j store, with the same meaning as `SqliteWriter`.

A batch is merged the one way every store merges (`keten.graph.merge`): the stored rows of
its identities are read inside the transaction, merged, and only what changed is written.
New records are created at once; new images of stored records wait in pending nodes until
the write's last step applies them (keeping each before image as a version node for
`as_of`), together with the audit entries and the revision counters.

A write that grows past `TX_ROWS` records goes on in further transactions, so that a bulk
load of millions of records never needs one huge transaction, and still lands whole or not
at all: before its first transaction commits, it hides its records (`keten_load`, listed in
the meta node's `keten_hidden`, which every reader honours) and takes the write lease, which
keeps other writers waiting; its last transaction applies the pending images, un-hides the
load and gives the lease back. A load that fails removes what it staged; one whose process
was killed leaves it hidden, and the next writer removes it (see `clear_abandoned`).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from neo4j import ManagedTransaction, Session, Transaction
from neo4j.exceptions import TransientError

from keten.graph import cypher
from keten.graph.history import AuditContext
from keten.graph.merge import merge_entities, merge_relations
from keten.graph.neo4j_rows import (
    LOAD,
    entity_from_map,
    entity_map,
    entity_of_params,
    entity_params,
    relation_from_map,
    relation_map,
    relation_of_params,
    relation_params,
)
from keten.graph.rows import LEVELS, NOTHING, audit_level, next_stamp
from keten.graph.store import (
    Change,
    EntityRow,
    Ref,
    RelationRow,
    StoreUnavailableError,
    WriteMode,
)
from keten.graph.write_book import ENTITY, RELATION, WriteBook

TX_ROWS = 20_000
"""Records one transaction of a bulk write takes before the write goes on in the next."""
CHUNK = 10_000
"""Ids or rows per statement for lookups and marking."""
LEASE_MILLIS = 120_000
"""How long a bulk load's write lease lasts without renewal (each transaction renews it)."""
WRITE_WAIT = 60.0
"""Seconds a writer waits for a running bulk load before giving up (SQLite's busy timeout)."""


def process_owner() -> str:
    """Who holds a lease: host, process id and the process's start time (a reused pid on
    the same host is told apart by the start time)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def _start_ticks(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def lease_is_live(meta: Any) -> bool:
    """True while the write lease named in `meta` (`lease`, `expired`) belongs to a running
    bulk load."""
    lease = meta["lease"]
    return bool(lease) and not meta["expired"] and owner_alive(lease)


def owner_alive(owner: str) -> bool:
    """False when `owner` (`process_owner()` and a load id) is a process of this host that
    no longer runs; True otherwise (one on another host is trusted until its lease expires).

    >>> owner_alive(process_owner() + ":load"), owner_alive(socket.gethostname() + ":999999999:1:x")
    (True, False)
    """
    host, pid_text, ticks = [*owner.split(":"), "", ""][:3]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not ticks or _start_ticks(pid) in ("", ticks)


def chunks(values: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    """`values` in slices of at most `size`."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def clear_abandoned(session: Session, loads: list[str], owner: str | None) -> None:
    """Remove the stage of loads whose writer is gone, then forget them (and its lease).

    Auto-commit statements that delete in bounded transactions: however large the stage,
    no transaction grows with it; a cleaner that dies half-way leaves the rest hidden for
    the next one.
    """
    for load in loads:
        for statement in (
            cypher.DROP_PENDING_ENTITIES,
            cypher.DROP_PENDING_RELATIONS,
            cypher.DROP_STAGED_RELATIONS,
            cypher.DROP_STAGED_ENTITIES,
        ):
            session.run(statement, load=load).consume()
        session.execute_write(_release, load, owner)


def _release(tx: ManagedTransaction, load: str, owner: str | None) -> None:
    tx.run(cypher.RELEASE_LOAD, load=load, owner=owner).consume()


class Neo4jWriter(WriteBook):
    """The open write of `Neo4jStore.writer()`; see the module docstring."""

    prepare = (entity_params, relation_params)
    """Pure functions from rows to `write_*_params` input, for `keten.ingest.pipeline`."""

    def __init__(
        self, session: Session, context: AuditContext, mode: WriteMode, tx_rows: int = TX_ROWS
    ) -> None:
        super().__init__(mode)
        self.session = session
        self.context = context
        self.tx_rows = tx_rows
        self.load = uuid.uuid4().hex
        self.owner = f"{process_owner()}:{self.load}"
        self.tx: Transaction | None = None
        self.stamp = ""
        self.staged = False
        self.rows_in_tx = 0
        self.entries: list[dict[str, Any]] = []
        self.unmarked_ids: list[str] = []
        self.unmarked_refs: list[Ref] = []
        self.deferred: dict[Ref, tuple[RelationRow, dict[str, Any] | None]] = {}
        self.audit_seq = 0
        """The last audit number when this write took the lock (no other writer adds any)."""
        self.pending_entities = self.pending_relations = False
        self.created_ids: set[str] = set()
        self.written_refs: set[int] = set()
        """Hashes of the relation identities this write wrote (collisions only cost a look-up)."""

    # -- the transactions ------------------------------------------------------------------

    def begin(self, wait: float = WRITE_WAIT) -> None:
        """Open the first transaction: lock the meta node and take the next stamp.

        A bulk load that holds the write lease makes this wait (up to `wait` seconds); the
        stage of one whose process is gone is removed first.
        """
        deadline = time.monotonic() + wait
        while True:
            meta = self.session.run(cypher.READ_LEASE).single(strict=True)
            if not lease_is_live(meta):
                tx = self.session.begin_transaction()
                try:
                    meta = tx.run(cypher.LOCK_META).single(strict=True)
                except TransientError:  # a deadlock with a schema or meta statement: try again
                    tx.rollback()
                    continue
                hidden = list(meta["hidden"] or [])
                if not lease_is_live(meta) and not hidden:
                    self.tx = tx
                    self.audit_seq = int(meta["seq"] or 0)
                    self.stamp = next_stamp(meta["stamp"] or None)
                    tx.run(cypher.SET_STAMP, stamp=self.stamp).consume()
                    return
                tx.rollback()
                if not lease_is_live(meta):
                    clear_abandoned(self.session, hidden, meta["lease"])
                    continue
            if time.monotonic() > deadline:
                raise StoreUnavailableError(
                    f"a bulk load ({meta['lease']}) holds the Neo4j write lease; "
                    "try again when it has finished"
                )
            time.sleep(0.2)

    def _split(self) -> None:
        """Commit this transaction of a bulk write and go on in a new one, hidden."""
        assert self.tx is not None
        if not self.staged:
            for ids in chunks(self.unmarked_ids):
                self.tx.run(cypher.MARK_ENTITIES, ids=ids, load=self.load).consume()
            for refs in chunks([list(r) for r in self.unmarked_refs]):
                self.tx.run(cypher.MARK_RELATIONS, refs=refs, load=self.load).consume()
            self.unmarked_ids, self.unmarked_refs = [], []
            self.staged = True
        self._renew_lease()
        self.tx.commit()
        self.tx = self.session.begin_transaction()
        meta = self.tx.run(cypher.LOCK_META).single(strict=True)
        if meta["lease"] != self.owner or self.load not in (meta["hidden"] or []):
            raise StoreUnavailableError(
                "this bulk load lost its Neo4j write lease (it stalled for more than "
                f"{LEASE_MILLIS // 1000} s); nothing of it was kept"
            )
        self._renew_lease()
        self.rows_in_tx = 0

    def _renew_lease(self) -> None:
        assert self.tx is not None
        self.tx.run(
            cypher.TAKE_LEASE, owner=self.owner, millis=LEASE_MILLIS, load=self.load
        ).consume()

    def commit(self) -> None:
        """The last step: pending images, audit, revisions, and (for a bulk load) showing it."""
        tx = self.tx
        assert tx is not None
        self._write_deferred()
        if self.pending_entities:
            tx.run(cypher.APPLY_ENTITY_UPDATES, load=self.load).consume()
        if self.pending_relations:
            tx.run(cypher.APPLY_RELATION_UPDATES, load=self.load).consume()
        seq = self._append_audit()
        if self.latest > self.stamp:  # later writes get stamps after the restored times
            tx.run(cypher.SET_STAMP, stamp=self.latest).consume()
        if seq != self.audit_seq or self.changed:
            tx.run(cypher.FINISH_WRITE, least=self.least_level, seq=seq).consume()
        if self.staged:
            tx.run(cypher.RELEASE_LOAD, load=self.load, owner=self.owner).consume()
        tx.commit()
        self.tx = None

    def abort(self) -> None:
        """Roll back the open transaction and remove what earlier ones staged."""
        if self.tx is not None and not self.tx.closed():
            self.tx.rollback()
        self.tx = None
        if self.staged:
            clear_abandoned(self.session, [self.load], self.owner)

    def _after_batch(self, rows: int) -> None:
        self.rows_in_tx += rows
        if self.rows_in_tx >= self.tx_rows:
            self._split()

    def _run(self, statement: str, **params: Any) -> list[Any]:
        assert self.tx is not None
        return list(self.tx.run(statement, **params))

    # -- writing ---------------------------------------------------------------------------

    def upsert_entities(self, rows: list[EntityRow]) -> None:
        """Merge entities into the store (see `keten.graph.merge`)."""
        self.write_entity_params(entity_params(rows))

    def upsert_relations(self, rows: list[RelationRow]) -> None:
        """Merge relations into the store; both ends must be stored by the end of the write."""
        self.write_relation_params(relation_params(rows))

    def write_entity_params(self, params: list[tuple[Any, ...]]) -> None:
        """Write entities already turned into tuples by `entity_params`."""
        if not params:
            return
        self.note_written(len(params))
        rows = [entity_of_params(p) for p in params]
        self.note_times(t for r in rows for t in (r.created_at, r.updated_at))
        encoded = {id(row): (p[7], p[8]) for row, p in zip(rows, params, strict=True)}
        stored = self.stored_entities({r.id for r in rows})
        merged = merge_entities(rows, stored, self.mode, self.stamp, self.seen)
        by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in merged.created:
            search, props = encoded.get(id(row), (None, None))
            by_kind[row.kind].append(self._hide(entity_map(row, search, props)))
            self.seen_level(LEVELS[row.marking])
            self.audit(ENTITY, "create", row.id, None, None, LEVELS[row.marking])
        for kind, maps in by_kind.items():
            self._run(cypher.create_entities(kind), rows=maps)
        self.created_ids.update(row.id for row in merged.created)
        if not self.bulk:
            self.unmarked_ids += [row.id for row in merged.created]
        if merged.updated:
            maps = [entity_map(after) for _, after, _ in merged.updated]
            self._run(cypher.STAGE_ENTITY_UPDATES, rows=maps, load=self.load)
            self.pending_entities = True
        for before, after, fields in merged.updated:
            self.seen_level(min(LEVELS[before.marking], LEVELS[after.marking]))
            self.note_change(Change(after.id, None, fields))
            self.audit(ENTITY, "update", after.id, None, fields, LEVELS[after.marking])
        self.tally(ENTITY, merged)
        self._after_batch(len(params))

    def _hide(self, stored: dict[str, Any]) -> dict[str, Any]:
        """Mark a new record with the load id once the write is bulk (it may come to span
        transactions: marking as it goes is far cheaper than marking afterwards)."""
        if self.bulk:
            stored[LOAD] = self.load
        return stored

    def write_relation_params(self, params: list[tuple[Any, ...]]) -> None:
        """Write relations already turned into tuples by `relation_params`.

        A relation whose ends are not stored yet (a bundle may name them later) waits until
        the end of the write.
        """
        if not params:
            return
        self.note_written(len(params))
        rows = [relation_of_params(p) for p in params]
        self.note_times(t for r in rows for t in (r.created_at, r.updated_at))
        encoded = {id(row): p[8] for row, p in zip(rows, params, strict=True)}
        stored = self.stored_relations({r.ref for r in rows})
        merged = merge_relations(rows, stored, self.mode, self.stamp, self.seen)
        self._create_relations([(row, encoded.get(id(row))) for row in merged.created])
        staged = []
        for _, after, fields in merged.updated:
            if after.ref in self.deferred:
                self.deferred[after.ref] = (after, None)
            else:
                staged.append({**self._ends(after), "props": relation_map(after)})
            self.note_change(Change(None, after.ref, fields))
            level = audit_level(after.ref, LEVELS[after.marking])
            self.audit(RELATION, "update", None, after.ref, fields, level)
        if staged:
            self._run(cypher.STAGE_RELATION_UPDATES, rows=staged, load=self.load)
            self.pending_relations = True
        self.seen_relations(
            [(a.ref, min(LEVELS[b.marking], LEVELS[a.marking])) for b, a, _ in merged.updated],
            self.levels_of,
        )
        self.tally(RELATION, merged)
        self._after_batch(len(params))

    @staticmethod
    def _ends(row: RelationRow) -> dict[str, str]:
        return {"source": row.source, "type": row.type, "target": row.target}

    def _create_relations(self, created: list[tuple[RelationRow, dict[str, Any] | None]]) -> None:
        """Create new relations by type; those whose ends are missing wait (`deferred`)."""
        by_type: dict[str, list[tuple[RelationRow, dict[str, Any] | None]]] = defaultdict(list)
        for item in created:
            by_type[item[0].type].append(item)
        self.written_refs.update(hash(row.ref) for row, _ in created)
        made: list[RelationRow] = []
        for type_, items in by_type.items():
            maps = [
                {**self._ends(row), "props": self._hide(relation_map(row, props))}
                for row, props in items
            ]
            (record,) = self._run(cypher.create_relations(type_), rows=maps)
            if record["created"] == len(items):
                made += [row for row, _ in items]
                continue
            ends = list({end for row, _ in items for end in (row.source, row.target)})
            stored = {
                r["id"] for ids in chunks(ends) for r in self._run(cypher.STORED_IDS, ids=ids)
            }
            for row, props in items:
                if row.source in stored and row.target in stored:
                    made.append(row)
                else:
                    self.deferred[row.ref] = (row, props)
        self._created_relations(made)

    def _created_relations(self, made: list[RelationRow]) -> None:
        """Audit, visibility and (before the first split) the list to hide, of new relations."""
        if not self.bulk:
            self.unmarked_refs += [row.ref for row in made]
        for row in made:
            self.audit(
                RELATION, "create", None, row.ref, None, audit_level(row.ref, LEVELS[row.marking])
            )
        self.seen_relations([(row.ref, LEVELS[row.marking]) for row in made], self.levels_of)

    def _write_deferred(self) -> None:
        """Create the relations that waited for their ends; refuse any whose end is missing."""
        if not self.deferred:
            return
        waiting = list(self.deferred.values())
        self.deferred = {}
        self._create_relations(waiting)
        if self.deferred:
            missing = sorted({e for r, _ in self.deferred.values() for e in (r.source, r.target)})
            stored = {r["id"] for r in self._run(cypher.STORED_IDS, ids=missing)}
            names = ", ".join(sorted(set(missing) - stored)[:20])
            raise ValueError(f"relations refer to entities that are not stored: {names}")

    # -- the audit trail -------------------------------------------------------------------

    def _entry(
        self,
        action: str,
        entity: str | None,
        ref: Ref | None,
        detail: dict[str, Any] | None,
        level: int,
        level_max: int = NOTHING,
    ) -> None:
        """An entry for readers of clearance `level` up to (not including) `level_max`."""
        self.entries.append(
            {
                "at": self.stamp,
                "actor": self.context.actor,
                "action": action,
                "entity": ref[0] if ref else entity,
                "other": ref[2] if ref else None,
                "relation": list(ref) if ref else None,
                "submission": self.context.submission,
                "detail_json": orjson.dumps(detail).decode() if detail else None,
                "level": level,
                "level_max": level_max,
            }
        )

    def _append_audit(self) -> int:
        """Write the entries `WriteBook.audit_entries` decides on; the last audit number."""
        entries, bulk = self.audit_entries()
        for e in entries:
            self._entry(e.action, e.entity, e.relation, e.detail, e.level, e.level_max)
        if bulk is not None:
            action = f"bulk-{self.context.action}"
            self._entry(action, None, None, bulk.detail, bulk.level)
        seq = self.audit_seq
        for entry in self.entries:
            seq += 1
            entry["seq"] = seq
        for entries in chunks(self.entries):
            self._run(cypher.APPEND_AUDIT, entries=entries)
        return seq

    # -- deleting ----------------------------------------------------------------------------

    def delete_entity(self, entity: EntityRow, relations: list[RelationRow]) -> None:
        """Delete an entity and every relation touching it (versions kept, entries made)."""
        self._run(cypher.DELETE_ENTITY, id=entity.id, stamp=self.stamp)
        for rel in relations:
            level = audit_level(rel.ref, LEVELS[rel.marking])
            self.audit(RELATION, "delete", None, rel.ref, None, level)
        level = LEVELS[entity.marking]
        self.audit(ENTITY, "delete", entity.id, None, None, level)
        self.seen_level(level)

    def delete_relation(self, relation: RelationRow, visible_from: int) -> None:
        """Delete one relation, visible from clearance level `visible_from` up."""
        source, type_, target, key = relation.ref
        self._run(
            cypher.DELETE_RELATION,
            source=source,
            type=type_,
            target=target,
            key=key,
            stamp=self.stamp,
        )
        level = audit_level(relation.ref, LEVELS[relation.marking])
        self.audit(RELATION, "delete", None, relation.ref, None, level)
        self.seen_level(visible_from)

    # -- reading inside the transaction ----------------------------------------------------

    def kinds_of(self, ids: Iterable[str]) -> dict[str, str]:
        """Kinds of the ids known to the store, as seen inside this write."""
        return {
            r["id"]: r["kind"]
            for batch in chunks(list(ids))
            for r in self._run(cypher.KINDS_OF, ids=batch)
        }

    def stored_entities(self, ids: Iterable[str]) -> dict[str, EntityRow]:
        """Stored rows of these ids as this write sees them (its pending images first)."""
        found: dict[str, EntityRow] = {}
        for batch in chunks(list(ids)):
            for record in self._run(cypher.STORED_ENTITIES, ids=batch, load=self.load):
                row = entity_from_map(record["node"])
                found[row.id] = row
        return found

    def stored_relations(self, refs: Iterable[Ref]) -> dict[Ref, RelationRow]:
        """Stored rows of these relation identities as this write sees them."""
        found: dict[Ref, RelationRow] = {}
        wanted = list(refs)
        for batch in chunks([list(r) for r in wanted if self._may_be_stored(r)]):
            for record in self._run(cypher.STORED_RELATIONS, refs=batch, load=self.load):
                source, type_, target, _ = record["ref"]
                row = relation_from_map(source, type_, target, record["rel"])
                found[row.ref] = row
        for ref in wanted:
            waiting = self.deferred.get(ref)
            if waiting is not None:
                found[ref] = waiting[0]
        return found

    def _may_be_stored(self, ref: Ref) -> bool:
        """False when no stored relation can have this identity: an end was created by this
        write, and this write has not written the identity (so a first load of a million
        relations never looks any of them up)."""
        if ref[0] not in self.created_ids and ref[2] not in self.created_ids:
            return True
        return hash(ref) in self.written_refs

    def touching(self, entity_id: str) -> list[RelationRow]:
        """Every relation with `entity_id` at either end."""
        return [
            relation_from_map(r["source"], r["type"], r["target"], r["rel"])
            for r in self._run(cypher.TOUCHING_ENTITY, id=entity_id)
        ]

    def levels_of(self, ids: Iterable[str]) -> dict[str, int]:
        """Marking levels of stored entities, as this write sees them."""
        return {
            r["id"]: r["level"]
            for batch in chunks(list(ids))
            for r in self._run(cypher.LEVELS_OF, ids=batch, load=self.load)
        }
