"""Where keten keeps its data and which store it talks to, read from the environment.

`KETEN_HOME` (default `./.keten`) holds the embedded store and the API keys; `KETEN_STORE`
selects the graph store: unset means SQLite in `KETEN_HOME`, a `bolt://` or `neo4j://` URI
means Neo4j with `KETEN_NEO4J_USER` and `KETEN_NEO4J_PASSWORD`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with `Settings.from_env()`."""

    home: Path
    store_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        """Read the KETEN_* variables."""
        return cls(
            home=Path(os.environ.get("KETEN_HOME", "./.keten")),
            store_uri=os.environ.get("KETEN_STORE") or None,
            neo4j_user=os.environ.get("KETEN_NEO4J_USER", "neo4j"),
            neo4j_password=os.environ.get("KETEN_NEO4J_PASSWORD", ""),
        )

    @property
    def sqlite_path(self) -> Path:
        """The embedded graph store."""
        return self.home / "keten.sqlite"

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
