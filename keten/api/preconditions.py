"""Conditional writes: `If-Match` with an entity tag from a read, so nothing is overwritten unseen.

Reads of one record answer with its `ETag` (a hash of the record as the key sees it); a
listing answers with the revision its key sees as `"rev-N"`. A write that sends `If-Match`
goes ahead only if the record (or the revision) is still what the writer saw; the check runs
inside the write transaction, where no other write can come between. A stale write gets
412 problem details; `If-Match: *` asks only that the record exists.

>>> matches('"a", "b"', '"b"'), matches("*", '"b"'), matches("*", None), matches('"a"', '"b"')
(True, True, False, False)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from keten.api.problems import ApiProblem
from keten.graph.store import GraphStore, Ref, etag
from keten.ingest.loader import Precondition
from keten.schema.markings import Tlp

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=2000,
        description="Write only if the record still has this ETag (from a read), or `*`.",
    ),
]
IfMatchRevision = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=200,
        description='Write only if the revision the key sees is still this (`"rev-N"`).',
    ),
]


def revision_tag(revision: int) -> str:
    """The entity tag of a revision, as listings give it."""
    return f'"rev-{revision}"'


def matches(if_match: str, current: str | None) -> bool:
    """Whether an `If-Match` value holds for the current tag (None: no such record)."""
    if if_match.strip() == "*":
        return current is not None
    return current is not None and current in {tag.strip() for tag in if_match.split(",")}


def stale(detail: str) -> ApiProblem:
    """The 412 problem of a write whose precondition no longer holds."""
    return ApiProblem(412, "precondition-failed", detail)


def check_entity(store: GraphStore, entity_id: str, clearance: Tlp, if_match: str) -> None:
    """Raise 412 unless the entity, as the key sees it, still has a tag `if_match` names."""
    current = store.get_entity(entity_id, clearance)
    if not matches(if_match, etag(current.as_record()) if current else None):
        raise stale(f"{entity_id} has changed since it was read (If-Match: {if_match})")


def check_relation(store: GraphStore, ref: Ref, clearance: Tlp, if_match: str) -> None:
    """Raise 412 unless the relation, as the key sees it, still has a tag `if_match` names."""
    current = store.get_relation(ref, clearance)
    if not matches(if_match, etag(current.as_record()) if current else None):
        raise stale(f"the relation has changed since it was read (If-Match: {if_match})")


def check_revision(store: GraphStore, clearance: Tlp, if_match: str) -> None:
    """Raise 412 unless the revision the key sees is still the one `if_match` names."""
    if not matches(if_match, revision_tag(store.revision(clearance))):
        raise stale(f"the store has changed since {if_match}")


def entity_precondition(
    store: GraphStore, entity_id: str, clearance: Tlp, if_match: str | None
) -> Precondition | None:
    """`check_entity` run inside the write transaction, or None for an unconditional write."""
    if if_match is None:
        return None
    return lambda _writer: check_entity(store, entity_id, clearance, if_match)


def relation_precondition(
    store: GraphStore, ref: Ref, clearance: Tlp, if_match: str | None
) -> Precondition | None:
    """`check_relation` run inside the write transaction, or None."""
    if if_match is None:
        return None
    return lambda _writer: check_relation(store, ref, clearance, if_match)


def revision_precondition(
    store: GraphStore, clearance: Tlp, if_match: str | None
) -> Precondition | None:
    """`check_revision` run inside the write transaction, or None."""
    if if_match is None:
        return None
    return lambda _writer: check_revision(store, clearance, if_match)
