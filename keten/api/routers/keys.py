"""`/keys`: admins make, list and revoke API keys (secrets are shown once, at creation).

An admin works only with keys at or below its own clearance: it cannot grant more than it
has, and a key above its clearance is absent from its listing and answers its revocation
exactly like a key that does not exist, so an amber admin learns nothing of red keys.
Keys that write (contributor, reviewer, admin) need clearance green or higher.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from keten.api.deps import AdminDep, KeyStoreDep
from keten.api.keys import KeyInfo, Principal, grant_problem
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


def within_clearance(info: KeyInfo | None, principal: Principal) -> KeyInfo | None:
    """`info` when the caller's clearance covers the key's, else None (as if absent)."""
    return info if info is not None and principal.clearance.allows(info.clearance) else None


@router.post("", status_code=201)
def create_key(request: KeyRequest, keys: KeyStoreDep, principal: AdminDep) -> KeyCreated:
    """Make a key; its clearance may not exceed the caller's, and a key that writes
    (contributor, reviewer, admin) needs clearance green or higher.
    """
    if not principal.clearance.allows(request.clearance):
        detail = f"cannot grant {request.clearance.value} with a {principal.clearance.value} key"
        raise ApiProblem(403, "above-clearance", detail)
    problem = grant_problem(request.role, request.clearance)
    if problem:
        errors = [{"where": "body", "field": "clearance", "why": problem}]
        raise ApiProblem(422, "writer-clearance", problem, errors)
    new = keys.create(request.role, request.clearance, request.label)
    return KeyCreated(**key_out(new.info).model_dump(), key=new.secret)


@router.get("")
def read_keys(keys: KeyStoreDep, principal: AdminDep) -> list[KeyOut]:
    """Every key at or below the caller's clearance, revoked ones included, without secrets."""
    return [key_out(info) for info in keys.list() if within_clearance(info, principal)]


@router.delete("/{key_id}", responses=responses(404))
def revoke_key(
    key_id: Annotated[str, Path(max_length=64)], keys: KeyStoreDep, principal: AdminDep
) -> KeyOut:
    """Revoke a key at once (it answers 401 from the next request on, and its browser
    sessions end); a key above the caller's clearance answers 404 like an unknown one.
    """
    info = within_clearance(keys.get(key_id), principal)
    if info is None or not keys.revoke(key_id):
        raise ApiProblem(404, "not-found", f"no active key {key_id!r}")
    return key_out(keys.get(key_id) or info)
