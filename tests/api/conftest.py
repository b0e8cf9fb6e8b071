"""A real keten API on loopback over a real SQLite store, with keys of every role."""

from __future__ import annotations

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
    store: SqliteStore
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


@contextmanager
def seeded_api(folder: Path) -> Iterator[Api]:
    """A seeded store in `folder` behind a real uvicorn server on 127.0.0.1."""
    store = SqliteStore(folder / "keten.sqlite")
    load_bundle(store, SEED)
    app = create_app(store, Settings(home=folder))
    with background_server(app) as url:
        api = Api(url, store, app.state.keys)
        yield api
        for client in api.clients:
            client.close()
    store.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """A fresh seeded API per test, for tests that write."""
    with seeded_api(tmp_path) as api:
        yield api


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One seeded API per module, for tests that only read or are refused."""
    with seeded_api(tmp_path_factory.mktemp("api")) as api:
        yield api


@pytest.fixture
def client_for(api: Api) -> Callable[..., httpx.Client]:
    """Shortcut: `client_for(Role.ADMIN, Tlp.GREEN)`."""
    return api.client
