"""Submissions: knowledge proposed by institutes, held until a reviewer accepts or rejects it.

A contributor's bundle is checked at once against the store (a dry run), then kept as a
pending change set outside the graph, so no analysis sees it. Accepting loads it into the
store in one transaction, stamped with the contributor's provenance where the records do
not state their own and audited under the submission's id; rejecting keeps it with the
reviewer's reason. The queue is its own SQLite file in KETEN_HOME, whatever the graph store.

Relations proposed through a submission are keyed by their institute (unless they carry a
key), so that two institutes' assessments of the same dependency are both kept; the
analysis then picks one per pair by a documented rule (see keten.graph.projection).

A submission carries the highest marking it touches (`bundle_marking`): only reviewers
cleared for it see it, in lists and by id, and only they may decide it; to everyone else
it is answered as if it did not exist.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from keten.config import private_file
from keten.graph.rows import now
from keten.graph.store import GraphStore
from keten.ingest.loader import Attribution, LoadReport, load_bundle
from keten.ingest.readers import RawRecord, read_bundle
from keten.schema.markings import Tlp, namespace_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    contributor TEXT NOT NULL,
    institute TEXT,
    note TEXT,
    bundle TEXT NOT NULL,
    counts TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    reviewer TEXT,
    reviewed_at TEXT,
    reason TEXT,
    marking INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS submissions_status ON submissions (status, submitted_at);
"""
IDENTITY_FIELDS = {"entity": ("id",), "relation": ("source", "target", "key")}


def bundle_marking(bundle: Any) -> Tlp:
    """The highest marking a bundle touches: stated markings and the namespaces of every id,
    key, endpoint and cited source in it (a reviewer must be cleared for all of them)."""
    levels = [Tlp.CLEAR]
    for item in read_bundle(bundle, "bundle"):
        if not (isinstance(item, RawRecord) and isinstance(item.data, dict)):
            continue
        record = item.data
        marking = record.get("marking")
        if isinstance(marking, str) and marking in set(Tlp):
            levels.append(Tlp(marking))
        cited = record.get("source_ids")
        identities = [record.get(f) for f in IDENTITY_FIELDS[item.side]]
        for identity in identities + (cited if isinstance(cited, list) else []):
            namespace = namespace_of(identity) if isinstance(identity, str) else None
            if namespace is not None:
                levels.append(namespace)
    return max(levels, key=lambda tlp: tlp.level)


