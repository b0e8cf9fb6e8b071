"""Relations: list with filters and cursor paging, upsert, delete by identity.

A relation is hidden from a key when it, or either of its endpoints, is marked above the
key's clearance.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from keten.api.clearance import check_bundle_write
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
from keten.api.problems import ApiProblem, invalid_cursor, responses
from keten.api.schemas import RELATION_EXAMPLE, Record, RelationDeleted, RelationPage
from keten.graph.store import HistoryUnavailableError, RelationFilter
from keten.ingest import load_bundle
from keten.schema.markings import Tlp
from keten.schema.relations import Relation, RelationType

router = APIRouter(prefix="/relations", tags=["relations"], responses=responses(401, 403, 422))

OptionalId = Annotated[str | None, Query(min_length=1, max_length=MAX_ID)]


@router.get("")
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
) -> RelationPage:
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
    return RelationPage(items=[r.as_record() for r in page.items], next_cursor=page.next_cursor)


@router.post(
    "",
    status_code=201,
    responses={200: {"description": "Updated or unchanged"}, **responses(400, 413)},
)
def upsert_relation(
    relation: Annotated[Relation, Body(examples=[RELATION_EXAMPLE])],
    store: StoreDep,
    principal: ContributorDep,
    response: Response,
) -> Record:
    """Create or update one relation (201 when created, 200 otherwise); both ends must exist."""
    bundle = {"relations": [dict(relation)]}
    check_bundle_write(store, principal.clearance, bundle, "body")
    report = load_bundle(store, bundle, name="body")
    if not report.counts.relations_created:
        response.status_code = 200
    ref = (relation["source"], relation["type"], relation["target"], relation.get("key") or "")
    stored = store.get_relation(ref, principal.clearance)
    assert stored is not None, "a relation just written is visible to its writer"
    return stored.as_record()


@router.delete("", responses=responses(404))
def delete_relation(
    store: StoreDep,
    principal: AdminDep,
    source: EntityIdQuery,
    type: RelationType,
    target: EntityIdQuery,
    key: Annotated[str, Query(max_length=MAX_ID)] = "",
) -> RelationDeleted:
    """Delete one relation, identified by source, type, target and key."""
    ref = (source, type.value, target, key)
    relation = store.get_relation(ref, principal.clearance)
    if relation is None or not store.delete_relation(ref):
        raise ApiProblem(404, "not-found", f"no relation {source} -[{type.value}]-> {target}")
    return RelationDeleted(deleted=relation.as_record())
