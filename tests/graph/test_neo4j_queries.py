"""Named analyst queries and read-only Cypher: checks that run without a server, and the
Neo4j runs (migration round trip, queries on data) when NEO4J_URI points at a throwaway one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from keten.graph.named_queries import (
    CypherQueryError,
    CypherUnavailableError,
    bind,
    check_read_only,
    load_queries,
    run,
    run_readonly,
)
from keten.graph.sqlite import SqliteStore
from keten.graph.store import EntityRow, RelationRow, WriteMode
from keten.schema.markings import Tlp

needs_neo4j = pytest.mark.skipif(
    not os.environ.get("NEO4J_URI"),
    reason="needs a throwaway Neo4j server: set NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD)",
)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "keten.sqlite")
    yield store
    store.close()


def test_library_is_complete_and_documented() -> None:
    queries = load_queries()
    assert len(queries) >= 6
    for q in queries.values():
        listed = q.as_dict()
        assert listed["description"] and "$level" in listed["cypher"]
        assert "$hidden" in listed["cypher"]
        for p in q.parameters:
            assert f"${p.name}" in q.cypher, f"{q.name} never uses ${p.name}"


def test_bind_fills_defaults_and_names_every_problem() -> None:
    q = load_queries()["transitive_dependencies"]
    assert bind(q, {"id": "vp:power"}) == {"id": "vp:power", "max_hops": 3}
    with pytest.raises(CypherQueryError) as err:
        bind(q, {"max_hops": 9, "colour": "red"})
    message = str(err.value)
    assert "unknown parameter 'colour'" in message
    assert "id: required" in message and "max_hops: must be at most 6" in message
    with pytest.raises(CypherQueryError, match="expected integer, got bool"):
        bind(q, {"id": "x", "max_hops": True})
    with pytest.raises(CypherQueryError, match="expected number, got str"):
        bind(load_queries()["concentrated_sourcing"], {"min_share": "half"})


@pytest.mark.parametrize(
    "text",
    [
        "MATCH (n) DETACH DELETE n",
        "MATCH (n) SET n.name = 'x'",
        "create (n:Entity {id: 'x'})",
        "MATCH (n) RETURN n; MATCH (m) DELETE m",
        "MATCH (n) RETURN n; MATCH (m) RETURN m",
        "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row",
        "CALL dbms.security.createUser('x', 'y', false)",
        "MATCH (n) CALL { WITH n MERGE (m:X) } IN TRANSACTIONS RETURN 1",
    ],
)
def test_write_clauses_are_refused(text: str) -> None:
    with pytest.raises(CypherQueryError):
        check_read_only(text)


@pytest.mark.parametrize(
    "text",
    [
        "MATCH (n:Entity) WHERE n.name = 'DELETE me; SET x' RETURN n.created_at",
        "MATCH (n) // SET in a comment\nRETURN n.id;",
        "CALL db.labels()",
        "MATCH (n) CALL { WITH n RETURN n.id AS id } RETURN id",
    ],
)
def test_reads_pass(text: str) -> None:
    check_read_only(text)


def test_sqlite_store_answers_that_cypher_needs_neo4j(sqlite: SqliteStore) -> None:
    with pytest.raises(CypherUnavailableError, match="Neo4j store"):
        run(sqlite, "most_depended_on", {})
    with pytest.raises(CypherUnavailableError, match="Neo4j store"):
        run_readonly(sqlite, "MATCH (n) RETURN n")


def test_unreachable_server_is_named() -> None:
    from keten.graph.neo4j import Neo4jStore

    with pytest.raises(ConnectionError, match=r"bolt://127\.0\.0\.1:9"):
        Neo4jStore("bolt://127.0.0.1:9", "neo4j", "secret")


def sample(store: object) -> None:
    """Power <- water <- hospital, gallium from China, a red actor posing a threat."""
    with store.writer() as w:  # type: ignore[attr-defined]
        w.upsert_entities(
            [
                EntityRow("vp:power", "VitalProcess", "Electricity", props={"aliases": ["Stroom"]}),
                EntityRow("vp:water", "VitalProcess", "Drinking water"),
                EntityRow("org:hospital", "Organisation", "Hospital", "green"),
                EntityRow("res:gallium", "Resource", "Gallium"),
                EntityRow("country:CN", "Country", "China"),
                EntityRow("interest:econ", "Interest", "Economic security"),
                EntityRow("threat:sabotage", "Threat", "Sabotage"),
                EntityRow("actor:x", "Actor", "State actor X", "red"),
            ]
        )
        w.upsert_relations(
            [
                RelationRow("vp:water", "DEPENDS_ON", "vp:power", props={"buffer_hours": 4.0}),
                RelationRow("org:hospital", "DEPENDS_ON", "vp:water", props={"strength": 0.5}),
                RelationRow(
                    "res:gallium", "SOURCED_FROM", "country:CN", "2023", props={"share": 0.98}
                ),
                RelationRow("actor:x", "POSES", "threat:sabotage", marking="red"),
                RelationRow("threat:sabotage", "THREATENS", "interest:econ"),
                RelationRow("threat:sabotage", "DISRUPTS", "vp:power"),
                RelationRow("vp:power", "SAFEGUARDS", "interest:econ"),
            ]
        )


@pytest.fixture
def neo4j() -> Iterator[object]:
    from keten.graph.neo4j import open_test_store

    store = open_test_store()
    yield store
    store.close()


@needs_neo4j
def test_export_from_sqlite_loads_into_neo4j_unchanged(sqlite: SqliteStore, neo4j: object) -> None:
    sample(sqlite)
    entities, relations = list(sqlite.iter_entities()), list(sqlite.iter_relations())
    with neo4j.writer(mode=WriteMode.RESTORE) as w:  # type: ignore[attr-defined]
        w.upsert_entities(entities)
        w.upsert_relations(relations)
    assert list(neo4j.iter_entities()) == entities  # type: ignore[attr-defined]
    key = lambda r: r.ref  # noqa: E731
    got = sorted(neo4j.iter_relations(), key=key)  # type: ignore[attr-defined]
    assert got == sorted(relations, key=key)
    with neo4j.writer() as w:  # type: ignore[attr-defined]
        w.upsert_entities(entities)
        assert w.counts.entities_unchanged == len(entities)
    assert neo4j.revision() == 1  # type: ignore[attr-defined]


@needs_neo4j
def test_named_queries_answer_within_clearance(neo4j: object) -> None:
    sample(neo4j)
    deps = run(neo4j, "dependants", {"id": "vp:power"}, Tlp.GREEN)
    assert [(r["id"], r["hops"]) for r in deps.rows] == [("vp:water", 1), ("org:hospital", 2)]
    assert run(neo4j, "dependants", {"id": "vp:power"}, Tlp.CLEAR).rows == [
        {"id": "vp:water", "kind": "VitalProcess", "name": "Drinking water", "hops": 1}
    ]
    share = run(neo4j, "concentrated_sourcing", {"min_share": 0.9}).rows
    assert [(r["resource"], r["share"]) for r in share] == [("res:gallium", 0.98)]
    assert run(neo4j, "actors_threatening_interest", {"interest": "interest:econ"}).rows == []
    actors = run(neo4j, "actors_threatening_interest", {"interest": "interest:econ"}, Tlp.RED)
    assert [r["actor"] for r in actors.rows] == ["actor:x"]
    threats = run(neo4j, "threats_to_interest", {"interest": "interest:econ"}).rows
    assert {r["route"] for r in threats} == {"direct", "via vp:power"}


@needs_neo4j
def test_raw_cypher_is_read_only_and_limited(neo4j: object) -> None:
    sample(neo4j)
    result = run_readonly(neo4j, "MATCH (n:Entity) RETURN n.id AS id ORDER BY id", limit=3)
    assert len(result.rows) == 3 and result.truncated and result.columns == ["id"]
    with pytest.raises(PermissionError):
        run_readonly(neo4j, "MATCH (n) RETURN n", clearance=Tlp.AMBER)
