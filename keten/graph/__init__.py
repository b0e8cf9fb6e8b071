"""Graph stores (SQLite embedded, Neo4j on a server) behind one `GraphStore` contract."""

from __future__ import annotations

from keten.config import Settings
from keten.graph.store import (
    EntityFilter,
    EntityRow,
    GraphStore,
    Page,
    RelationFilter,
    RelationRow,
    WriteCounts,
)


def open_store(settings: Settings) -> GraphStore:
    """The store `KETEN_STORE` selects: Neo4j for bolt/neo4j URIs, else SQLite in KETEN_HOME."""
    if settings.uses_neo4j:
        from keten.graph.neo4j import Neo4jStore

        assert settings.store_uri is not None
        return Neo4jStore(settings.store_uri, settings.neo4j_user, settings.neo4j_password)
    if settings.store_uri:
        raise ValueError(
            f"KETEN_STORE={settings.store_uri!r} is not a bolt:// or neo4j:// URI; "
            "unset it to use the embedded SQLite store"
        )
    from keten.graph.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path)


__all__ = [
    "EntityFilter",
    "EntityRow",
    "GraphStore",
    "Page",
    "RelationFilter",
    "RelationRow",
    "WriteCounts",
    "open_store",
]
