"""Load bundles into a store: stream, validate, write in one transaction, or refuse whole.

Records are validated and written in batches inside a single store transaction. Endpoint
kinds of relations are checked against the bundle's own entities and, for ids the bundle
does not define, against the store. Any problem rolls the transaction back, so a refused
bundle (or a dry run) leaves the store exactly as it was.

A load merges into what is stored (see `keten.graph.merge`); `WriteMode.REPLACE` replaces
whole records, and `WriteMode.RESTORE` loads an export, times included, into an empty
store. The report counts new, changed and unchanged records and lists the fields that
changed. Everything a load checks against the store (kinds, shares) and everything its
report says (the revision) keeps to the writer's clearance.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from keten.graph.store import (
    EntityRow,
    GraphStore,
    KindChangeError,
    RelationFilter,
    RelationRow,
    WriteCounts,
    WriteMode,
    Writer,
    paged,
)
from keten.ingest.checker import BundleChecker, Sink
from keten.ingest.pipeline import write_from_child
from keten.ingest.problems import BundleRejected, Problem, ProblemLog
from keten.ingest.readers import Item, read_bundle, read_paths
from keten.schema.markings import Tlp

Progress = Callable[[int], None]
PIPELINE_ABOVE = 64 * 1024 * 1024
"""Inputs larger than this are checked in a second process (see keten.ingest.pipeline) when a
core is spare: below it, starting that process costs more than it saves."""


@dataclass
class LoadReport:
    """What a load did (or, for a dry run, would do)."""

    records: int
    counts: WriteCounts
    dry_run: bool
    revision: int
    changes: list[dict[str, Any]] = field(default_factory=list)
    """The first records whose stored values changed, with the fields that changed."""
    mode: WriteMode = WriteMode.MERGE
    not_kept: list[dict[str, Any]] = field(default_factory=list)
    """What a STIX import left out: file, STIX type, reason and count (see keten.ingest.stix)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API and `--json` output."""
        return {
            "records": self.records,
            "dry_run": self.dry_run,
            "revision": self.revision,
            "mode": self.mode.value,
            **self.counts.as_dict(),
            "changes": self.changes,
            "not_kept": self.not_kept,
        }


class _DryRunDone(Exception):
    """Raised inside the transaction to roll back a dry run after counting."""


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who loads, as what action, for which submission (what the audit trail records), and
    the writer's clearance (what the load may check against and report)."""

    actor: str | None = None
    action: str = "load"
    submission: str | None = None
    clearance: Tlp = Tlp.RED


Precondition = Callable[[Writer], None]
"""Run first inside the write transaction (an `If-Match` check); raise to write nothing."""


@dataclass(slots=True)
class LoadSink:
    """The checker's sink for a load: the writer, and the stored shares the writer may see."""

    writer: Writer
    store: GraphStore
    clearance: Tlp

    def upsert_entities(self, rows: list[EntityRow]) -> None:
        """Write entities."""
        self.writer.upsert_entities(rows)

    def upsert_relations(self, rows: list[RelationRow]) -> None:
        """Write relations."""
        self.writer.upsert_relations(rows)

    def kinds_of(self, ids: Iterable[str]) -> dict[str, str]:
        """Kinds of stored entities, as the write transaction sees them."""
        return self.writer.kinds_of(ids)

    def stored_shares(self, resources: list[str]) -> list[RelationRow]:
        """Stored SOURCED_FROM relations of these resources within the clearance (in bulk
        where the writer can: a large bundle gives shares of many thousand resources)."""
        in_bulk = getattr(self.writer, "stored_shares", None)
        if in_bulk is not None:
            return list(in_bulk(resources, self.clearance.level))
        found: list[RelationRow] = []
        for resource in resources:
            flt = RelationFilter("SOURCED_FROM", source=resource, clearance=self.clearance)
            found += paged(partial(self.store.list_relations, flt, limit=1000))
        return found


Check = Callable[[Writer, Sink], tuple[int, ProblemLog]]
"""Checks and writes a load's records through the sink; returns (records, problems)."""


def load_items(
    store: GraphStore,
    items: Iterable[Item],
    dry_run: bool = False,
    progress: Progress | None = None,
    by: Attribution = Attribution(),
    mode: WriteMode = WriteMode.MERGE,
    precondition: Precondition | None = None,
    origin: str = "-",
) -> LoadReport:
    """Validate and write `items` in one transaction; raise BundleRejected on any problem.

    `origin` names the input in problems found across the whole load (not at one record).
    """

    def check_here(writer: Writer, sink: Sink) -> tuple[int, ProblemLog]:
        return check_all(items, sink, progress)

    return in_transaction(store, check_here, dry_run, progress, by, mode, precondition, origin)


