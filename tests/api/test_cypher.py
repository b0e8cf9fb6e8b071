"""The Cypher routes: the query library is listed anywhere, and runs only on Neo4j."""

from __future__ import annotations

from keten.api.keys import Role
from keten.graph.named_queries import load_queries
from keten.schema.markings import Tlp
from tests.api.conftest import Api


def test_named_queries_are_listed_with_their_cypher(api: Api) -> None:
    listed = api.client(Role.READER).get("/cypher/queries").json()
    assert {q["name"] for q in listed} == set(load_queries())
    assert all("MATCH" in q["cypher"] for q in listed)


def test_on_the_embedded_store_cypher_is_a_clear_409(api: Api) -> None:
    reader = api.client(Role.READER, Tlp.GREEN)
    named = reader.post("/cypher/queries/dependants", json={"params": {"id": "vp:power"}})
    assert named.status_code == 409 and "Neo4j" in named.json()["detail"]
    raw = reader.post("/cypher", json={"cypher": "MATCH (n) RETURN n LIMIT 1"})
    assert raw.status_code == 409
    assert reader.post("/cypher", json={"cypher": ""}).status_code == 422
