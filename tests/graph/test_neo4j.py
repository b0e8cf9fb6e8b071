"""Neo4jStore beyond the shared contract: the native model as Cypher users see it, the
full-text index behind text search, and connection faults, all against real servers."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from keten.graph.neo4j import Neo4jStore, open_test_store
from keten.graph.store import EntityFilter, EntityRow, StoreUnavailableError

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "deploy" / "neo4j-dev" / "neo4j-dev.sh"
needs_neo4j = pytest.mark.skipif(
    not os.environ.get("NEO4J_URI"),
    reason="needs a throwaway Neo4j server: set NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD)",
)


@pytest.fixture
def neo4j() -> Iterator[Neo4jStore]:
    store = open_test_store()
    yield store
    store.close()


def cypher_rows(store: Neo4jStore, text: str) -> list[list[object]]:
    return store.run_read(text, {}, 100)[1]


@needs_neo4j
def test_properties_are_native_for_cypher_users(neo4j: Neo4jStore) -> None:
    props = {
        "sector": "Energy",
        "category": "A",
        "aliases": ["Stroom"],
        "impact": {"economic": 2},
        "level": 3,
        "search": "own",
    }
    with neo4j.writer() as w:
        w.upsert_entities([EntityRow("vp:power", "VitalProcess", "Electricity", props=props)])
    rows = cypher_rows(
        neo4j,
        "MATCH (p:VitalProcess {sector: 'Energy'}) WHERE 'Stroom' IN p.aliases "
        "RETURN p.id, p.category, p.impact_json, p.level, p.search, p.keten_level, keys(p)",
    )
    ((entity_id, category, impact, level, search, keten_level, keys),) = rows
    assert (entity_id, category, impact, level, search) == (
        "vp:power",
        "A",
        '{"economic":2}',
        3,
        "own",
    )
    assert keten_level == 0 and "props" not in keys  # type: ignore[operator]
    assert neo4j.get_entity("vp:power").props == props  # type: ignore[union-attr]


@needs_neo4j
def test_text_search_goes_through_the_full_text_index(neo4j: Neo4jStore) -> None:
    (index,) = cypher_rows(
        neo4j, "SHOW FULLTEXT INDEXES YIELD name, properties, options RETURN name, properties"
    )
    assert index[1] == ["keten_search"]
    names = ["Water (NL)", "a*b?c", 'quote " and \\ slash', "Drinking water", "100% power"]
    with neo4j.writer() as w:
        w.upsert_entities([EntityRow(f"vp:{i}", "VitalProcess", n) for i, n in enumerate(names)])

    def found(text: str) -> list[str]:
        return [e.name for e in neo4j.list_entities(EntityFilter(text=text)).items]

    assert found("WATER") == ["Water (NL)", "Drinking water"]
    assert found("r (nl") == ["Water (NL)"] and found("*b?") == ["a*b?c"]
    assert found('" and \\') == ['quote " and \\ slash'] and found("0% p") == ["100% power"]
    assert found("%") == ["100% power"] and found("nothing") == []


def test_an_unreachable_server_is_one_line() -> None:
    with pytest.raises(StoreUnavailableError) as error:
        Neo4jStore("bolt://127.0.0.1:9", "neo4j", "secret")
    message = str(error.value)
    assert "\n" not in message and "bolt://127.0.0.1:9" in message
    assert "check that the server runs" in message


def test_a_malformed_uri_is_one_line() -> None:
    with pytest.raises(StoreUnavailableError, match="KETEN_STORE"):
        Neo4jStore("bolt://127.0.0.1:notaport", "neo4j", "secret")


@needs_neo4j
def test_a_wrong_password_is_one_line() -> None:
    with pytest.raises(StoreUnavailableError) as error:
        Neo4jStore(os.environ["NEO4J_URI"], "neo4j", "not-the-password")
    message = str(error.value)
    assert "\n" not in message and os.environ["NEO4J_URI"] in message
    assert "refused user 'neo4j'" in message and "KETEN_NEO4J_PASSWORD" in message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Throwaway:
    """A second dev server (deploy/neo4j-dev) on its own port and data folder."""

    def __init__(self, home: Path) -> None:
        self.env = {
            **os.environ,
            "KETEN_HOME": str(home),
            "NEO4J_PORT": str(free_port()),
            "NEO4J_PASSWORD": secrets.token_hex(12),
        }

    def launcher(self, command: str) -> None:
        done = subprocess.run(
            ["bash", str(LAUNCHER), command], env=self.env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.env['NEO4J_PORT']}"


@pytest.fixture
def throwaway(tmp_path: Path) -> Iterator[Throwaway]:
    if not LAUNCHER.exists() or not shutil.which("java"):
        pytest.skip("needs deploy/neo4j-dev and Java to start a second server")
    server = Throwaway(tmp_path)
    server.launcher("up")
    yield server
    server.launcher("down")


def test_a_server_gone_mid_use_raises_and_the_next_call_reconnects(throwaway: Throwaway) -> None:
    store = Neo4jStore(throwaway.uri, "neo4j", throwaway.env["NEO4J_PASSWORD"])
    with store.writer() as w:
        w.upsert_entities([EntityRow("vp:power", "VitalProcess", "Electricity")])
    throwaway.launcher("down")
    for call in (
        lambda: store.get_entity("vp:power"),
        lambda: list(store.iter_entities()),
        lambda: store.revision(),
    ):
        with pytest.raises(StoreUnavailableError) as error:
            call()
        assert throwaway.uri in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(StoreUnavailableError), store.writer() as w:
        w.upsert_entities([EntityRow("vp:water", "VitalProcess", "Water")])
    throwaway.launcher("up")
    assert store.get_entity("vp:power") is not None
    with store.writer() as w:
        w.upsert_entities([EntityRow("vp:water", "VitalProcess", "Water")])
    assert store.revision() == 2
    store.close()
