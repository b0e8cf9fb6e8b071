"""Browser logins are server-side sessions: the cookie holds a signed session id, never the
key; tampering, logout, revocation and expiry each end what the cookie can do.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keten.api.app import create_app
from keten.api.keys import KeyStore, Role
from keten.api.pages.session import COOKIE
from keten.api.server import background_server
from keten.api.sessions import Sessions, load_secret
from keten.config import Settings
from keten.graph.sqlite import SqliteStore
from keten.schema.markings import Tlp
from tests.api.conftest import Api


def log_in(url: str, key: str, headers: dict[str, str] | None = None) -> httpx.Client:
    """A client that logged in with `key` through the login form."""
    client = httpx.Client(base_url=url, timeout=30)
    answer = client.post("/login", data={"key": key, "next": "/pages"}, headers=headers or {})
    assert answer.status_code == 303, answer.text
    return client


def with_cookie(url: str, value: str) -> int:
    """The status of the index for a browser sending only this cookie (303: to the login)."""
    answer = httpx.get(url + "/pages", cookies={COOKIE: value}, follow_redirects=False)
    return answer.status_code


@pytest.fixture
def browser(api: Api) -> Iterator[tuple[httpx.Client, str]]:
    """A logged-in client and the key it logged in with."""
    key = api.key(Role.READER, Tlp.GREEN)
    client = log_in(api.url, key)
    yield client, key
    client.close()


def test_the_cookie_holds_a_signed_session_id_not_the_key(
    api: Api, browser: tuple[httpx.Client, str]
) -> None:
    client, key = browser
    cookie = client.cookies[COOKIE]
    key_id, secret = key.split("_")[1], key.split("_", 2)[2]
    assert key not in cookie and secret not in cookie and key_id not in cookie
    session_id, _, signature = cookie.partition(".")
    assert len(session_id) >= 43 and len(signature) >= 43
    assert client.get("/pages").status_code == 200
    stored = b"".join(p.read_bytes() for p in api.keys.path.parent.glob("keys.sqlite*"))
    assert session_id.encode() not in stored  # only its hash is kept


def test_a_tampered_cookie_is_refused(api: Api, browser: tuple[httpx.Client, str]) -> None:
    client, _ = browser
    cookie = client.cookies[COOKIE]
    session_id, _, signature = cookie.partition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    someone_else = log_in(api.url, api.key(Role.READER, Tlp.GREEN))
    other = someone_else.cookies[COOKIE].partition(".")[2]
    someone_else.close()
    for forged in (
        f"{session_id}.{flipped}",
        f"{session_id}.{other}",  # another session's signature
        session_id,
        f"x{session_id}.{signature}",
        api.key(Role.READER, Tlp.GREEN),  # a raw key, as the old cookie held
        "",
    ):
        assert with_cookie(api.url, forged) == 303, forged
    assert with_cookie(api.url, cookie) == 200


def test_logout_ends_the_session_server_side(api: Api, browser: tuple[httpx.Client, str]) -> None:
    client, key = browser
    old = client.cookies[COOKIE]
    answer = client.post("/logout", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert COOKIE not in client.cookies
    assert with_cookie(api.url, old) == 303  # a copy of the cookie no longer works
    assert httpx.get(api.url + "/entities", headers={"X-API-Key": key}).status_code == 200


def test_revoking_the_key_ends_its_sessions(api: Api) -> None:
    admin = api.client(Role.ADMIN, Tlp.RED)
    made = admin.post("/keys", json={"role": "reader", "clearance": "green"}).json()
    first, second = log_in(api.url, made["key"]), log_in(api.url, made["key"])
    cookies = [first.cookies[COOKIE], second.cookies[COOKIE]]
    assert [with_cookie(api.url, c) for c in cookies] == [200, 200]
    assert admin.delete(f"/keys/{made['key_id']}").status_code == 200
    assert [with_cookie(api.url, c) for c in cookies] == [303, 303]
    first.close()
    second.close()


def test_an_expired_session_is_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "keten.sqlite")
    app = create_app(store, Settings(home=tmp_path), session_seconds=1.0)
    key = app.state.keys.create(Role.READER, Tlp.GREEN).secret
    with background_server(app) as url:
        client = log_in(url, key)
        cookie = client.cookies[COOKIE]
        client.close()
        assert with_cookie(url, cookie) == 200
        time.sleep(1.2)
        assert with_cookie(url, cookie) == 303
    store.close()


def test_the_cookie_is_http_only_lax_and_secure_over_https(api: Api) -> None:
    key = api.key(Role.READER, Tlp.GREEN)
    plain = httpx.post(api.url + "/login", data={"key": key}, follow_redirects=False)
    assert plain.status_code == 303
    cookie = plain.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Max-Age=28800" in cookie and "Secure" not in cookie
    # behind a TLS proxy on this host (uvicorn trusts X-Forwarded-Proto from 127.0.0.1)
    proxied = httpx.post(
        api.url + "/login",
        data={"key": key},
        headers={"X-Forwarded-Proto": "https"},
        follow_redirects=False,
    )
    assert "Secure" in proxied.headers["set-cookie"]


def test_the_signing_secret_is_private_and_shared_by_every_worker(tmp_path: Path) -> None:
    path = tmp_path / "home" / "session.key"
    secret = load_secret(path)
    assert len(secret) == 32 and load_secret(path) == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["session.key"]  # no temporary left
    keys = KeyStore(tmp_path / "keys.sqlite")
    key = keys.create(Role.READER, Tlp.GREEN)
    cookie = Sessions(keys, path, 60).open(key.info.key_id)
    assert Sessions(keys, path, 60).principal(cookie) is not None  # another worker, same home
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="session secret"):
        load_secret(path)
    keys.close()
