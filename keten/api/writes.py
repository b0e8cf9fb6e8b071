"""What every writing route shares: the clearance check, who writes, and how.

A write by key `kt_<id>_...` is attributed to `key:<id>` in the audit trail, and it merges
into the store unless the caller asks for `mode=replace`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query

from keten.api.clearance import check_bundle_write
from keten.api.keys import Principal
from keten.graph.store import GraphStore, WriteMode
from keten.ingest import Attribution, LoadReport, load_bundle
from keten.ingest.loader import Precondition

ModeQuery = Annotated[
    Literal["merge", "replace"],
    Query(
        description="merge: update the fields given, keep the others (null removes one); "
        "replace: the record as given becomes the whole record (audited as such)."
    ),
]


def who(principal: Principal) -> str:
    """How a key appears in provenance and the audit trail."""
    return f"key:{principal.key_id}"


def attribution(
    principal: Principal, action: str = "write", submission: str | None = None
) -> Attribution:
    """The audit trail's actor and action for a key's write, within the key's clearance."""
    return Attribution(who(principal), action, submission, principal.clearance)


def write_bundle(
    store: GraphStore,
    principal: Principal,
    bundle: Any,
    mode: str = "merge",
    precondition: Precondition | None = None,
    dry_run: bool = False,
) -> LoadReport:
    """Check a key's bundle against its clearance, then load it (all or nothing)."""
    check_bundle_write(principal.clearance, bundle, "body")
    by = attribution(principal)
    return load_bundle(store, bundle, dry_run, "body", by, WriteMode(mode), precondition)
