"""Relations: list with filters and cursor paging, upsert, delete by identity.

A relation is hidden from a key when it, or either of its endpoints, is marked above the
key's clearance. Writes merge like entity writes, and honour `If-Match`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from keten.api.answers import json_answer
from keten.api.deps import (
    MAX_ID,
    AdminDep,
    AsOfQuery,
    ContributorDep,
    CursorQuery,
    EntityIdQuery,
    LimitQuery,
    ReaderDep,
    StoreDep,
)
from keten.api.preconditions import IfMatch, check_relation, relation_precondition, revision_tag
from keten.api.problems import ApiProblem, invalid_cursor, responses
from keten.api.schemas import RELATION_EXAMPLE, Record, RelationDeleted, RelationPage
from keten.api.writes import ModeQuery, attribution, write_bundle
from keten.graph.store import HistoryUnavailableError, RelationFilter, etag
from keten.schema.markings import Tlp
from keten.schema.relation_record import Relation
from keten.schema.relations import RelationType

router = APIRouter(prefix="/relations", tags=["relations"], responses=responses(401, 403, 422))

OptionalId = Annotated[str | None, Query(min_length=1, max_length=MAX_ID)]


@router.get("", response_model=RelationPage)
def read_relations(
    store: StoreDep,
    principal: ReaderDep,
    type: Annotated[RelationType | None, Query(description="Only this type.")] = None,
    source: OptionalId = None,
    target: OptionalId = None,
    marking: Annotated[Tlp | None, Query(description="Only records with this marking.")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
    as_of: AsOfQuery = None,
) -> Response:
    """Relations ordered by (source, type, target, key), one page at a time."""
    flt = RelationFilter(
        type=type,
        source=source,
        target=target,
        marking=marking,
        clearance=principal.clearance,
        as_of=as_of.isoformat() if as_of else None,
    )
    try:
        page = store.list_relations(flt, cursor=cursor, limit=limit)
    except HistoryUnavailableError as error:
        raise ApiProblem(409, "no-history", str(error)) from None
    except ValueError:
        raise invalid_cursor() from None
    answer = RelationPage(items=[r.as_record() for r in page.items], next_cursor=page.next_cursor)
    return json_answer(answer, {"ETag": revision_tag(store.revision(principal.clearance))})


@router.post(
    "",
    status_code=201,
    response_model=Record,
    responses={200: {"description": "Updated or unchanged"}, **responses(400, 412, 413)},
)
def upsert_relation(
    relation: Annotated[Relation, Body(examples=[RELATION_EXAMPLE])],
    store: StoreDep,
    principal: ContributorDep,
    mode: ModeQuery = "merge",
    if_match: IfMatch = None,
) -> Response:
    """Create a relation (201) or merge into the stored one (200); both ends must exist."""
    ref = (relation["source"], relation["type"], relation["target"], relation.get("key") or "")
    precondition = relation_precondition(store, ref, principal.clearance, if_match)
    report = write_bundle(store, principal, {"relations": [dict(relation)]}, mode, precondition)
    stored = store.get_relation(ref, principal.clearance)
    assert stored is not None, "a relation just written is visible to its writer"
    answer = stored.as_record()
    status = 201 if report.counts.relations_created else 200
    return json_answer(answer, {"ETag": etag(answer)}, status)


@router.delete("", responses=responses(404, 412))
def delete_relation(
    store: StoreDep,
    principal: AdminDep,
    source: EntityIdQuery,
    type: RelationType,
    target: EntityIdQuery,
    key: Annotated[str, Query(max_length=MAX_ID)] = "",
    if_match: IfMatch = None,
) -> RelationDeleted:
    """Delete one relation, identified by source, type, target and key (history kept)."""
    ref = (source, type.value, target, key)
    if if_match is not None:
        check_relation(store, ref, principal.clearance, if_match)
    actor = attribution(principal, "delete").actor
    relation = store.delete_relation(ref, principal.clearance, actor)
    if relation is None:
        raise ApiProblem(404, "not-found", f"no relation {source} -[{type.value}]-> {target}")
    return RelationDeleted(deleted=relation.as_record())
