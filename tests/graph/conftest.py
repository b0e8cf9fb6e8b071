"""The `store` fixture: every contract test runs on SQLite, and on Neo4j when NEO4J_URI is set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keten.graph.sqlite import SqliteStore


@pytest.fixture(params=["sqlite", "neo4j"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh, empty store of each backend."""
    if request.param == "sqlite":
        sqlite = SqliteStore(tmp_path / "keten.sqlite")
        yield sqlite
        sqlite.close()
        return
    if not os.environ.get("NEO4J_URI"):
        pytest.skip("Neo4j contract run needs NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD)")
    from keten.graph.neo4j import open_test_store

    neo4j = open_test_store()
    yield neo4j
    neo4j.close()
