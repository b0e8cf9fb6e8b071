"""Failed keys are rate limited per client address and per key id, on a real server.

Clients on other loopback addresses (127.0.0.x) stand for other machines: the server counts
failures per address it sees, so each of them has a window of its own.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keten.api.app import create_app
from keten.api.keys import Role
from keten.api.ratelimit import AuthLimits, SlidingWindow
from keten.api.server import background_server
from keten.config import Settings
from keten.graph.sqlite import SqliteStore
from keten.schema.markings import Tlp
from tests.api.conftest import Api


def client_from(url: str, address: str, key: str | None = None) -> httpx.Client:
    """A client connecting from `address` (a loopback address), sending `key` if given."""
    headers = {"X-API-Key": key} if key else {}
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=url, headers=headers, transport=transport, timeout=30)


def wrong_secret(key: str) -> str:
    """`key`'s id with a fresh random secret (never the same twice, so never cached)."""
    key_id = key.split("_")[1]
    return f"kt_{key_id}_{secrets.token_urlsafe(32)}"


def status_with(client: httpx.Client, key: str) -> int:
    return client.get("/entities", headers={"X-API-Key": key}).status_code


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    """Clients made by a test, closed after it."""
    made: list[httpx.Client] = []
    yield made
    for client in made:
        client.close()


def test_wrong_secrets_for_a_key_id_are_told_to_wait(api: Api, clients: list[httpx.Client]) -> None:
    key = api.key(Role.READER, Tlp.GREEN)
    owner = client_from(api.url, "127.0.0.1", key)
    attackers = [client_from(api.url, f"127.0.0.{10 + i}") for i in range(4)]
    clients.extend([owner, *attackers])
    assert [owner.get("/entities").status_code for _ in range(40)] == [200] * 40  # never counts

    # 12 wrong secrets for one key id from 4 addresses: 3 each, far below the per-client limit
    answers = [
        attackers[n % 4].get("/entities", headers={"X-API-Key": wrong_secret(key)})
        for n in range(12)
    ]
    assert [a.status_code for a in answers] == [401] * 10 + [429] * 2
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 429
    assert refused.json()["type"].endswith("/too-many-failures")
    assert 1 <= int(refused.headers["retry-after"]) <= 60

    assert owner.get("/entities").status_code == 200  # verified before: no lock-out
    newcomer = client_from(api.url, "127.0.0.2", api.key(Role.READER, Tlp.GREEN))
    clients.append(newcomer)
    assert newcomer.get("/entities").status_code == 200
    assert all(attacker.get("/health").status_code == 200 for attacker in attackers)
    with_key = attackers[0].get("/health", headers={"X-API-Key": wrong_secret(key)})
    assert with_key.status_code == 200  # the open route stays open, whatever is sent


def test_a_client_that_keeps_failing_is_told_to_wait(api: Api, clients: list[httpx.Client]) -> None:
    known = api.key(Role.READER, Tlp.GREEN)
    noisy, quiet = client_from(api.url, "127.0.0.3"), client_from(api.url, "127.0.0.4")
    clients.extend([noisy, quiet])
    assert status_with(noisy, known) == 200
    made_up = ["not-a-key", *(f"kt_{secrets.token_hex(6)}_{n}" for n in range(30))]
    assert [status_with(noisy, key) for key in made_up] == [401] * 30 + [429]
    # a key this server never checked would cost a scrypt: it waits too
    assert status_with(noisy, api.key(Role.READER, Tlp.GREEN)) == 429
    assert status_with(noisy, known) == 200
    assert status_with(quiet, "kt_000000000000_nope") == 401
    assert noisy.get("/health").status_code == 200


def test_the_login_form_counts_failures_like_the_api(api: Api, clients: list[httpx.Client]) -> None:
    key = api.key(Role.READER, Tlp.GREEN)
    browser = client_from(api.url, "127.0.0.5")
    clients.append(browser)
    form = {"next": "/pages"}
    pages = [browser.post("/login", data={**form, "key": wrong_secret(key)}) for _ in range(11)]
    assert [page.status_code for page in pages] == [401] * 10 + [429]
    assert "Too many failed keys" in pages[-1].text
    assert int(pages[-1].headers["retry-after"]) >= 1
    assert "set-cookie" not in pages[-1].headers


def test_the_limit_lifts_once_the_window_has_passed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "keten.sqlite")
    limits = AuthLimits(per_key=2, per_client=100, window_seconds=1.0)
    app = create_app(store, Settings(home=tmp_path), auth_limits=limits)
    key = app.state.keys.create(Role.READER, Tlp.GREEN).secret
    with background_server(app) as url, client_from(url, "127.0.0.6") as client:
        assert [status_with(client, wrong_secret(key)) for _ in range(3)] == [401, 401, 429]
        assert status_with(client, key) == 429  # never verified: would cost a scrypt
        time.sleep(1.1)
        assert status_with(client, key) == 200
        assert status_with(client, wrong_secret(key)) == 401
    store.close()


def test_a_window_forgets_old_failures_and_bounds_its_memory() -> None:
    window = SlidingWindow(limit=3, seconds=10, max_names=2)
    for t in (0.0, 1.0, 2.0):
        window.record("key", now=t)
    assert window.retry_after("key", now=2.0) == 8.0
    assert window.retry_after("key", now=10.5) == 0.0
    window.record("key", now=10.5)  # the failures at 1, 2 and 10.5 s lie within 10 s of 10.6
    assert window.retry_after("key", now=10.6) == pytest.approx(0.4)
    assert window.retry_after("key", now=11.0) == 0.0
    window.record("b", now=12.0)
    window.record("c", now=12.0)  # a third name: the least recent one goes
    assert window.retry_after("key", now=12.0) == 0.0


def test_limits_come_from_the_environment_and_bad_values_are_refused() -> None:
    env = {"KETEN_AUTH_FAILURES_PER_CLIENT": "50", "KETEN_AUTH_FAILURE_WINDOW": "2.5"}
    assert AuthLimits.from_env(env) == AuthLimits(per_key=10, per_client=50, window_seconds=2.5)
    assert AuthLimits.from_env({}) == AuthLimits()
    for bad in ("0", "-3", "many"):
        with pytest.raises(ValueError, match="KETEN_AUTH_FAILURES_PER_KEY"):
            AuthLimits.from_env({"KETEN_AUTH_FAILURES_PER_KEY": bad})