def check_all(
    items: Iterable[Item], sink: Sink, progress: Progress | None, owned: bool = False
) -> tuple[int, ProblemLog]:
    """Check every item as one bundle, writing through `sink`; (records, problems).
    `owned`: the items' records were read here, and nothing else holds them."""
    checker = BundleChecker(sink, owns_records=owned)
    checker.add_all(items, progress)
    checker.finish()
    return checker.records, checker.log


def in_transaction(
    store: GraphStore,
    check: Check,
    dry_run: bool,
    progress: Progress | None,
    by: Attribution,
    mode: WriteMode = WriteMode.MERGE,
    precondition: Precondition | None = None,
    origin: str = "-",
) -> LoadReport:
    """Run a check-and-write in one store transaction; commit only a clean, real load."""
    if mode is WriteMode.RESTORE and not store.is_empty():
        why = "a restore loads an export into an empty store, and this store holds records"
        raise BundleRejected([Problem(origin, "-", "mode", why, mode.value)], 1)
    try:
        with store.writer(by.actor, by.action, by.submission, mode) as writer:
            if precondition:
                precondition(writer)
            records, log = check(writer, LoadSink(writer, store, by.clearance))
            counts, changes = writer.counts, [c.as_dict() for c in writer.changes]
            if progress:
                progress(records)
            for conflict in writer.conflicts:
                problem = conflict_problem(conflict.entity, conflict.relation, conflict.fields)
                log.add(replace(problem, file=origin))
            if log:
                raise log.rejection()
            if dry_run:
                raise _DryRunDone
    except _DryRunDone:
        pass
    except KindChangeError as error:
        raise BundleRejected([Problem(origin, "-", "kind", str(error))], 1) from None
    not_kept = [{"file": n.file, **n.as_dict()} for n in log.not_kept]
    revision = store.revision(by.clearance)
    return LoadReport(records, counts, dry_run, revision, changes, mode, not_kept)


def conflict_problem(
    entity: str | None, relation: tuple[str, str, str, str] | None, fields: list[str]
) -> Problem:
    """The problem of two records of one identity in one load that disagree."""
    what = f"id {entity}"
    if entity is None:
        source, type_, target, key = relation or ("", "", "", "")
        what = f"relation {source} -[{type_}]-> {target}" + (f" (key {key})" if key else "")
    why = f"two records in this load give {what} different values for: {', '.join(fields)}"
    return Problem("-", what, "id" if entity is not None else "key", why)


def load_paths(
    store: GraphStore,
    paths: Iterable[Path | str],
    dry_run: bool = False,
    progress: Progress | None = None,
    by: Attribution = Attribution(),
    mode: WriteMode = WriteMode.MERGE,
) -> LoadReport:
    """Load bundle files and folders; all paths land together or not at all.

    Inputs above PIPELINE_ABOVE bytes are checked in a second process while this one writes.
    """
    files = [Path(p) for p in paths]
    origin = str(files[0]) if len(files) == 1 else "-"
    size = total_size(files)
    piped = size > PIPELINE_ABOVE and spare_core()

    def check_files(writer: Writer, sink: Sink) -> tuple[int, ProblemLog]:
        defer_indexes = getattr(writer, "defer_indexes", None)
        if defer_indexes:
            defer_indexes()
        if piped:
            return write_from_child(writer, files, progress, sink.stored_shares)
        return check_all(read_paths(files), sink, progress, owned=True)

    load_cache = getattr(store, "load_cache", None)
    with no_cycle_collection(), load_cache(size) if load_cache else nullcontext():
        return in_transaction(store, check_files, dry_run, progress, by, mode, origin=origin)


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Switch the cyclic garbage collector off for a file load.

    A load makes millions of short-lived dicts and tuples and no cycles worth collecting;
    the collector's passes over the records a batch holds cost a third of a load's time.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def spare_core() -> bool:
    """True when a second process would get a core of its own: more than one core, and
    fewer processes running (over the last minute) than cores less one. On a busy machine
    the two processes would share the time one gets, and the pipe between them only costs."""
    cores = os.cpu_count() or 1
    return cores > 1 and os.getloadavg()[0] < cores - 1


def total_size(paths: list[Path]) -> int:
    """Bytes in the given files and folders (missing paths count as 0)."""
    size = 0
    for path in paths:
        if path.is_file():
            size += path.stat().st_size
        elif path.is_dir():
            size += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return size


def load_bundle(
    store: GraphStore,
    bundle: Any,
    dry_run: bool = False,
    name: str = "bundle",
    by: Attribution = Attribution(),
    mode: WriteMode = WriteMode.MERGE,
    precondition: Precondition | None = None,
) -> LoadReport:
    """Load an in-memory bundle (an API request body, an accepted submission)."""
    items = read_bundle(bundle, name)
    return load_items(
        store, items, dry_run, by=by, mode=mode, precondition=precondition, origin=name
    )
