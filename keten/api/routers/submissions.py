"""Submissions and the audit trail: institutes propose, reviewers accept or reject.

A contributor's bundle is checked at once (a refused one answers 422 and is not queued) and
then waits, invisible to every analysis, until a reviewer accepts it (it is loaded, stamped
with the contributor's provenance, audited under the submission id) or rejects it with a
reason. A contributor cannot accept. The audit trail is readable by reviewers and admins.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from keten.api.clearance import check_bundle_write
from keten.api.deps import (
    MAX_ID,
    ContributorDep,
    CursorQuery,
    LimitQuery,
    ReviewerDep,
    StoreDep,
)
from keten.api.problems import ApiProblem, invalid_cursor, responses
from keten.api.schemas import IngestReport
from keten.api.writes import who
from keten.graph.store import HistoryUnavailableError
from keten.ingest.submissions import Status, SubmissionError, SubmissionQueue
from keten.schema.markings import Tlp

router = APIRouter(tags=["submissions"], responses=responses(401, 403, 422))
_queue_lock = threading.Lock()

SubmissionIdPath = Annotated[str, Path(min_length=1, max_length=64, examples=["sub-1a2b3c4d5e6f"])]


def get_queue(request: Request) -> SubmissionQueue:
    """The app's review queue, in KETEN_HOME/submissions.sqlite, opened on first use."""
    with _queue_lock:
        queue: SubmissionQueue | None = getattr(request.app.state, "submissions", None)
        if queue is None:
            queue = SubmissionQueue(request.app.state.settings.home / "submissions.sqlite")
            request.app.state.submissions = queue
    return queue


QueueDep = Annotated[SubmissionQueue, Depends(get_queue)]


class SubmissionRequest(BaseModel):
    """A proposed change set."""

    bundle: dict[str, Any] = Field(
        description='A bundle `{"entities": [...], "relations": [...]}`.',
        examples=[
            {
                "entities": [{"id": "org:dunea", "kind": "Organisation", "name": "Dunea"}],
                "relations": [
                    {"source": "org:dunea", "target": "vp:drinking-water", "type": "OPERATES"}
                ],
            }
        ],
    )
    institute: str | None = Field(
        None, max_length=200, description="Institute proposing it (default provenance)."
    )
    note: str | None = Field(None, max_length=5000, description="Why, for the reviewer.")


class Review(BaseModel):
    """A reviewer's reason for rejecting."""

    reason: str = Field(min_length=1, max_length=5000, examples=["No source cited."])


class SubmissionOut(BaseModel):
    """A submission and where it stands."""

    id: str
    status: Status
    contributor: str
    institute: str | None
    note: str | None
    counts: dict[str, Any]
    submitted_at: str
    reviewer: str | None
    reviewed_at: str | None
    reason: str | None
    marking: Tlp = Field(description="The highest marking the submission touches.")


class AuditOut(BaseModel):
    """One page of the audit trail."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def answer(error: SubmissionError) -> ApiProblem:
    """A queue error as a problem."""
    slug = "not-found" if error.status == 404 else "already-reviewed"
    return ApiProblem(error.status, slug, str(error))


@router.post("/submissions", status_code=201, responses=responses(201))
def submit(
    body: SubmissionRequest, store: StoreDep, queue: QueueDep, principal: ContributorDep
) -> SubmissionOut:
    """Propose a bundle; checked at once, then pending until a reviewer cleared for the
    highest marking it touches acts."""
    check_bundle_write(principal.clearance, body.bundle, "bundle")
    submission = queue.submit(
        store, body.bundle, who(principal), body.institute, body.note, principal.clearance
    )
    return SubmissionOut(**submission.as_dict())


@router.get("/submissions")
def list_submissions(
    queue: QueueDep,
    principal: ReviewerDep,
    status: Annotated[Status | None, Query(description="Only this status.")] = None,
    limit: LimitQuery = 100,
) -> list[SubmissionOut]:
    """Submissions the key is cleared for, oldest first (reviewers and admins)."""
    found = queue.list(status, limit, principal.clearance)
    return [SubmissionOut(**s.as_dict()) for s in found]


@router.post("/submissions/{submission_id}/accept", responses=responses(404, 409))
def accept(
    submission_id: SubmissionIdPath, store: StoreDep, queue: QueueDep, principal: ReviewerDep
) -> IngestReport:
    """Load a pending submission into the graph (all or nothing) and mark it accepted."""
    try:
        report = queue.accept(store, submission_id, who(principal), principal.clearance)
    except SubmissionError as error:
        raise answer(error) from None
    return IngestReport(**report.as_dict())


@router.post("/submissions/{submission_id}/reject", responses=responses(404, 409))
def reject(
    submission_id: SubmissionIdPath,
    review: Annotated[Review, Body()],
    queue: QueueDep,
    principal: ReviewerDep,
) -> SubmissionOut:
    """Reject a pending submission with a reason; nothing is loaded."""
    try:
        submission = queue.reject(submission_id, who(principal), review.reason, principal.clearance)
    except SubmissionError as error:
        raise answer(error) from None
    return SubmissionOut(**submission.as_dict())


@router.get("/audit", tags=["audit"], responses=responses(409))
def audit(
    store: StoreDep,
    principal: ReviewerDep,
    entity: Annotated[
        str | None, Query(min_length=1, max_length=MAX_ID, description="Changes to this entity.")
    ] = None,
    since: Annotated[
        str | None,
        Query(max_length=40, description="ISO 8601 time or date.", examples=["2026-01-01"]),
    ] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> AuditOut:
    """Who changed what, when, from which submission (append-only; reviewers and admins)."""
    try:
        page = store.audit(entity, since, cursor, limit, principal.clearance)
    except HistoryUnavailableError as error:
        raise ApiProblem(409, "no-audit", str(error)) from None
    except ValueError as error:
        if "cursor" in str(error):
            raise invalid_cursor() from None
        raise ApiProblem(422, "invalid-time", f"since: {error}") from None
    return AuditOut(items=[e.as_dict() for e in page.items], next_cursor=page.next_cursor)
