"""Keys: missing, malformed, unknown and revoked keys are refused; roles are cumulative."""

from __future__ import annotations

import httpx
import pytest

from keten.api.keys import Role
from keten.schema.markings import Tlp
from tests.api.conftest import Api


def test_health_is_open_and_reports_the_store(api: Api) -> None:
    answer = httpx.get(f"{api.url}/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "store": "sqlite", "revision": api.store.revision()}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "kt_000000000000_nope"},
        {"X-API-Key": "not-a-key"},
        {"Authorization": "Bearer kt_abc"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_requests_without_a_valid_key_get_401_problems(api: Api, headers: dict[str, str]) -> None:
    answer = httpx.get(f"{api.url}/entities", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 401


def test_a_key_works_as_bearer_and_as_x_api_key(api: Api) -> None:
    key = api.key(Role.READER)
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        assert httpx.get(f"{api.url}/entities", headers=headers).status_code == 200


def test_a_forged_secret_with_a_real_key_id_is_refused(api: Api) -> None:
    key = api.key(Role.ADMIN)
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    answer = httpx.get(f"{api.url}/entities", headers={"X-API-Key": forged})
    assert answer.status_code == 401


def test_a_revoked_key_is_refused_from_the_next_request_on(api: Api) -> None:
    admin = api.client(Role.ADMIN)
    created = admin.post("/keys", json={"role": "reader", "clearance": "green"}).json()
    headers = {"X-API-Key": created["key"]}
    assert httpx.get(f"{api.url}/entities", headers=headers).status_code == 200
    assert admin.delete(f"/keys/{created['key_id']}").json()["revoked_at"]
    assert httpx.get(f"{api.url}/entities", headers=headers).status_code == 401
    assert admin.delete(f"/keys/{created['key_id']}").status_code == 404


def test_roles_are_cumulative(api: Api) -> None:
    entity = {"id": "vp:new", "kind": "VitalProcess", "name": "New"}
    reader, contributor = api.client(Role.READER), api.client(Role.CONTRIBUTOR)
    reviewer, admin = api.client(Role.REVIEWER), api.client(Role.ADMIN)
    assert reader.post("/entities", json=entity).status_code == 403
    assert contributor.post("/entities", json=entity).status_code == 201
    assert reviewer.post("/entities", json=entity).status_code == 200
    assert reviewer.delete("/entities/vp:new").status_code == 403
    assert contributor.get("/keys").status_code == 403
    assert admin.get("/entities/vp:new").status_code == 200
    assert admin.delete("/entities/vp:new").status_code == 200


def test_keys_are_stored_hashed_and_listed_without_secrets(api: Api) -> None:
    admin = api.client(Role.ADMIN)
    created = admin.post("/keys", json={"role": "contributor", "clearance": "amber"}).json()
    assert created["key"].startswith(f"kt_{created['key_id']}_")
    raw = b"".join(p.read_bytes() for p in api.keys.path.parent.glob("keys.sqlite*"))
    assert created["key"].encode() not in raw
    assert created["key"].split("_", 2)[2].encode() not in raw
    listed = {k["key_id"]: k for k in admin.get("/keys").json()}
    assert listed[created["key_id"]]["clearance"] == "amber"
    assert "key" not in listed[created["key_id"]]


def test_an_admin_cannot_grant_more_than_its_own_clearance(api: Api) -> None:
    admin = api.client(Role.ADMIN, Tlp.GREEN)
    assert admin.post("/keys", json={"role": "reader", "clearance": "amber"}).status_code == 403
    assert admin.post("/keys", json={"role": "reader", "clearance": "green"}).status_code == 201


def test_an_admin_sees_and_revokes_only_keys_within_its_clearance(api: Api) -> None:
    red = api.keys.create(Role.READER, Tlp.RED, label="red").info.key_id
    amber = api.keys.create(Role.READER, Tlp.AMBER, label="amber").info.key_id
    green = api.keys.create(Role.CONTRIBUTOR, Tlp.GREEN, label="green").info.key_id
    admin = api.client(Role.ADMIN, Tlp.AMBER)
    listed = {k["key_id"]: k["clearance"] for k in admin.get("/keys").json()}
    assert red not in listed
    assert listed[amber] == "amber" and listed[green] == "green"
    assert all(Tlp.AMBER.allows(clearance) for clearance in listed.values())

    hidden = admin.delete(f"/keys/{red}")
    unknown = admin.delete("/keys/000000000000")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.headers["content-type"] == unknown.headers["content-type"]
    assert hidden.json() == {**unknown.json(), "detail": f"no active key {red!r}"}
    assert api.keys.get(red).revoked_at is None  # type: ignore[union-attr]
    assert admin.delete(f"/keys/{amber}").json()["revoked_at"]
    assert admin.delete(f"/keys/{green}").status_code == 200
    red_admin = api.client(Role.ADMIN, Tlp.RED)
    assert red in {k["key_id"] for k in red_admin.get("/keys").json()}
    assert red_admin.delete(f"/keys/{red}").status_code == 200


@pytest.mark.parametrize("role", ["contributor", "reviewer", "admin"])
def test_keys_that_write_cannot_be_made_with_clearance_clear(api: Api, role: str) -> None:
    admin = api.client(Role.ADMIN, Tlp.RED)
    for body in ({"role": role, "clearance": "clear"}, {"role": role}):
        answer = admin.post("/keys", json=body)
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert "needs clearance green or higher" in problem["detail"]
        assert "share one id namespace" in problem["detail"]
        assert problem["errors"] == [
            {"where": "body", "field": "clearance", "why": problem["detail"]}
        ]
    assert admin.post("/keys", json={"role": role, "clearance": "green"}).status_code == 201
    assert admin.post("/keys", json={"role": "reader", "clearance": "clear"}).status_code == 201
