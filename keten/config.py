"""Where keten keeps its data and which store it talks to, read from the environment.

`KETEN_HOME` (default `./.keten`) holds the embedded store and the API keys; `KETEN_STORE`
selects the graph store: `sqlite` means SQLite in `KETEN_HOME`, a `bolt://` or `neo4j://` URI
means Neo4j with `KETEN_NEO4J_USER` and `KETEN_NEO4J_PASSWORD`. The variables that
`make neo4j-up` prints (`NEO4J_URI`, `NEO4J_USER`, `NEO4J_PASSWORD`) work too: with
`KETEN_STORE` unset, `NEO4J_URI` selects that server, and the `NEO4J_` user and password
stand in for the `KETEN_NEO4J_` ones. With neither set, the store is SQLite.

`KETEN_ANALYSIS_SLOTS` (default 1) bounds the whole-graph analyses one server process runs
at once, and `KETEN_ANALYSIS_WAIT` (seconds, default 30) how long a request waits for a
slot before it is answered 503 (see keten.api.admission).

>>> Settings.from_env({"NEO4J_URI": "bolt://127.0.0.1:7687", "NEO4J_PASSWORD": "pw"}).store_uri
'bolt://127.0.0.1:7687'
>>> Settings.from_env({"KETEN_STORE": "sqlite", "NEO4J_URI": "bolt://x"}).uses_neo4j
False
>>> Settings.from_env({"KETEN_ANALYSIS_SLOTS": "2"}).analysis_slots
2
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with `Settings.from_env()`."""

    home: Path
    store_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: str = ""
    analysis_slots: int = 1
    analysis_wait_seconds: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the KETEN_* (and NEO4J_*) variables of `env` (default: the process's)."""
        env = os.environ if env is None else env
        store = env.get("KETEN_STORE") or env.get("NEO4J_URI") or None
        return cls(
            home=Path(env.get("KETEN_HOME", "./.keten")),
            store_uri=None if store == "sqlite" else store,
            neo4j_user=env.get("KETEN_NEO4J_USER") or env.get("NEO4J_USER") or "neo4j",
            neo4j_password=env.get("KETEN_NEO4J_PASSWORD") or env.get("NEO4J_PASSWORD") or "",
            analysis_slots=positive(env, "KETEN_ANALYSIS_SLOTS", 1),
            analysis_wait_seconds=positive(env, "KETEN_ANALYSIS_WAIT", 30.0),
        )

    @property
    def sqlite_path(self) -> Path:
        """The embedded graph store."""
        return self.home / "keten.sqlite"

    @property
    def projection_dir(self) -> Path:
        """Where the analysis projection of each store revision is kept (mapped arrays)."""
        return self.home / "projection"

    @property
    def keys_path(self) -> Path:
        """The API key store (hashed keys), kept beside the graph whatever the graph store."""
        return self.home / "keys.sqlite"

    @property
    def uses_neo4j(self) -> bool:
        """True when KETEN_STORE points at a Neo4j server."""
        scheme = (self.store_uri or "").split("://", 1)[0]
        return scheme in {
            "bolt",
            "neo4j",
            "bolt+s",
            "neo4j+s",
            "bolt+ssc",
            "neo4j+ssc",
        }


T = TypeVar("T", int, float)


class ConfigError(ValueError):
    """A setting in the environment that keten cannot use; its message names the variable."""


def positive(env: Mapping[str, str], name: str, default: T) -> T:
    """A positive number from `env`, or `default`; a bad value is an error at start-up, so a
    typo in a server's environment stops it instead of being ignored."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = type(default)(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a positive number, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{name} must be a positive number, got {raw!r}")
    return value


def private_file(path: Path) -> None:
    """Create `path` (and its folder) readable by the owner only, if it does not exist yet.

    Store files hold knowledge marked up to TLP:RED and key hashes; SQLite gives its
    journal files the permissions of the database file, so they stay private too.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
