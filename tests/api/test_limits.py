"""Bodies over the cap answer 413 problems, whether their length is declared or chunked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

from keten.api.app import create_app
from keten.api.keys import Role
from keten.api.server import background_server
from keten.config import Settings
from keten.graph.sqlite import SqliteStore
from keten.schema.markings import Tlp

LIMIT = 2_000


def bundle(entities: int) -> bytes:
    records = [{"id": f"t:{i}", "kind": "Threat", "name": f"Threat {i}"} for i in range(entities)]
    return orjson.dumps({"entities": records})


def test_bodies_over_the_cap_are_refused_and_write_nothing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "keten.sqlite")
    app = create_app(store, Settings(home=tmp_path), max_body_bytes=LIMIT)
    key = app.state.keys.create(Role.CONTRIBUTOR, Tlp.GREEN).secret
    small, big = bundle(5), bundle(100)
    assert len(small) < LIMIT < len(big)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 500):
            yield big[start : start + 500]

    headers = {"X-API-Key": key, "content-type": "application/json"}
    with background_server(app) as url, httpx.Client(base_url=url, headers=headers) as client:
        declared = client.post("/ingest", content=big)
        chunked = client.post("/ingest", content=chunks())
        accepted = client.post("/ingest", content=small)
    store.close()
    for answer in (declared, chunked):
        assert answer.status_code == 413
        assert answer.headers["content-type"] == "application/problem+json"
        assert "keten load" in answer.json()["detail"]
    assert accepted.status_code == 200
    assert accepted.json()["entities_created"] == 5
