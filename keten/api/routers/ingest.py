"""`POST /ingest`: a whole bundle, loaded all-or-nothing with the same checks as `keten load`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from keten.api.bodies import refuse_huge_integers
from keten.api.clearance import check_items_write
from keten.api.deps import ContributorDep, StoreDep
from keten.api.preconditions import IfMatchRevision, revision_precondition
from keten.api.problems import responses
from keten.api.schemas import ENTITY_EXAMPLE, RELATION_EXAMPLE, IngestReport
from keten.api.writes import ModeQuery, attribution, write_bundle
from keten.graph.store import WriteMode
from keten.ingest import load_items
from keten.ingest.stix import read_stix_bundle
from keten.schema.kinds import EntityKind

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


STIX_SCHEMA = {
    "type": "object",
    "required": ["type", "id", "objects"],
    "properties": {
        "type": {"const": "bundle"},
        "id": {"type": "string", "pattern": "^bundle--"},
        "objects": {"type": "array", "items": {"type": "object"}},
    },
    "examples": [
        {
            "type": "bundle",
            "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
            "objects": [
                {
                    "type": "attack-pattern",
                    "spec_version": "2.1",
                    "id": "attack-pattern--7e33a43e-e34b-40ec-89da-36c9bb2cacd5",
                    "created": "2020-03-02T18:45:07.892Z",
                    "modified": "2024-10-15T16:42:11.122Z",
                    "name": "Phishing",
                    "external_references": [
                        {"source_name": "mitre-attack", "external_id": "T1566"}
                    ],
                }
            ],
        }
    ],
}


@router.post(
    "/ingest/stix",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": STIX_SCHEMA}}}
    },
)
def ingest_stix(
    bundle: Annotated[dict[str, Any], Body()],
    store: StoreDep,
    principal: ContributorDep,
    dry_run: Annotated[bool, Query(description="Validate and count, write nothing.")] = False,
    mode: ModeQuery = "merge",
    if_match: IfMatchRevision = None,
) -> IngestReport:
    """Load a STIX 2.1 bundle (threat intelligence: actors, campaigns, capabilities,
    vulnerabilities, countermeasures and their relationships), all or nothing, like
    `keten load feed.json`.

    The answer counts what was written and lists in `not_kept` every object or relationship
    keten left out, by STIX type and reason (revoked, no keten kind, an end not kept); it is
    worked out from the bundle alone. A bundle with broken objects is refused with a 422
    problem naming each (`objects[i]`)."""
    refuse_huge_integers(bundle, "body")
    items = list(read_stix_bundle(bundle, "body"))
    check_items_write(principal.clearance, items)
    precondition = revision_precondition(store, principal.clearance, if_match)
    by = attribution(principal)
    report = load_items(
        store, items, dry_run, by=by, mode=WriteMode(mode), precondition=precondition, origin="body"
    )
    return IngestReport(**report.as_dict())
