"""Load bundles into a store: stream, validate, write in one transaction, or refuse whole.

Records are validated and written in batches inside a single store transaction. Endpoint
kinds of relations are checked against the bundle's own entities and, for ids the bundle
does not define, against the store. Any problem rolls the transaction back, so a refused
bundle (or a dry run) leaves the store exactly as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keten.graph.store import GraphStore, WriteCounts, Writer
from keten.ingest.checker import BATCH, BundleChecker
from keten.ingest.pipeline import write_from_child
from keten.ingest.problems import ProblemLog
from keten.ingest.readers import Item, read_bundle, read_paths

Progress = Callable[[int], None]
PIPELINE_ABOVE = 32 * 1024 * 1024
"""Inputs larger than this are checked in a second process (see keten.ingest.pipeline)."""


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


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who loads, as what action, for which submission: what the audit trail records."""

    actor: str | None = None
    action: str = "load"
    submission: str | None = None


def load_items(
    store: GraphStore,
    items: Iterable[Item],
    dry_run: bool = False,
    progress: Progress | None = None,
    by: Attribution = Attribution(),
) -> LoadReport:
    """Validate and write `items` in one transaction; raise BundleRejected on any problem."""

    def check_here(writer: Writer) -> tuple[int, ProblemLog]:
        checker = BundleChecker(writer)
        for item in items:
            checker.add(item)
            if progress and checker.records % BATCH == 0:
                progress(checker.records)
        checker.finish()
        return checker.records, checker.log

    return in_transaction(store, check_here, dry_run, progress, by)


def in_transaction(
    store: GraphStore,
    check: Callable[[Writer], tuple[int, ProblemLog]],
    dry_run: bool,
    progress: Progress | None,
    by: Attribution,
) -> LoadReport:
    """Run a check-and-write in one store transaction; commit only a clean, real load."""
    counts = WriteCounts()
    records = 0
    try:
        with store.writer(by.actor, by.action, by.submission) as writer:
            records, log = check(writer)
            counts = writer.counts
            if progress:
                progress(records)
            if log:
                raise log.rejection()
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
    by: Attribution = Attribution(),
) -> LoadReport:
    """Load bundle files and folders; all paths land together or not at all.

    Inputs above PIPELINE_ABOVE bytes are checked in a second process while this one writes.
    """
    files = [Path(p) for p in paths]
    if total_size(files) > PIPELINE_ABOVE and (os.cpu_count() or 1) > 1:
        return in_transaction(
            store, lambda writer: write_from_child(writer, files, progress), dry_run, progress, by
        )
    return load_items(store, read_paths(files), dry_run, progress, by)


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
) -> LoadReport:
    """Load an in-memory bundle (an API request body, an accepted submission)."""
    return load_items(store, read_bundle(bundle, name), dry_run, by=by)
