"""Entities: list with filters and cursor paging, get, upsert, delete, neighbourhood.

Every read passes the caller's clearance to the store, so an entity marked above it is
answered exactly like one that does not exist. A write merges into what is stored (fields
left out are kept, a null removes one); `?mode=replace` replaces the whole record. Reads
give an `ETag` and writes honour `If-Match`, so a write never overwrites unseen changes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response

from keten.api.answers import json_answer
from keten.api.deps import (
    MAX_ID,
    AdminDep,
    AsOfQuery,
    ContributorDep,
    CursorQuery,
    LimitQuery,
    ReaderDep,
    StoreDep,
)
from keten.api.preconditions import IfMatch, check_entity, entity_precondition, revision_tag
from keten.api.problems import ApiProblem, invalid_cursor, responses
from keten.api.schemas import ENTITY_EXAMPLE, EntityDeleted, EntityPage, Neighbourhood, Record
from keten.api.writes import ModeQuery, attribution, write_bundle
from keten.graph.store import EntityFilter, HasRelationsError, HistoryUnavailableError, etag
from keten.schema.entities import AnyEntity
from keten.schema.kinds import EntityKind
from keten.schema.markings import Tlp

router = APIRouter(prefix="/entities", tags=["entities"], responses=responses(401, 403, 422))

EntityIdPath = Annotated[str, Path(min_length=1, max_length=MAX_ID, examples=["vp:drinking-water"])]


def not_found(entity_id: str) -> ApiProblem:
    """The 404 for an id that is unknown or above the caller's clearance."""
    return ApiProblem(404, "not-found", f"no entity {entity_id!r}")


@router.get("", response_model=EntityPage)
def read_entities(
    store: StoreDep,
    principal: ReaderDep,
    kind: Annotated[EntityKind | None, Query(description="Only this kind.")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in the name or an alias.")
    ] = None,
    marking: Annotated[Tlp | None, Query(description="Only records with this marking.")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
    as_of: AsOfQuery = None,
) -> Response:
    """Entities ordered by id, one page at a time."""
    flt = EntityFilter(
        kind=kind,
        text=q,
        marking=marking,
        clearance=principal.clearance,
        as_of=as_of.isoformat() if as_of else None,
    )
    try:
        page = store.list_entities(flt, cursor=cursor, limit=limit)
    except HistoryUnavailableError as error:
        raise ApiProblem(409, "no-history", str(error)) from None
    except ValueError:
        raise invalid_cursor() from None
    answer = EntityPage(items=[e.as_record() for e in page.items], next_cursor=page.next_cursor)
    return json_answer(answer, {"ETag": revision_tag(store.revision(principal.clearance))})


@router.get("/{entity_id}", response_model=Record, responses=responses(404))
def read_entity(entity_id: EntityIdPath, store: StoreDep, principal: ReaderDep) -> Response:
    """One entity with all its properties; its `ETag` serves `If-Match` on a later write."""
    entity = store.get_entity(entity_id, principal.clearance)
    if entity is None:
        raise not_found(entity_id)
    record = entity.as_record()
    return json_answer(record, {"ETag": etag(record)})


@router.post(
    "",
    status_code=201,
    response_model=Record,
    responses={200: {"description": "Updated or unchanged"}, **responses(400, 412, 413)},
)
def upsert_entity(
    entity: Annotated[AnyEntity, Body(examples=[ENTITY_EXAMPLE])],
    store: StoreDep,
    principal: ContributorDep,
    mode: ModeQuery = "merge",
    if_match: IfMatch = None,
) -> Response:
    """Create an entity (201) or merge into the stored one (200): fields left out are kept,
    a null removes one; `mode=replace` makes the record as given the whole record."""
    entity_id = str(entity["id"])
    precondition = entity_precondition(store, entity_id, principal.clearance, if_match)
    report = write_bundle(store, principal, {"entities": [dict(entity)]}, mode, precondition)
    stored = store.get_entity(entity_id, principal.clearance)
    assert stored is not None, "an entity just written is visible to its writer"
    answer = stored.as_record()
    status = 201 if report.counts.entities_created else 200
    return json_answer(answer, {"ETag": etag(answer)}, status)


@router.delete("/{entity_id}", responses=responses(404, 409, 412))
def delete_entity(
    entity_id: EntityIdPath,
    store: StoreDep,
    principal: AdminDep,
    cascade: Annotated[
        bool, Query(description="Delete the relations that hang on it too (else 409).")
    ] = False,
    if_match: IfMatch = None,
) -> EntityDeleted:
    """Delete an entity; with `cascade`, the relations that touch it too (listed in the
    answer). Its history stays: `as_of` earlier times and the audit trail still show it."""
    if if_match is not None:
        check_entity(store, entity_id, principal.clearance, if_match)
    by = attribution(principal, "delete")
    try:
        removed = store.delete_entity(entity_id, principal.clearance, cascade, by.actor)
    except HasRelationsError as error:
        raise ApiProblem(409, "has-relations", str(error)) from None
    if removed is None:
        raise not_found(entity_id)
    return EntityDeleted(deleted=entity_id, relations_removed=[r.as_record() for r in removed])


@router.get("/{entity_id}/neighbourhood", response_model=Neighbourhood, responses=responses(404))
def read_neighbourhood(
    entity_id: EntityIdPath,
    store: StoreDep,
    principal: ReaderDep,
    depth: Annotated[int, Query(ge=1, le=5, description="Hops, either direction.")] = 1,
    limit: Annotated[int, Query(ge=1, le=5000, description="At most this many entities.")] = 500,
) -> Response:
    """Entities within `depth` hops of an entity and the relations among them."""
    entities, relations = store.neighbourhood(entity_id, depth, principal.clearance, limit)
    if not entities:
        raise not_found(entity_id)
    answer = Neighbourhood(
        center=entity_id,
        depth=depth,
        entities=[e.as_record() for e in entities],
        relations=[r.as_record() for r in relations],
    )
    return json_answer(answer)
