"""`GET /health`: the one open route, for load balancers and compose healthchecks."""

from __future__ import annotations

from fastapi import APIRouter, Response

from keten.api.answers import json_answer
from keten.api.deps import StoreDep
from keten.api.schemas import Health
from keten.schema.markings import Tlp

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def read_health(store: StoreDep) -> Response:
    """Liveness: answers without a key, with the store's name and its revision as anyone may
    see it (writes of records marked above clear do not move it)."""
    return json_answer(Health(status="ok", store=store.name, revision=store.revision(Tlp.CLEAR)))
