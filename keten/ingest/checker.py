"""Check a stream of records as a bundle: validate in batches, check endpoints, pass rows on.

The checker holds what a bundle check needs across batches (the kinds of the bundle's
entities, relations whose endpoints come later, every problem) and hands valid rows to a
`Sink`, so the same checking serves an in-process load and the two-process pipeline.

An id keeps its kind for ever: each batch's new ids are looked up in the store, and a record
that gives a stored id, or an id earlier in the bundle, another kind is refused by place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from keten.graph.store import EntityRow, RelationRow
from keten.ingest.problems import Problem, ProblemLog
from keten.ingest.readers import Item, RawRecord
from keten.ingest.shares import ShareTally
from keten.ingest.stix import NotKept
from keten.ingest.validate import entity_rows, relation_rows
from keten.schema.relations import allowed_endpoints

BATCH = 5_000
"""Records validated (one pydantic call) and written (one executemany) at a time."""

_Pending = tuple[str, str, str, str, str]
"""A relation whose endpoints are checked at the end: (type, source, target, file, where)."""


class Sink(Protocol):
    """Where checked rows go: a store transaction, or the pipe to the process that writes."""

    def upsert_entities(self, rows: list[EntityRow]) -> None:
        """Write entities."""

    def upsert_relations(self, rows: list[RelationRow]) -> None:
        """Write relations."""

    def kinds_of(self, ids: Iterable[str]) -> dict[str, str]:
        """Kinds of stored entities, as the write transaction sees them."""
        ...

    def stored_shares(self, resources: list[str]) -> list[RelationRow]:
        """Stored SOURCED_FROM relations of these resources that the writer may see."""
        ...


@dataclass
class BundleChecker:
    """State of one load: batches, the kinds seen, relations whose endpoints wait."""

    sink: Sink
    log: ProblemLog = field(default_factory=ProblemLog)
    kinds: dict[str, str] = field(default_factory=dict)
    entities: list[RawRecord] = field(default_factory=list)
    relations: list[RawRecord] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    pending: list[_Pending] = field(default_factory=list)
    records: int = 0
    shares: ShareTally = field(default_factory=ShareTally)
    allowed: set[tuple[str, str, str]] = field(default_factory=set)
    """(type, source kind, target kind) found allowed (a few dozen, met millions of times)."""
    owns_records: bool = False
    """The records are the reader's own (read from files here), so rows may be made of them
    instead of copies."""

    def add_all(self, items: Iterable[Item], progress: Callable[[int], None] | None = None) -> None:
        """Take every record (or reader's problem), validating and writing in batches; call
        `progress` with the records taken at every BATCH. One loop for a whole load: a
        method call per record cost as much as some of the checks."""
        entities, relations, records = self.entities, self.relations, self.records
        for item in items:
            if type(item) is not RawRecord:  # the rare case first asked, the common one quick
                if isinstance(item, Problem):
                    self.log.add(item)
                elif isinstance(item, NotKept):
                    self.log.not_kept.append(item)  # reported, never refused
                continue
            records += 1
            batch = entities if item.side == "entity" else relations
            batch.append(item)
            if len(batch) >= BATCH:
                self.records = records
                self.flush()
                entities, relations = self.entities, self.relations
            if progress and records % BATCH == 0:
                progress(records)
        self.records = records

    def flush(self) -> None:
        """Validate the batches and write them (pointless once the bundle is refused)."""
        passed_entities, entities, problems = entity_rows(self.entities, self.owns_records)
        self._note_refused(problems)
        self._check_kinds(passed_entities, entities)
        passed, relations, relation_problems = relation_rows(self.relations, self.owns_records)
        self.shares.add(passed, relations)
        for problem in problems + relation_problems:
            self.log.add(problem)
        self._check_endpoints(passed, relations)
        if not self.log:
            self.sink.upsert_entities(entities)
            self.sink.upsert_relations(relations)
        self.entities, self.relations = [], []

    def _check_kinds(self, items: list[RawRecord], rows: list[EntityRow]) -> None:
        """Note the kinds of a batch; refuse a kind other than the one stored or given
        before in this bundle."""
        new = {row.id for row in rows if row.id not in self.kinds}
        stored = self.sink.kinds_of(new) if new else {}
        for item, row in zip(items, rows, strict=True):
            before = self.kinds.get(row.id) or stored.get(row.id)
            if before is None or before == row.kind:
                self.kinds[row.id] = row.kind
                continue
            if row.id in stored:
                why = f"{row.id} is a {before} in the store; an id keeps its kind for ever"
            else:
                why = f"an earlier record in this bundle gives {row.id} the kind {before}"
            self.log.add(Problem(item.file, item.where, "kind", why, row.kind))

    def _note_refused(self, problems: list[Problem]) -> None:
        """Remember ids of refused entities, so relations to them are not reported twice."""
        if not problems:
            return
        places = {(p.file, p.where) for p in problems}
        for item in self.entities:
            if (item.file, item.where) in places and isinstance(item.data, dict):
                entity_id = item.data.get("id")
                if isinstance(entity_id, str):
                    self.refused.add(entity_id)

    def _check_endpoints(self, items: list[RawRecord], rows: list[RelationRow]) -> None:
        """Check endpoint kinds known now; keep the others for `finish`.

        A batch's (type, source kind, target kind) are gathered in one go (maps and a set,
        without a Python step per relation): in a bundle of known ends they are a few dozen
        allowed ones, and only a batch with another is gone through relation by relation.
        """
        kind = self.kinds.get
        types = [row.type for row in rows]
        sources = map(kind, [row.source for row in rows])
        targets = map(kind, [row.target for row in rows])
        if set(zip(types, sources, targets, strict=True)) <= self.allowed:  # no unknown kinds
            return
        for item, row in zip(items, rows, strict=True):
            known = (row.type, kind(row.source), kind(row.target))
            if known in self.allowed:
                continue
            if known[1] and known[2]:
                self._check(row.type, known[1], known[2], item.file, item.where)
            else:
                self.pending.append((row.type, row.source, row.target, item.file, item.where))

    def finish(self) -> None:
        """Write what is left, then check the relations whose endpoints were not yet known."""
        self.flush()
        unknown = {i for p in self.pending for i in p[1:3]} - set(self.kinds) - self.refused
        stored = self.sink.kinds_of(unknown) if unknown else {}
        for rel_type, source_id, target_id, file, where in self.pending:
            source = self.kinds.get(source_id) or stored.get(source_id)
            target = self.kinds.get(target_id) or stored.get(target_id)
            for end, end_id, kind in (("source", source_id, source), ("target", target_id, target)):
                if kind is None and end_id not in self.refused:
                    why = "no such entity in this bundle or in the store"
                    self.log.add(Problem(file, where, end, why, end_id))
            if source and target:
                self._check(rel_type, source, target, file, where)
        self.pending.clear()
        resources = self.shares.resources()
        if resources:
            self.shares.add_stored(self.sink.stored_shares(resources))
        for problem in self.shares.problems():
            self.log.add(problem)

    def _check(self, rel_type: str, source: str, target: str, file: str, where: str) -> None:
        if allowed_endpoints(rel_type, source, target):
            self.allowed.add((rel_type, source, target))
        else:
            why = f"{rel_type} cannot join a {source} to a {target}"
            self.log.add(Problem(file, where, "type", why, rel_type))
