"""Bad input of every sort answers an RFC 9457 problem, never a 500."""

from __future__ import annotations

import httpx
import pytest

from keten.api.keys import Role
from tests.api.conftest import Api

PROBLEM_MEMBERS = {"type", "title", "status", "detail"}


@pytest.fixture(scope="module")
def admin(shared_api: Api) -> httpx.Client:
    """An admin of red clearance on the module's API (every request here is refused)."""
    return shared_api.client(Role.ADMIN)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/entities", {"params": {"limit": -1}}, 422),
        ("GET", "/entities", {"params": {"limit": 0}}, 422),
        ("GET", "/entities", {"params": {"limit": 10**30}}, 422),
        ("GET", "/entities", {"params": {"limit": "ten"}}, 422),
        ("GET", "/entities", {"params": {"kind": "Dragon"}}, 422),
        ("GET", "/entities", {"params": {"cursor": "not-a-cursor"}}, 422),
        ("GET", "/relations", {"params": {"cursor": "W10="}}, 422),
        ("GET", "/entities/" + "x" * 5000, {}, 422),
        ("GET", "/entities/vp:none", {}, 404),
        ("GET", "/entities/vp:water/neighbourhood", {"params": {"depth": 6}}, 422),
        ("GET", "/relations", {"params": {"source": "s" * 201}}, 422),
        ("DELETE", "/relations", {"params": {"source": "a", "target": "b"}}, 422),
        (
            "POST",
            "/entities",
            {"content": b'{"id": ', "headers": {"content-type": "application/json"}},
            400,
        ),
        (
            "POST",
            "/ingest",
            {"content": b"[1, 2", "headers": {"content-type": "application/json"}},
            400,
        ),
        ("POST", "/ingest", {"json": [1, 2]}, 422),
        ("POST", "/entities", {"json": {"id": "a b", "kind": "Threat", "name": "x"}}, 422),
        ("POST", "/entities", {"json": {"id": "t:x" * 100, "kind": "Threat", "name": "x"}}, 422),
        ("POST", "/analysis/cascade", {"json": {"sources": []}}, 422),
        ("POST", "/analysis/cascade", {"json": {"sources": ["vp:power"], "limit": -5}}, 422),
        ("POST", "/analysis/cascade", {"json": {"sources": ["x" * 100_000]}}, 422),
        ("POST", "/analysis/cascade", {"json": {"sources": ["vp:none"]}}, 404),
        ("PUT", "/entities", {}, 405),
        ("GET", "/no/such/route", {}, 404),
    ],
)
def test_bad_input_answers_a_problem(
    admin: httpx.Client, method: str, path: str, kwargs: dict, status: int
) -> None:
    answer = admin.request(method, path, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert set(body) >= PROBLEM_MEMBERS
    assert body["status"] == status
    assert body["type"].startswith("https://")
