"""`POST /ingest`: a whole bundle, loaded all-or-nothing with the same checks as `keten load`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from keten.api.deps import ContributorDep, StoreDep
from keten.api.preconditions import IfMatchRevision, revision_precondition
from keten.api.problems import responses
from keten.api.schemas import ENTITY_EXAMPLE, RELATION_EXAMPLE, IngestReport
from keten.api.writes import ModeQuery, write_bundle
from keten.schema.entities import EntityKind

router = APIRouter(tags=["ingest"], responses=responses(400, 401, 403, 412, 413, 422))

BUNDLE_EXAMPLE = {
    "entities": [
        ENTITY_EXAMPLE,
        {"id": "vp:electricity-transmission", "kind": "VitalProcess", "name": "Transmission"},
    ],
    "relations": [RELATION_EXAMPLE],
}
BUNDLE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "entities": {
            "type": "array",
            "items": {"oneOf": [{"$ref": f"#/components/schemas/{k.value}"} for k in EntityKind]},
        },
        "relations": {"type": "array", "items": {"$ref": "#/components/schemas/Relation"}},
    },
    "examples": [BUNDLE_EXAMPLE],
}


@router.post(
    "/ingest",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": BUNDLE_SCHEMA}},
        }
    },
)
def ingest_bundle(
    bundle: Annotated[dict[str, Any], Body()],
    store: StoreDep,
    principal: ContributorDep,
    dry_run: Annotated[bool, Query(description="Validate and count, write nothing.")] = False,
    mode: ModeQuery = "merge",
    if_match: IfMatchRevision = None,
) -> IngestReport:
    """Validate and load a bundle `{"entities": [...], "relations": [...]}`.

    Either every record lands or none does: a bundle with any bad record is refused with a
    422 problem whose `errors` name each bad record (where, field, value, why). Records
    merge into what is stored; the answer counts new, changed and unchanged records and
    lists the fields that changed. `If-Match: "rev-N"` (a listing's ETag) writes only if
    nothing the key can see changed since.
    """
    precondition = revision_precondition(store, principal.clearance, if_match)
    report = write_bundle(store, principal, bundle, mode, precondition, dry_run)
    return IngestReport(**report.as_dict())
