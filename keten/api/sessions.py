"""Browser logins as server-side sessions behind a signed cookie.

The login cookie used to hold the API key itself, so anything that could read one cookie
(a shared machine, a proxy log) held the key for good. Now logging in opens a session in
the key store (`KeyStore.start_session`): the cookie carries only the session id, signed
with HMAC-SHA256 under a secret kept in `$KETEN_HOME/session.key` (mode 0600, made on
first use, shared by every worker of the same home). A session expires, ends at logout
and dies with its key; a cookie whose signature does not match is refused without a
lookup.

>>> import tempfile, pathlib
>>> from keten.api.keys import KeyStore, Role
>>> from keten.schema.markings import Tlp
>>> home = pathlib.Path(tempfile.mkdtemp())
>>> keys = KeyStore(home / "keys.sqlite")
>>> sessions = Sessions(keys, home / "session.key", lifetime_seconds=60)
>>> key = keys.create(Role.READER, Tlp.GREEN)
>>> cookie = sessions.open(key.info.key_id)
>>> sessions.principal(cookie).key_id == key.info.key_id, key.secret in cookie
(True, False)
>>> sessions.principal(cookie[:-1] + ("A" if cookie[-1] != "A" else "B")) is None
True
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from keten.api.keys import KeyStore, Principal

SECRET_BYTES = 32
MAX_COOKIE = 200
"""Longest cookie value looked at (a real one is 87 characters)."""


def load_secret(path: Path) -> bytes:
    """The signing secret in `path`, made (mode 0600) when missing.

    The file is written in full under a temporary name and then linked into place, so a
    worker starting at the same moment never reads half a secret, and exactly one
    worker's secret wins.
    """
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(SECRET_BYTES))
        with contextlib.suppress(FileExistsError):  # another worker made it first
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    secret = path.read_bytes()
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"{path} holds {len(secret)} bytes; a session secret needs 32")
    return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Sessions:
    """Opens, reads and ends login sessions; the cookie value is `<session id>.<signature>`."""

    def __init__(self, keys: KeyStore, secret_path: Path, lifetime_seconds: float) -> None:
        self.keys = keys
        self.lifetime_seconds = lifetime_seconds
        self._secret = load_secret(secret_path)

    def _sign(self, session_id: str) -> str:
        digest = hmac.new(self._secret, session_id.encode("ascii"), hashlib.sha256).digest()
        return _b64(digest)

    def _session_id(self, cookie: str) -> str | None:
        """The session id of a cookie signed by this server, else None."""
        if len(cookie) > MAX_COOKIE or not cookie.isascii():
            return None
        session_id, _, signature = cookie.partition(".")
        if not session_id or not hmac.compare_digest(signature, self._sign(session_id)):
            return None
        return session_id

    def open(self, key_id: str) -> str:
        """Start a session for `key_id`; returns the cookie value."""
        session_id = self.keys.start_session(key_id, self.lifetime_seconds)
        return f"{session_id}.{self._sign(session_id)}"

    def principal(self, cookie: str) -> Principal | None:
        """Who a cookie stands for; None when it is forged, ended, expired or revoked."""
        session_id = self._session_id(cookie)
        return self.keys.session(session_id) if session_id else None

    def close(self, cookie: str) -> bool:
        """End the cookie's session server-side (logout); False when there was none."""
        session_id = self._session_id(cookie)
        return self.keys.end_session(session_id) if session_id else False
