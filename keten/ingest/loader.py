"""Load bundles into a store: stream, validate, write in one transaction, or refuse whole.

Records are validated and written in batches inside a single store transaction. Endpoint
kinds of relations are checked against the bundle's own entities and, for ids the bundle
does not define, against the store. Any problem rolls the transaction back, so a refused
bundle (or a dry run) leaves the store exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keten.graph.store import EntityRow, GraphStore, RelationRow, WriteCounts, Writer
from keten.ingest.problems import Problem, ProblemLog
from keten.ingest.readers import Item, RawRecord, read_bundle, read_paths
from keten.ingest.validate import entity_row, relation_row
from keten.schema.relations import allowed_endpoints

BATCH = 5_000
Progress = Callable[[int], None]


@dataclass
class LoadReport:
    """What a load did (or, for a dry run, would do)."""

    records: int
    counts: WriteCounts
    dry_run: bool
    revision: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API and `--json` output."""
        return {
            "records": self.records,
            "dry_run": self.dry_run,
            "revision": self.revision,
            **self.counts.as_dict(),
        }


class _DryRunDone(Exception):
    """Raised inside the transaction to roll back a dry run after counting."""


_Pending = tuple[str, str, str, str, str]
"""A relation whose endpoints are checked at the end: (type, source, target, file, where)."""


@dataclass
class _Session:
    """State of one load: batches, the kinds seen, relations whose endpoints wait."""

    writer: Writer
    log: ProblemLog = field(default_factory=ProblemLog)
    kinds: dict[str, str] = field(default_factory=dict)
    entities: list[EntityRow] = field(default_factory=list)
    relations: list[RelationRow] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    pending: list[_Pending] = field(default_factory=list)
    records: int = 0

    def add(self, item: Item) -> None:
        if isinstance(item, Problem):
            self.log.add(item)
            return
        self.records += 1
        if item.side == "entity":
            self._add_entity(item)
        else:
            self._add_relation(item)

    def _add_entity(self, item: RawRecord) -> None:
        row = entity_row(item.data, item.file, item.where)
        if isinstance(row, list):
            for problem in row:
                self.log.add(problem)
            if isinstance(item.data, dict) and isinstance(item.data.get("id"), str):
                self.refused.add(item.data["id"])
            return
        self.kinds[row.id] = row.kind
        self.entities.append(row)
        if len(self.entities) >= BATCH:
            self.flush()

    def _add_relation(self, item: RawRecord) -> None:
        row = relation_row(item.data, item.file, item.where)
        if isinstance(row, list):
            for problem in row:
                self.log.add(problem)
            return
        source, target = self.kinds.get(row.source), self.kinds.get(row.target)
        if source and target:
            self._check(row.type, source, target, item.file, item.where)
        else:
            self.pending.append((row.type, row.source, row.target, item.file, item.where))
        self.relations.append(row)
        if len(self.relations) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the batches (pointless once the bundle is known to be refused)."""
        if not self.log:
            self.writer.upsert_entities(self.entities)
            self.writer.upsert_relations(self.relations)
        self.entities, self.relations = [], []

    def finish(self) -> None:
        """Write what is left, then check the relations whose endpoints were not yet known."""
        self.flush()
        unknown = {i for p in self.pending for i in p[1:3]} - set(self.kinds) - self.refused
        stored = self.writer.kinds_of(unknown) if unknown else {}
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

    def _check(self, rel_type: str, source: str, target: str, file: str, where: str) -> None:
        if not allowed_endpoints(rel_type, source, target):
            why = f"{rel_type} cannot join a {source} to a {target}"
            self.log.add(Problem(file, where, "type", why, rel_type))


def load_items(
    store: GraphStore,
    items: Iterable[Item],
    dry_run: bool = False,
    progress: Progress | None = None,
) -> LoadReport:
    """Validate and write `items` in one transaction; raise BundleRejected on any problem."""
    counts = WriteCounts()
    records = 0
    try:
        with store.writer() as writer:
            session = _Session(writer)
            for item in items:
                session.add(item)
                if progress and session.records % BATCH == 0:
                    progress(session.records)
            session.finish()
            records, counts = session.records, writer.counts
            if progress:
                progress(records)
            if session.log:
                raise session.log.rejection()
            if dry_run:
                raise _DryRunDone
    except _DryRunDone:
        pass
    return LoadReport(records, counts, dry_run, store.revision())


def load_paths(
    store: GraphStore,
    paths: Iterable[Path | str],
    dry_run: bool = False,
    progress: Progress | None = None,
) -> LoadReport:
    """Load bundle files and folders; all paths land together or not at all."""
    return load_items(store, read_paths([Path(p) for p in paths]), dry_run, progress)


def load_bundle(
    store: GraphStore, bundle: Any, dry_run: bool = False, name: str = "bundle"
) -> LoadReport:
    """Load an in-memory bundle (an API request body)."""
    return load_items(store, read_bundle(bundle, name), dry_run)
