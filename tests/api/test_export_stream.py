"""Exports streamed from a worker thread (keten.api.export_stream), over real HTTP on
loopback against a store large enough that the writer must wait for its client: the body
is the writer's bytes, a client that leaves stops the writer and frees its store read, a
third export at once is refused, a failure after the first byte cuts the body off."""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

import httpx
import pytest

from keten.api import export_stream
from keten.api.app import create_app
from keten.api.keys import Role
from keten.api.server import background_server
from keten.config import Settings
from keten.graph.export import write_json
from keten.graph.graphml import write_graphml
from keten.graph.store import GraphStore
from keten.ingest import load_bundle
from keten.queries.synthetic import generate_network
from keten.schema.markings import Tlp
from tests.api.conftest import Api, open_seeded, seeded_api

ENTITIES, RELATIONS = 10_000, 90_000
"""About 30 MB of JSON: more than the chunks in flight and loopback's socket buffers hold,
so a writer whose client stops reading has to wait."""


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, store_kind: str) -> Iterator[Api]:
    """The seeded store (two amber records) plus a synthetic network, behind a server."""
    network = generate_network(ENTITIES, RELATIONS, seed=1)
    bundle = {"entities": list(network.entity_records()),
              "relations": list(network.relation_records())}  # fmt: skip
    with seeded_api(tmp_path_factory.mktemp("big"), store_kind) as api:
        load_bundle(api.store, bundle)
        yield api


def wait_until_idle(seconds: float = 20.0) -> float:
    """Seconds until no export holds a worker; fails after `seconds`."""
    start = time.monotonic()
    while export_stream.running():
        assert time.monotonic() - start < seconds, "the export kept running"
        time.sleep(0.05)
    return time.monotonic() - start


def test_a_large_export_is_the_writers_bytes_for_the_keys_clearance(big: Api) -> None:
    expected = io.BytesIO()
    write_json(big.store, expected, Tlp.GREEN)
    assert len(expected.getvalue()) > 8 * export_stream.CHUNK * export_stream.DEPTH
    answer = big.client(Role.READER, Tlp.GREEN).get("/export/json")
    assert answer.status_code == 200
    assert answer.content == expected.getvalue()
    assert b"vp:secret@amber" not in answer.content
    wait_until_idle()


def test_graphml_exported_again_before_a_write_is_the_same_file(big: Api) -> None:
    expected = io.BytesIO()
    write_graphml(big.store, expected, Tlp.GREEN)
    client = big.client(Role.READER, Tlp.GREEN)
    first, again = client.get("/export/graphml"), client.get("/export/graphml")
    assert first.content == again.content == expected.getvalue()  # the second used kept keys


def test_a_client_that_leaves_stops_the_export_and_frees_its_read(
    big: Api, store_kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=export_stream.__name__)
    client = big.client(Role.READER, Tlp.RED)
    threads = threading.active_count()
    for path in ("/export/json", "/export/graphml", "/export/stix"):
        with client.stream("GET", path) as answer:
            assert answer.status_code == 200
            assert next(answer.iter_raw())  # a little, then the client goes
        assert wait_until_idle() < 10
    stopped = [r for r in caplog.records if "its client went away" in r.getMessage()]
    assert len(stopped) == 3
    assert threading.active_count() <= threads + export_stream.MAX_EXPORTS  # idle workers
    if store_kind == "sqlite":  # no read left open: a checkpoint can empty the WAL
        load_bundle(big.store, {"entities": [{"id": "org:late", "kind": "Organisation",
                                              "name": "Written after"}]})  # fmt: skip
        path = big.store.path  # type: ignore[attr-defined]
        with sqlite3.connect(path, timeout=1) as conn:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0


