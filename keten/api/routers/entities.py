"""Entities: list with filters and cursor paging, get, upsert, delete, neighbourhood.

Every read passes the caller's clearance to the store, so an entity marked above it is
answered exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response

from keten.api.clearance import check_bundle_write, count_relations_of
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
from keten.api.problems import ApiProblem, invalid_cursor, responses
from keten.api.schemas import ENTITY_EXAMPLE, EntityDeleted, EntityPage, Neighbourhood, Record
from keten.graph.store import EntityFilter, GraphStore, HistoryUnavailableError
from keten.ingest import load_bundle
from keten.schema.entities import AnyEntity, EntityKind
from keten.schema.markings import Tlp

router = APIRouter(prefix="/entities", tags=["entities"], responses=responses(401, 403, 422))

EntityIdPath = Annotated[str, Path(min_length=1, max_length=MAX_ID, examples=["vp:drinking-water"])]


def not_found(entity_id: str) -> ApiProblem:
    """The 404 for an id that is unknown or above the caller's clearance."""
    return ApiProblem(404, "not-found", f"no entity {entity_id!r}")


@router.get("")
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
) -> EntityPage:
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
    return EntityPage(items=[e.as_record() for e in page.items], next_cursor=page.next_cursor)


@router.get("/{entity_id}", responses=responses(404))
def read_entity(entity_id: EntityIdPath, store: StoreDep, principal: ReaderDep) -> Record:
    """One entity with all its properties."""
    entity = store.get_entity(entity_id, principal.clearance)
    if entity is None:
        raise not_found(entity_id)
    return entity.as_record()


@router.post(
    "",
    status_code=201,
    responses={200: {"description": "Updated or unchanged"}, **responses(400, 413)},
)
def upsert_entity(
    entity: Annotated[AnyEntity, Body(examples=[ENTITY_EXAMPLE])],
    store: StoreDep,
    principal: ContributorDep,
    response: Response,
) -> Record:
    """Create or update one entity (201 when created, 200 otherwise), validated like a bundle."""
    return write_entity(store, principal.clearance, dict(entity), response)


def write_entity(
    store: GraphStore, clearance: Tlp, entity: dict[str, Any], response: Response
) -> Record:
    """Check, load and read back one entity."""
    bundle = {"entities": [entity]}
    check_bundle_write(store, clearance, bundle, "body")
    report = load_bundle(store, bundle, name="body")
    if not report.counts.entities_created:
        response.status_code = 200
    stored = store.get_entity(entity["id"], clearance)
    assert stored is not None, "an entity just written is visible to its writer"
    return stored.as_record()


@router.delete("/{entity_id}", responses=responses(404))
def delete_entity(entity_id: EntityIdPath, store: StoreDep, principal: AdminDep) -> EntityDeleted:
    """Delete an entity and every relation that touches it; answers with those relations."""
    if store.get_entity(entity_id, principal.clearance) is None:
        raise not_found(entity_id)
    if count_relations_of(store, entity_id) != count_relations_of(
        store, entity_id, principal.clearance
    ):
        detail = "relations of this entity are marked above the key's clearance"
        raise ApiProblem(403, "above-clearance", detail)
    removed = store.delete_entity(entity_id) or []
    return EntityDeleted(deleted=entity_id, relations_removed=[r.as_record() for r in removed])


@router.get("/{entity_id}/neighbourhood", responses=responses(404))
def read_neighbourhood(
    entity_id: EntityIdPath,
    store: StoreDep,
    principal: ReaderDep,
    depth: Annotated[int, Query(ge=1, le=5, description="Hops, either direction.")] = 1,
    limit: Annotated[int, Query(ge=1, le=5000, description="At most this many entities.")] = 500,
) -> Neighbourhood:
    """Entities within `depth` hops of an entity and the relations among them."""
    entities, relations = store.neighbourhood(entity_id, depth, principal.clearance, limit)
    if not entities:
        raise not_found(entity_id)
    return Neighbourhood(
        center=entity_id,
        depth=depth,
        entities=[e.as_record() for e in entities],
        relations=[r.as_record() for r in relations],
    )
