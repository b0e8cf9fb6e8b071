"""API keys: random secrets stored only as salted scrypt hashes, with a role and a clearance.

A key reads `kt_<key id>_<secret>`. The key id picks the row, so checking a key costs one
indexed lookup and one hash, never a scan. scrypt makes a stolen key file useless for
guessing, but costs tens of milliseconds; keys that verified once are remembered in memory
by their SHA-256 for the life of the process, while role, clearance and revocation are
read from the file on every request, so a revocation holds at once. Failing is kept cheap
too: a malformed key, an unknown or revoked key id, and a wrong secret seen before (also
remembered by its SHA-256) are refused without scrypt.

Keys that write (contributor, reviewer, admin) are cleared for green at least: records
marked above green keep their ids in namespaces of their own, while clear and green share
one, so a writer must see both to never collide with a record it cannot see.

Browser logins are server-side sessions in the same file: a session belongs to a key,
expires, can be ended, and dies with its key.

Roles are cumulative: reader < contributor < reviewer < admin. A reader reads and analyses,
a contributor also submits knowledge, a reviewer also accepts it, an admin also deletes
and manages keys.

>>> import tempfile, pathlib
>>> store = KeyStore(pathlib.Path(tempfile.mkdtemp()) / "keys.sqlite")
>>> key = store.create(Role.READER, Tlp.GREEN, label="doctest")
>>> principal = store.verify(key.secret)
>>> principal.role, principal.clearance
(<Role.READER: 'reader'>, <Tlp.GREEN: 'green'>)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from keten.config import private_file
from keten.schema.markings import WRITER_CLEARANCE, Tlp

PREFIX = "kt"

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    salt BLOB NOT NULL,
    hash BLOB NOT NULL,
    role TEXT NOT NULL,
    clearance TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    digest BLOB PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES api_keys (key_id),
    created_at TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_key ON sessions (key_id);
"""
"""`sessions.digest` is the SHA-256 of the session id (a copy of the file opens no session);
`expires_at` is in Unix seconds."""

REMEMBERED_FAILURES = 10_000
"""Wrong keys remembered (by SHA-256) so that repeating one costs no scrypt."""


class Role(StrEnum):
    """What a key may do; each role includes the rights of the ones before it."""

    READER = "reader"
    CONTRIBUTOR = "contributor"
    REVIEWER = "reviewer"
    ADMIN = "admin"

    def includes(self, other: Role) -> bool:
        """True when this role has every right of `other`."""
        order = list(Role)
        return order.index(self) >= order.index(other)

    @property
    def writes(self) -> bool:
        """True for the roles that write records (contributor and up)."""
        return self.includes(Role.CONTRIBUTOR)


def grant_problem(role: Role, clearance: Tlp) -> str | None:
    """Why a key of `role` may not have `clearance`, or None when it may.

    >>> print(grant_problem(Role.CONTRIBUTOR, Tlp.CLEAR)[:52])
    a contributor key needs clearance green or higher: c
    >>> grant_problem(Role.READER, Tlp.CLEAR), grant_problem(Role.ADMIN, Tlp.GREEN)
    (None, None)
    """
    if role.writes and not clearance.allows(WRITER_CLEARANCE):
        return (
            f"a {role.value} key needs clearance {WRITER_CLEARANCE.value} or higher: clear and "
            f"{WRITER_CLEARANCE.value} records share one id namespace, so every key that "
            "writes must see both"
        )
    return None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key id, its role and its clearance."""

    key_id: str
    role: Role
    clearance: Tlp


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A stored key without its secret, as listed to admins."""

    key_id: str
    role: Role
    clearance: Tlp
    label: str
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made key: `secret` is shown once and never stored."""

    info: KeyInfo
    secret: str


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def fingerprint(secret: str) -> bytes:
    """SHA-256 of a presented key: cheap, and safe to keep in memory."""
    return hashlib.sha256(secret.encode("utf-8", errors="surrogatepass")).digest()


def split_key(secret: str) -> str | None:
    """The key id of a well-formed key, or None."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1] if len(parts[1]) == 12 and parts[1].isalnum() else None


def _info(row: tuple[str, str, str, str, str, str | None]) -> KeyInfo:
    key_id, role, clearance, label, created_at, revoked_at = row
    return KeyInfo(key_id, Role(role), Tlp(clearance), label, created_at, revoked_at)