def test_exports_beyond_the_limit_are_refused_until_one_ends(big: Api) -> None:
    client = big.client(Role.READER, Tlp.RED)
    with client.stream("GET", "/export/json") as one, client.stream("GET", "/export/json") as two:
        assert one.status_code == two.status_code == 200
        assert export_stream.running() == export_stream.MAX_EXPORTS
        refused = client.get("/export/graphml")
        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["retry-after"]) > 0
        assert "exports are running" in refused.json()["detail"]
    wait_until_idle()
    assert client.get("/export/json").status_code == 200


def behind_the_counter(store: GraphStore, store_kind: str, entity: str, value: int | None) -> None:
    """Set (or with None remove) `x_unseen` on an entity as a second program writing to the
    store would: no revision moves."""
    if store_kind == "sqlite":
        change = "json_set(props, '$.x_unseen', 1)" if value else "json_remove(props, '$.x_unseen')"
        with sqlite3.connect(store.path) as conn:  # type: ignore[attr-defined]
            conn.execute(f"UPDATE entities SET props = {change} WHERE id = ?", (entity,))
    else:
        statement = "MATCH (n:Entity {id: $id}) SET n.x_unseen = $value"
        store._driver.execute_query(statement, id=entity, value=value)  # type: ignore[attr-defined]


def test_an_export_failing_after_its_first_bytes_is_cut_off_and_logged(
    big: Api, store_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """GraphML keys kept for this revision, then a record gains a property behind the
    revision counter's back: the export meets it in its last entity, long after the first
    bytes went out."""
    client = big.client(Role.READER, Tlp.RED)
    assert client.get("/export/graphml").status_code == 200  # keeps the keys
    last = max(e.id for e in big.store.iter_entities())
    behind_the_counter(big.store, store_kind, last, 1)
    received = bytearray()
    try:
        cut_off = pytest.raises(httpx.RemoteProtocolError)
        with cut_off, client.stream("GET", "/export/graphml") as answer:
            assert answer.status_code == 200
            for chunk in answer.iter_raw():
                received += chunk
    finally:
        behind_the_counter(big.store, store_kind, last, None)
    assert received.endswith(export_stream.BROKEN)
    assert b"</graphml>" not in received
    assert any("after its first bytes" in r.getMessage() for r in caplog.records)
    wait_until_idle()


def test_an_error_before_the_first_byte_is_a_problem(tmp_path: Path, store_kind: str) -> None:
    """An id XML cannot carry: GraphML refuses it in its first pass, so the answer is a
    409 problem rather than a broken file."""
    store = open_seeded(tmp_path, store_kind)
    load_bundle(store, {"entities": [{"id": "org:\uffff", "kind": "Organisation",
                                      "name": "Odd"}]})  # fmt: skip
    app = create_app(store, Settings(home=tmp_path))
    with background_server(app) as url:
        key = app.state.keys.create(Role.READER, Tlp.RED, label="test").secret
        answer = httpx.get(url + "/export/graphml", headers={"X-API-Key": key}, timeout=30)
        assert answer.status_code == 409
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "XML 1.0 cannot carry" in answer.json()["detail"]
        json_answer = httpx.get(url + "/export/json", headers={"X-API-Key": key}, timeout=30)
        assert json_answer.status_code == 200 and "org:\uffff" in json_answer.text
    store.close()


def test_graphml_stops_in_its_first_pass_once_its_client_has_gone(
    tmp_path: Path, store_kind: str
) -> None:
    """The first pass writes nothing, so it asks its output (`flush`) as it reads: a client
    gone stops it before any byte, and before the last entity, whose id the pass would
    refuse (GraphmlExportError) had it read so far."""
    store = open_seeded(tmp_path, store_kind)
    load_bundle(store, {"entities": [{"id": "zz:\uffff", "kind": "Organisation",
                                      "name": "Odd"}]})  # fmt: skip
    loop = asyncio.new_event_loop()
    handoff = export_stream.Handoff(loop)
    handoff.cancelled.set()
    with pytest.raises(export_stream.ExportCancelled):
        write_graphml(store, cast(IO[bytes], handoff), Tlp.RED)
    assert not handoff.buffer and not handoff.handed
    loop.close()
    store.close()