class Status(StrEnum):
    """Where a submission stands."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class SubmissionError(Exception):
    """A submission cannot be acted on (unknown id, already reviewed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Submission:
    """A proposed change set and its review."""

    id: str
    status: Status
    contributor: str
    institute: str | None
    note: str | None
    counts: dict[str, Any]
    submitted_at: str
    reviewer: str | None = None
    reviewed_at: str | None = None
    reason: str | None = None
    marking: Tlp = Tlp.CLEAR

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the bundle itself)."""
        return {name: getattr(self, name) for name in self.__slots__}


def with_provenance(bundle: dict[str, Any], contributor: str, institute: str | None) -> dict:
    """The bundle with the submitter's provenance on records that state none.

    Relations without a key get the institute as key, so that assessments of the same
    relation by different institutes are kept side by side instead of overwriting each other.
    """
    defaults = {"contributor": contributor, **({"institute": institute} if institute else {})}
    entities = [{**defaults, **e} if isinstance(e, dict) else e for e in bundle.get("entities", [])]
    relations = []
    for rel in bundle.get("relations", []):
        if isinstance(rel, dict):
            rel = {**defaults, **rel}
            if not rel.get("key") and rel.get("institute"):
                rel["key"] = str(rel["institute"])
        relations.append(rel)
    return {**bundle, "entities": entities, "relations": relations}


class SubmissionQueue:
    """The review queue, one SQLite file (safe to share between threads)."""

    def __init__(self, path: Path) -> None:
        private_file(path)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.executescript(SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(submissions)")}
        if "marking" not in columns:  # a queue made by an earlier keten
            self._conn.execute(
                "ALTER TABLE submissions ADD COLUMN marking INTEGER NOT NULL DEFAULT 0"
            )
        self._lock = threading.Lock()

    def submit(
        self,
        store: GraphStore,
        bundle: dict[str, Any],
        contributor: str,
        institute: str | None = None,
        note: str | None = None,
        clearance: Tlp = Tlp.RED,
    ) -> Submission:
        """Check the bundle against the store now, as far as the contributor's `clearance`
        reaches (raises BundleRejected), then queue it."""
        stamped = with_provenance(bundle, contributor, institute)
        by = Attribution(contributor, "submit", None, clearance)
        report = load_bundle(store, stamped, dry_run=True, name="submission", by=by)
        submission = Submission(
            id=f"sub-{uuid.uuid4().hex[:12]}",
            status=Status.PENDING,
            contributor=contributor,
            institute=institute,
            note=note,
            counts={k: v for k, v in report.as_dict().items() if k != "revision"},
            submitted_at=now(),
            marking=bundle_marking(stamped),
        )
        with self._lock:
            self._conn.execute(
                "INSERT INTO submissions (id, status, contributor, institute, note, bundle, "
                "counts, submitted_at, marking) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    submission.id,
                    submission.status.value,
                    contributor,
                    institute,
                    note,
                    orjson.dumps(stamped).decode(),
                    orjson.dumps(submission.counts).decode(),
                    submission.submitted_at,
                    submission.marking.level,
                ),
            )
        return submission

    def get(self, submission_id: str, clearance: Tlp = Tlp.RED) -> Submission | None:
        """One submission the clearance covers, or None."""
        row = self._conn.execute(
            f"{SELECT} WHERE id = ? AND marking <= ?", (submission_id, clearance.level)
        ).fetchone()
        return from_row(row) if row else None

    def bundle(self, submission_id: str) -> dict[str, Any]:
        """The stamped bundle of a submission."""
        row = self._conn.execute(
            "SELECT bundle FROM submissions WHERE id = ?", (submission_id,)
        ).fetchone()
        if row is None:
            raise SubmissionError(404, f"no submission {submission_id!r}")
        bundle: dict[str, Any] = orjson.loads(row[0])
        return bundle

    def list(
        self, status: Status | None = None, limit: int = 100, clearance: Tlp = Tlp.RED
    ) -> list[Submission]:
        """Submissions the clearance covers, oldest first, optionally of one status.

        (Parameters are text: SQLite compares them with the integer column as numbers.)
        """
        where, params = "marking <= ?", [str(clearance.level)]
        if status:
            where += " AND status = ?"
            params.append(status.value)
        rows = self._conn.execute(
            f"{SELECT} WHERE {where} ORDER BY submitted_at LIMIT ?", (*params, limit)
        )
        return [from_row(r) for r in rows]

    def accept(
        self, store: GraphStore, submission_id: str, reviewer: str, clearance: Tlp = Tlp.RED
    ) -> LoadReport:
        """Load a pending submission into the store (all or nothing) and mark it accepted."""
        with self._lock:
            self._pending(submission_id, clearance)
            by = Attribution(reviewer, "accept", submission_id, clearance)
            report = load_bundle(store, self.bundle(submission_id), name=submission_id, by=by)
            self._review(submission_id, Status.ACCEPTED, reviewer, None)
        return report

    def reject(
        self, submission_id: str, reviewer: str, reason: str, clearance: Tlp = Tlp.RED
    ) -> Submission:
        """Mark a pending submission rejected, with the reviewer's reason."""
        with self._lock:
            self._pending(submission_id, clearance)
            self._review(submission_id, Status.REJECTED, reviewer, reason)
        submission = self.get(submission_id)
        assert submission is not None
        return submission

    def _pending(self, submission_id: str, clearance: Tlp) -> None:
        submission = self.get(submission_id, clearance)
        if submission is None:
            raise SubmissionError(404, f"no submission {submission_id!r}")
        if submission.status != Status.PENDING:
            raise SubmissionError(409, f"submission {submission_id} is {submission.status}")

    def _review(
        self, submission_id: str, status: Status, reviewer: str, reason: str | None
    ) -> None:
        self._conn.execute(
            "UPDATE submissions SET status = ?, reviewer = ?, reviewed_at = ?, reason = ? "
            "WHERE id = ?",
            (status.value, reviewer, now(), reason, submission_id),
        )

    def close(self) -> None:
        """Close the file."""
        self._conn.close()


SELECT = (
    "SELECT id, status, contributor, institute, note, counts, submitted_at, reviewer, "
    "reviewed_at, reason, marking FROM submissions"
)


def from_row(row: tuple[Any, ...]) -> Submission:
    """A SELECT row as a Submission."""
    sid, status, contributor, institute, note, counts, submitted, reviewer, reviewed = row[:9]
    return Submission(
        sid,
        Status(status),
        contributor,
        institute,
        note,
        orjson.loads(counts),
        submitted,
        reviewer,
        reviewed,
        row[9],
        list(Tlp)[row[10]],
    )
