"""A real keten API on loopback over a real store, with keys of every role.

The store is SQLite; the tests of the modules in `BOTH_STORES` run on Neo4j too (the server
in NEO4J_URI, wiped; skipped without it): `pytest_generate_tests` parametrises their
`store_kind`, which the `api` and `shared_api` fixtures read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from keten.api.app import create_app
from keten.api.keys import KeyStore, Role
from keten.api.server import background_server
from keten.config import Settings
from keten.graph.sqlite import SqliteStore
from keten.graph.store import GraphStore
from keten.ingest import load_bundle
from keten.schema.markings import Tlp

SEED: dict[str, list[dict[str, Any]]] = {
    "entities": [
        {"id": "vp:power", "kind": "VitalProcess", "name": "Electricity transmission"},
        {
            "id": "vp:water",
            "kind": "VitalProcess",
            "name": "Drinking water",
            "aliases": ["Drinkwater"],
        },
        {
            "id": "vp:secret@amber",
            "kind": "VitalProcess",
            "name": "Hidden process",
            "marking": "amber",
        },
        {"id": "int:territorial", "kind": "Interest", "name": "Territorial security"},
        {"id": "threat:storm", "kind": "Threat", "name": "Severe storm"},
    ],
    "relations": [
        {"source": "vp:water", "target": "vp:power", "type": "DEPENDS_ON", "buffer_hours": 8},
        {"source": "vp:secret@amber", "target": "vp:power", "type": "DEPENDS_ON"},
        {"source": "vp:water", "target": "int:territorial", "type": "SAFEGUARDS"},
        {"source": "vp:secret@amber", "target": "int:territorial", "type": "SAFEGUARDS"},
        {"source": "threat:storm", "target": "vp:power", "type": "DISRUPTS"},
        {
            "source": "vp:power",
            "target": "int:territorial",
            "type": "SAFEGUARDS",
            "key": "@amber",
            "marking": "amber",
        },
    ],
}
"""Two amber records: the entity vp:secret@amber and the relation power -> territorial."""


@dataclass
class Api:
    """The running server, its store and a way to make keys and clients."""

    url: str
    store: GraphStore
    keys: KeyStore
    clients: list[httpx.Client] = field(default_factory=list)

    def key(self, role: Role = Role.READER, clearance: Tlp = Tlp.RED) -> str:
        """A new key of this role and clearance."""
        return self.keys.create(role, clearance, label="test").secret

    def client(self, role: Role | None = Role.READER, clearance: Tlp = Tlp.RED) -> httpx.Client:
        """An HTTP client sending a new key (none when `role` is None)."""
        headers = {"X-API-Key": self.key(role, clearance)} if role else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(client)
        return client


BOTH_STORES = frozenset(
    {
        "test_analysis",
        "test_assessments",
        "test_clearance",
        "test_entities",
        "test_export",
        "test_export_stream",
        "test_history",
        "test_ingest",
        "test_load",
        "test_relations",
        "test_risk",
        "test_submissions",
        "test_supply",
    }
)
"""Test modules whose API tests run on SQLite and on Neo4j. Not test_cypher: it checks the
embedded store's 409, which Neo4j rightly does not answer."""
STORE_KINDS = ("sqlite", "neo4j")
_shared_neo4j: set[str] = set()
"""Modules whose shared Neo4j API is up: a test's own Neo4j API seeds it again when done."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the API tests of `BOTH_STORES` modules once per store."""
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in BOTH_STORES and "store_kind" in metafunc.fixturenames:
        metafunc.parametrize("store_kind", STORE_KINDS, indirect=True, scope="module")


@pytest.fixture(scope="module")
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store the API runs on: SQLite unless the module is parametrised."""
    kind: str = getattr(request, "param", "sqlite")
    if kind == "neo4j" and not os.environ.get("NEO4J_URI"):
        pytest.skip("the Neo4j run of the API tests needs NEO4J_URI (a throwaway server)")
    return kind


def open_seeded(folder: Path, store_kind: str) -> GraphStore:
    """A store of `store_kind` holding SEED (Neo4j: the test server, wiped first)."""
    store: GraphStore
    if store_kind == "neo4j":
        from keten.graph.neo4j import open_test_store

        store = open_test_store()
    else:
        store = SqliteStore(folder / "keten.sqlite")
    load_bundle(store, SEED)
    return store


@contextmanager
def seeded_api(folder: Path, store_kind: str = "sqlite") -> Iterator[Api]:
    """A seeded store (in `folder` for SQLite) behind a real uvicorn server on 127.0.0.1."""
    store = open_seeded(folder, store_kind)
    app = create_app(store, Settings(home=folder))
    with background_server(app) as url:
        api = Api(url, store, app.state.keys)
        yield api
        for client in api.clients:
            client.close()
    store.close()


@pytest.fixture
def api(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> Iterator[Api]:
    """A fresh seeded API per test, for tests that write."""
    with seeded_api(tmp_path, store_kind) as api:
        yield api
    if store_kind == "neo4j" and request.module.__name__ in _shared_neo4j:
        open_seeded(tmp_path, store_kind).close()  # the module's shared API reads SEED


@pytest.fixture(scope="module")
def shared_api(
    tmp_path_factory: pytest.TempPathFactory, store_kind: str, request: pytest.FixtureRequest
) -> Iterator[Api]:
    """One seeded API per module, for tests that only read or are refused."""
    with seeded_api(tmp_path_factory.mktemp("api"), store_kind) as api:
        if store_kind == "neo4j":
            _shared_neo4j.add(request.module.__name__)
        yield api
    _shared_neo4j.discard(request.module.__name__)


@pytest.fixture
def client_for(api: Api) -> Callable[..., httpx.Client]:
    """Shortcut: `client_for(Role.ADMIN, Tlp.GREEN)`."""
    return api.client
