"""Large loads in two processes: one reads and checks, the other writes.

Reading, validating and checking a record costs about as much as SQLite's insert of it, and
both hold the GIL for most of that, so threads cannot overlap them. A second process can:
the child runs the `BundleChecker` over the files and sends rows down a pipe as plain tuples;
the parent writes them in its one store transaction, answers the child's questions about
stored entity kinds, and commits only when the child reports no problem.
"""

from __future__ import annotations

import gc
import multiprocessing
import traceback
from collections.abc import Callable, Iterable
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from keten.graph.store import EntityRow, RelationRow, Writer
from keten.ingest.checker import BATCH, BundleChecker
from keten.ingest.problems import ProblemLog
from keten.ingest.readers import read_paths

Progress = Callable[[int], None]


Prepare = tuple[Callable[[list[EntityRow]], Any], Callable[[list[RelationRow]], Any]]
"""A writer's pure functions from rows to its statement parameters (see SqliteWriter)."""
Shares = Callable[[list[str]], list[RelationRow]]
"""Stored SOURCED_FROM relations of some resources, as the writer may see them."""


class PipeSink:
    """The child's end: rows go to the parent, kind questions wait for answers.

    When the writer offers `prepare` functions, the child also turns rows into statement
    parameters, which leaves the parent nothing but the writing itself.
    """

    def __init__(self, conn: Connection, prepare: Prepare | None) -> None:
        self.conn = conn
        self.prepare = prepare

    def upsert_entities(self, rows: list[EntityRow]) -> None:
        """Send entity rows (tuples pickle much faster than dataclasses)."""
        if rows and self.prepare:
            self.conn.send(("entity_params", self.prepare[0](rows)))
        elif rows:
            batch = [
                (r.id, r.kind, r.name, r.marking, r.props, r.created_at, r.updated_at) for r in rows
            ]
            self.conn.send(("entities", batch))

    def upsert_relations(self, rows: list[RelationRow]) -> None:
        """Send relation rows."""
        if rows and self.prepare:
            self.conn.send(("relation_params", self.prepare[1](rows)))
        elif rows:
            batch = [
                (r.source, r.type, r.target, r.key, r.marking, r.props, r.created_at, r.updated_at)
                for r in rows
            ]
            self.conn.send(("relations", batch))

    def kinds_of(self, ids: Iterable[str]) -> dict[str, str]:
        """Ask the parent, which sees the open transaction."""
        self.conn.send(("kinds?", list(ids)))
        answer: dict[str, str] = self.conn.recv()
        return answer

    def stored_shares(self, resources: list[str]) -> list[RelationRow]:
        """Ask the parent for the stored shares of these resources."""
        self.conn.send(("shares?", resources))
        return [RelationRow(*row) for row in self.conn.recv()]


def check_in_child(paths: list[str], conn: Connection, prepare: Prepare | None) -> None:
    """Child process body: check every record, stream rows, end with the problem log.

    The cyclic garbage collector is off: the child lives for one load, makes millions of
    short-lived dicts and no cycles worth collecting, and the collector's passes over them
    cost a noticeable share of its time.
    """
    gc.disable()
    try:
        checker = BundleChecker(PipeSink(conn, prepare), owns_records=True)
        checker.add_all(read_paths([Path(p) for p in paths]), partial(report_progress, conn))
        checker.finish()
        done = ("done", checker.records, checker.log.problems, checker.log.total)
        conn.send((*done, checker.log.not_kept))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def report_progress(conn: Connection, records: int) -> None:
    """Tell the parent how many records are checked (every tenth batch)."""
    if records % (10 * BATCH) == 0:
        conn.send(("progress", records))


def write_from_child(
    writer: Writer, paths: list[Path], progress: Progress | None, shares: Shares
) -> tuple[int, ProblemLog]:
    """Parent side: start the checker process and write what it sends, in `writer`."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=check_in_child,
        args=([str(p) for p in paths], child, getattr(writer, "prepare", None)),
        daemon=True,
    )
    process.start()
    child.close()
    try:
        return serve(parent, writer, progress, shares)
    finally:
        parent.close()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def serve(
    conn: Connection, writer: Writer, progress: Progress | None, shares: Shares
) -> tuple[int, ProblemLog]:
    """Handle the child's messages until it is done; returns (records, problems)."""
    while True:
        try:
            message: tuple[Any, ...] = conn.recv()
        except EOFError:
            raise RuntimeError("the bundle-checking process ended unexpectedly") from None
        match message:
            case ("entities", batch):
                writer.upsert_entities([EntityRow(*row) for row in batch])
            case ("relations", batch):
                writer.upsert_relations([RelationRow(*row) for row in batch])
            case ("entity_params", params):
                writer.write_entity_params(params)  # type: ignore[attr-defined]
            case ("relation_params", params):
                writer.write_relation_params(params)  # type: ignore[attr-defined]
            case ("kinds?", ids):
                conn.send(writer.kinds_of(ids))
            case ("shares?", resources):
                rows = shares(resources)
                conn.send([(r.source, r.type, r.target, r.key, r.marking, r.props) for r in rows])
            case ("progress", records):
                if progress:
                    progress(records)
            case ("done", records, problems, total, not_kept):
                log = ProblemLog()
                log.problems, log.total = problems, total
                log.not_kept = not_kept
                return records, log
            case ("error", text):
                raise RuntimeError(f"the bundle-checking process failed:\n{text}")