class KeyStore:
    """The keys file (SQLite); safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        private_file(self.path)
        self._local = threading.local()
        self._verified: dict[str, bytes] = {}
        self._failed: OrderedDict[bytes, None] = OrderedDict()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=30.0, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode = WAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def create(self, role: Role, clearance: Tlp = Tlp.CLEAR, label: str = "") -> NewKey:
        """Make and store a new key; the returned secret is the only copy.

        ValueError (with `grant_problem`'s reason) for a writer below green.
        """
        problem = grant_problem(role, clearance)
        if problem:
            raise ValueError(problem)
        key_id = secrets.token_hex(6)
        secret = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        salt = secrets.token_bytes(16)
        created = _now()
        self._conn().execute(
            "INSERT INTO api_keys (key_id, salt, hash, role, clearance, label, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key_id, salt, _hash(secret, salt), role.value, clearance.value, label, created),
        )
        return NewKey(KeyInfo(key_id, role, clearance, label, created, None), secret)

    def verified_before(self, secret: str) -> bool:
        """True when this exact key passed scrypt before in this process (no I/O, no hash)."""
        key_id = split_key(secret)
        known = self._verified.get(key_id) if key_id else None
        return known is not None and hmac.compare_digest(known, fingerprint(secret))

    def verify(self, secret: str) -> Principal | None:
        """The principal of a valid, unrevoked key; None for anything else.

        Only a key that is well formed, names a live key id, and neither passed nor failed
        before costs a scrypt.
        """
        key_id = split_key(secret)
        if key_id is None:
            return None
        digest = fingerprint(secret)
        if digest in self._failed:
            return None
        row = (
            self._conn()
            .execute(
                "SELECT salt, hash, role, clearance FROM api_keys "
                "WHERE key_id = ? AND revoked_at IS NULL",
                (key_id,),
            )
            .fetchone()
        )
        if row is None:
            return None
        salt, stored, role, clearance = row
        known = self._verified.get(key_id)
        if known is None or not hmac.compare_digest(known, digest):
            if not hmac.compare_digest(_hash(secret, salt), stored):
                self._remember_failure(digest)
                return None
            self._verified[key_id] = digest
        return Principal(key_id, Role(role), Tlp(clearance))

    def _remember_failure(self, digest: bytes) -> None:
        """Keep a wrong key's digest (a wrong secret never becomes right: ids are unique)."""
        with self._lock:
            self._failed[digest] = None
            while len(self._failed) > REMEMBERED_FAILURES:
                self._failed.popitem(last=False)

    def get(self, key_id: str) -> KeyInfo | None:
        """One stored key, revoked or not; None when there is no such key id."""
        row = (
            self._conn()
            .execute(
                "SELECT key_id, role, clearance, label, created_at, revoked_at FROM api_keys "
                "WHERE key_id = ?",
                (key_id,),
            )
            .fetchone()
        )
        return _info(row) if row else None

    def list(self) -> list[KeyInfo]:
        """Every key, revoked ones included, oldest first."""
        rows = self._conn().execute(
            "SELECT key_id, role, clearance, label, created_at, revoked_at FROM api_keys "
            "ORDER BY rowid"
        )
        return [_info(row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key and end its sessions; False when there is no such unrevoked key."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (_now(), key_id),
            )
            conn.execute("DELETE FROM sessions WHERE key_id = ?", (key_id,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._verified.pop(key_id, None)
        return cur.rowcount > 0

    def start_session(self, key_id: str, lifetime_seconds: float) -> str:
        """A new session of `key_id` that lasts `lifetime_seconds`; returns its id, which is
        stored only as a hash. Expired sessions are swept out on the way.
        """
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        conn = self._conn()
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        conn.execute(
            "INSERT INTO sessions (digest, key_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (fingerprint(session_id), key_id, _now(), now + lifetime_seconds),
        )
        return session_id

    def session(self, session_id: str) -> Principal | None:
        """The principal of a live session: not ended, not expired, its key not revoked."""
        row = (
            self._conn()
            .execute(
                "SELECT k.key_id, k.role, k.clearance FROM sessions s "
                "JOIN api_keys k ON k.key_id = s.key_id "
                "WHERE s.digest = ? AND s.expires_at > ? AND k.revoked_at IS NULL",
                (fingerprint(session_id), time.time()),
            )
            .fetchone()
        )
        return Principal(row[0], Role(row[1]), Tlp(row[2])) if row else None

    def end_session(self, session_id: str) -> bool:
        """End a session (logout); False when there was none."""
        cur = self._conn().execute(
            "DELETE FROM sessions WHERE digest = ?", (fingerprint(session_id),)
        )
        return cur.rowcount > 0

    def close(self) -> None:
        """Close every connection this key store opened."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
