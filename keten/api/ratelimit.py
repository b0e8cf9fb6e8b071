"""Failed authentication is rate limited per client address and per key id.

Checking a key costs one scrypt (tens of milliseconds of CPU, on purpose, so that a stolen
key file is useless for guessing). Without a limit, a few clients sending wrong secrets for
a known key id keep every core busy hashing, and the whole server slows down. So failures
are counted in a sliding window, per client address and per key id (the `kt_<key id>_...`
part of a key); once either is over its limit, the next attempt is answered 429 with a
`Retry-After` before any hashing is done. A key that passed before in this process is
recognised by its SHA-256 without scrypt and is never refused here, so an attack on a key
id does not lock out the clients already using that key; a successful check never counts.
A correct key that this process never verified waits like a wrong one while its key id or
its client is over the limit: telling them apart would take the scrypt the limit saves.
Refusals are made by `FailureGate` in front of the app, before routing, so a refused attempt
costs less than a `/health`; `/health` itself is never refused.

The limits are per process (each `keten serve` worker counts on its own) and come from
`KETEN_AUTH_FAILURES_PER_KEY` (default 10), `KETEN_AUTH_FAILURES_PER_CLIENT` (30) and
`KETEN_AUTH_FAILURE_WINDOW` (seconds, 60). An honest user mistypes a key a few times; a
script with a wrong key is told to wait, not served 401s for ever.

>>> window = SlidingWindow(limit=2, seconds=60)
>>> window.record("a", now=0.0); window.record("a", now=1.0)
>>> window.retry_after("a", now=2.0), window.retry_after("a", now=61.0), window.retry_after("b")
(58.0, 0.0, 0.0)
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from keten.api.keys import KeyStore, split_key
from keten.api.problems import problem_response
from keten.config import positive

MAX_TRACKED = 100_000
"""Names (addresses, key ids) remembered at most; the least recently failing go first."""


@dataclass(frozen=True, slots=True)
class AuthLimits:
    """How many failed authentications each client address and each key id may have within
    `window_seconds` before it is told to wait.
    """

    per_key: int = 10
    per_client: int = 30
    window_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthLimits:
        """Read the KETEN_AUTH_* variables; missing ones keep their defaults.

        >>> AuthLimits.from_env({"KETEN_AUTH_FAILURES_PER_KEY": "3"}).per_key
        3
        """
        env = os.environ if env is None else env
        default = cls()
        return cls(
            per_key=positive(env, "KETEN_AUTH_FAILURES_PER_KEY", default.per_key),
            per_client=positive(env, "KETEN_AUTH_FAILURES_PER_CLIENT", default.per_client),
            window_seconds=positive(env, "KETEN_AUTH_FAILURE_WINDOW", default.window_seconds),
        )


class SlidingWindow:
    """Failure times per name within the last `seconds`; thread-safe, bounded in memory.

    Each name keeps at most `limit` times (older ones cannot matter), and at most
    `max_names` names are kept, so a flood of made-up key ids costs bounded memory.
    """

    def __init__(self, limit: int, seconds: float, max_names: int = MAX_TRACKED) -> None:
        self.limit = limit
        self.seconds = seconds
        self.max_names = max_names
        self._times: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, name: str, now: float | None = None) -> float:
        """Seconds until `name` may fail again (0.0 when it is under its limit)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._times.get(name)
            if times is None or len(times) < self.limit:
                return 0.0
            return max(0.0, times[0] + self.seconds - now)

    def record(self, name: str, now: float | None = None) -> None:
        """Count one failure of `name` at `now`."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._times.pop(name, None) or deque(maxlen=self.limit)
            times.append(now)
            self._times[name] = times
            while len(self._times) > self.max_names:
                self._times.popitem(last=False)


class FailureLimiter:
    """The two windows of failed authentication: per client address and per key id."""

    def __init__(self, limits: AuthLimits) -> None:
        self.limits = limits
        self.clients = SlidingWindow(limits.per_client, limits.window_seconds)
        self.key_ids = SlidingWindow(limits.per_key, limits.window_seconds)

    def retry_after(self, client: str, key_id: str | None) -> int:
        """Whole seconds to wait before `client` may try `key_id` again (0: go ahead)."""
        wait = self.clients.retry_after(client)
        if key_id is not None:
            wait = max(wait, self.key_ids.retry_after(key_id))
        return math.ceil(wait)

    def failed(self, client: str, key_id: str | None) -> None:
        """Count a failed authentication of `client`, and of `key_id` when the key had one."""
        self.clients.record(client)
        if key_id is not None:
            self.key_ids.record(key_id)


OPEN_PATHS = frozenset({"/health"})
"""Routes that need no key: a blocked client still reaches them, whatever it sends."""


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key in `X-API-Key` or `Authorization: Bearer` (the same headers as the routes').

    >>> presented_key([(b"authorization", b"bearer kt_a_b")]), presented_key([])
    ('kt_a_b', None)
    """
    bearer = api_key = None
    for name, value in headers:
        if name == b"x-api-key":
            api_key = value.decode("latin-1")
        elif name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials:
                bearer = credentials
    return bearer or api_key or None


class FailureGate:
    """ASGI middleware: a request whose header key comes from a client, or names a key id,
    that is over its limit is answered 429 here, before routing, dependencies and threads,
    so that refusing an attacker costs less than answering `/health`. Keys verified before
    pass (as in `keten.api.deps.authenticate`, which also counts the failures).
    """

    def __init__(self, app: ASGIApp, limiter: FailureLimiter, keys: KeyStore) -> None:
        self.app = app
        self.limiter = limiter
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            secret = presented_key(scope["headers"])
            if secret:
                client = scope["client"][0] if scope.get("client") else "unknown"
                wait = self.limiter.retry_after(client, split_key(secret))
                if wait and not self.keys.verified_before(secret):
                    await too_many_failures(wait)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


TOO_MANY = "too-many-failures"
"""The slug of the 429 problem."""


def wait_detail(wait: int) -> str:
    """The detail of the 429 problem."""
    return f"too many failed keys from this client or for this key id; retry in {wait} s"


def too_many_failures(wait: int) -> JSONResponse:
    """The 429 problem for a client or key id that failed too often lately."""
    return problem_response(429, TOO_MANY, wait_detail(wait), headers={"Retry-After": str(wait)})
