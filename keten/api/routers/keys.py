"""`/keys`: admins make, list and revoke API keys (secrets are shown once, at creation)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from keten.api.deps import AdminDep, KeyStoreDep
from keten.api.keys import KeyInfo
from keten.api.problems import ApiProblem, responses
from keten.api.schemas import KeyCreated, KeyOut, KeyRequest

router = APIRouter(prefix="/keys", tags=["keys"], responses=responses(401, 403, 422))


def key_out(info: KeyInfo) -> KeyOut:
    """The public view of a stored key."""
    return KeyOut(
        key_id=info.key_id,
        role=info.role,
        clearance=info.clearance,
        label=info.label,
        created_at=info.created_at,
        revoked_at=info.revoked_at,
    )


@router.post("", status_code=201)
def create_key(request: KeyRequest, keys: KeyStoreDep, principal: AdminDep) -> KeyCreated:
    """Make a key; its clearance may not exceed the caller's."""
    if not principal.clearance.allows(request.clearance):
        detail = f"cannot grant {request.clearance.value} with a {principal.clearance.value} key"
        raise ApiProblem(403, "above-clearance", detail)
    new = keys.create(request.role, request.clearance, request.label)
    return KeyCreated(**key_out(new.info).model_dump(), key=new.secret)


@router.get("")
def read_keys(keys: KeyStoreDep, principal: AdminDep) -> list[KeyOut]:
    """Every key, revoked ones included, without secrets."""
    return [key_out(info) for info in keys.list()]


@router.delete("/{key_id}", responses=responses(404))
def revoke_key(
    key_id: Annotated[str, Path(max_length=64)], keys: KeyStoreDep, principal: AdminDep
) -> KeyOut:
    """Revoke a key at once; it answers 401 from the next request on."""
    if not keys.revoke(key_id):
        raise ApiProblem(404, "not-found", f"no active key {key_id!r}")
    return next(key_out(info) for info in keys.list() if info.key_id == key_id)
