"""Submissions: checked at once, invisible until accepted, audited, both assessments kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from keten.graph.sqlite import SqliteStore
from keten.graph.store import RelationFilter
from keten.ingest import BundleRejected, load_bundle
from keten.ingest.submissions import Status, SubmissionError, SubmissionQueue

BASE = {
    "entities": [
        {"id": "vp:power", "kind": "VitalProcess", "name": "Electricity"},
        {"id": "vp:water", "kind": "VitalProcess", "name": "Drinking water"},
    ]
}
PROPOSAL = {
    "entities": [{"id": "org:dunea", "kind": "Organisation", "name": "Dunea"}],
    "relations": [
        {"source": "org:dunea", "target": "vp:power", "type": "DEPENDS_ON", "strength": 0.8},
    ],
}


@pytest.fixture
def queue(tmp_path: Path) -> SubmissionQueue:
    return SubmissionQueue(tmp_path / "submissions.sqlite")


def test_pending_submission_is_invisible_until_accepted(
    sqlite_store: SqliteStore, queue: SubmissionQueue
) -> None:
    load_bundle(sqlite_store, BASE)
    submission = queue.submit(sqlite_store, PROPOSAL, "alice", "institute:tno", "from a study")
    assert submission.status == Status.PENDING and submission.counts["entities_created"] == 1
    assert sqlite_store.get_entity("org:dunea") is None
    assert [s.id for s in queue.list(Status.PENDING)] == [submission.id]

    report = queue.accept(sqlite_store, submission.id, "bob")
    assert report.counts.relations_created == 1
    entity = sqlite_store.get_entity("org:dunea")
    assert entity is not None
    assert entity.props["contributor"] == "alice" and entity.props["institute"] == "institute:tno"
    trail = sqlite_store.audit(entity="org:dunea").items
    assert {(e.actor, e.action, e.submission) for e in trail} == {("bob", "create", submission.id)}
    accepted = queue.get(submission.id)
    assert accepted is not None and accepted.status == Status.ACCEPTED
    assert accepted.reviewer == "bob"
    with pytest.raises(SubmissionError) as again:
        queue.accept(sqlite_store, submission.id, "bob")
    assert again.value.status == 409


def test_bad_submission_is_refused_at_once(
    sqlite_store: SqliteStore, queue: SubmissionQueue
) -> None:
    bad = {"relations": [{"source": "org:x", "target": "vp:power", "type": "DEPENDS_ON"}]}
    with pytest.raises(BundleRejected):
        queue.submit(sqlite_store, bad, "alice")
    assert queue.list() == []


def test_reject_keeps_the_reason(sqlite_store: SqliteStore, queue: SubmissionQueue) -> None:
    load_bundle(sqlite_store, BASE)
    submission = queue.submit(sqlite_store, PROPOSAL, "alice")
    rejected = queue.reject(submission.id, "bob", "no source cited")
    assert (rejected.status, rejected.reason) == (Status.REJECTED, "no source cited")
    assert sqlite_store.get_entity("org:dunea") is None
    with pytest.raises(SubmissionError) as unknown:
        queue.reject("sub-nope", "bob", "x")
    assert unknown.value.status == 404


def test_two_institutes_assessments_are_both_kept(
    sqlite_store: SqliteStore, queue: SubmissionQueue
) -> None:
    load_bundle(sqlite_store, BASE)
    for institute, strength in (("institute:tno", 0.9), ("institute:rivm", 0.4)):
        proposal = {
            "relations": [
                {
                    "source": "vp:water",
                    "target": "vp:power",
                    "type": "DEPENDS_ON",
                    "strength": strength,
                },
            ]
        }
        submission = queue.submit(sqlite_store, proposal, "someone", institute)
        queue.accept(sqlite_store, submission.id, "reviewer")
    kept = sqlite_store.list_relations(RelationFilter(source="vp:water")).items
    assert {(r.key, r.props["strength"]) for r in kept} == {
        ("institute:tno", 0.9),
        ("institute:rivm", 0.4),
    }
