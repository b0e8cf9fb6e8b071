"""Every Cypher statement keten can send, checked by Neo4j's own parser and semantic analysis.

The linter is npm `@neo4j-cypher/language-support` (`lintCypherQuery`), pinned in
package-lock.json and installed by `npm ci` (`.ci/run` does it). This test never skips: a
missing linter is a failure that says how to install it.

The linter takes about a quarter of a second per statement, so it sees one statement of
each *shape* (`cypher.shape`: the text with whitelisted labels and types blanked out);
statements of one shape differ only in an identifier token from the schema's whitelists.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from keten.graph import cypher
from keten.graph.named_queries import load_queries

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("cypher_lint.mjs")
LINTER = ROOT / "node_modules" / "@neo4j-cypher" / "language-support"
WARNING = 2
"""LSP DiagnosticSeverity: 1 error, 2 warning (deprecations among them); both fail."""
LIMIT = 900
"""Seconds the linter may take: a run came near 300 s on a busy 2-core machine (2026-12-02)."""


def lint(statements: list[dict[str, Any]], tmp_path: Path) -> list[dict[str, Any]]:
    """Run the node script over `statements`; returns each statement's diagnostics."""
    node = shutil.which("node")
    assert node, "node is not installed: the Cypher lint test needs Node.js and `npm ci`"
    assert LINTER.is_dir(), f"{LINTER} is missing: run `npm ci` in {ROOT}"
    payload = {
        "labels": [*cypher.KINDS, *cypher.INTERNAL_LABELS],
        "relationshipTypes": list(cypher.TYPES),
        "statements": statements,
    }
    path = tmp_path / "statements.json"
    path.write_text(json.dumps(payload))
    done = subprocess.run(
        [node, str(SCRIPT), str(path)], cwd=ROOT, capture_output=True, text=True, timeout=LIMIT
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(results) == len(statements)
    return results


def errors_of(results: list[dict[str, Any]], texts: dict[str, str]) -> list[str]:
    """Readable problem lines: statement name, message and the text around the offset."""
    found = []
    for result in results:
        for d in result["diagnostics"]:
            if d["severity"] <= WARNING:
                text = texts[result["name"]]
                at = d["offset"] or 0
                found.append(f"{result['name']}: {d['message']} near {text[at : at + 40]!r}")
    return found


def test_store_statements_pass_neo4j_lint(tmp_path: Path) -> None:
    """One statement per shape, named after every builder call that produces that shape."""
    by_shape: dict[str, list[cypher.Statement]] = {}
    for statement in cypher.all_statements():
        by_shape.setdefault(cypher.shape(statement.cypher), []).append(statement)
    chosen = [group[0] for group in by_shape.values()]
    names = {s.name: " / ".join(x.name for x in by_shape[cypher.shape(s.cypher)]) for s in chosen}
    texts = {s.name: s.cypher for s in chosen}
    results = lint(
        [
            {
                "name": s.name,
                "cypher": s.cypher,
                "parameters": cypher.example_parameters(s.parameters),
            }
            for s in chosen
        ],
        tmp_path,
    )
    errors = errors_of(results, texts)
    assert not errors, "\n".join(f"{e} [covers {names[e.split(':')[0]]}]" for e in errors)


def test_named_queries_pass_neo4j_lint(tmp_path: Path) -> None:
    queries = load_queries()
    statements = [
        {
            "name": q.name,
            "cypher": q.cypher,
            "parameters": {
                "level": 0,
                "hidden": [],
                **{p.name: p.default or "" for p in q.parameters},
            },
        }
        for q in queries.values()
    ]
    results = lint(statements, tmp_path)
    assert not errors_of(results, {q.name: q.cypher for q in queries.values()})


def test_the_linter_catches_errors(tmp_path: Path) -> None:
    """The check can fail: syntax, scope, parameter and deprecation problems are reported."""
    broken = [
        {
            "name": "deprecated",
            "cypher": "MATCH (n) CALL { WITH n RETURN 1 AS x } RETURN x",
            "parameters": {},
        },
        {"name": "syntax", "cypher": "MATCH (n:Entity RETURN n", "parameters": {}},
        {"name": "unbound", "cypher": "MATCH (n:Entity) RETURN m", "parameters": {}},
        {"name": "param", "cypher": "MATCH (n:Entity {id: $id}) RETURN n", "parameters": {}},
    ]
    results = lint(broken, tmp_path)
    assert [bool(errors_of([r], {r["name"]: ""})) for r in results] == [True, True, True, True]


@pytest.mark.parametrize("kind", cypher.KINDS)
def test_labels_come_only_from_the_whitelist(kind: str) -> None:
    assert f":{kind})" in cypher.create_entities(kind)
    with pytest.raises(ValueError, match="unknown entity kind"):
        cypher.create_entities(kind + "`) DETACH DELETE (x")
    with pytest.raises(ValueError, match="unknown entity kind"):
        cypher.list_entities(kind.lower())


def test_relationship_types_come_only_from_the_whitelist() -> None:
    with pytest.raises(ValueError, match="unknown relation type"):
        cypher.create_relations("DEPENDS_ON]->() DETACH DELETE (x)<-[:X")
    with pytest.raises(ValueError, match="unknown relation type"):
        cypher.list_relations("depends_on")
