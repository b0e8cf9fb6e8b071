"""Read-only Cypher for analysts: a library of named, parameterised queries and raw queries.

The named queries live in `queries.yaml` beside this module, each with its description,
typed parameters and the Cypher behind it, so an analyst can see exactly what is asked.
Both `run` and `run_readonly` execute in a READ access-mode transaction (the server refuses
any write) with a row limit and a timeout; `run_readonly` also refuses write clauses up
front, so the error names the clause instead of surfacing a server error.

Clearance: a named query receives the caller's clearance as `$level` (and the bulk loads
not yet visible as `$hidden`) and filters every node and relationship on them. Raw Cypher
cannot be filtered that way, so it is only for callers cleared for everything (TLP:RED).

>>> sorted(load_queries())[:2]
['actors_threatening_interest', 'concentrated_sourcing']
>>> bind(load_queries()["concentrated_sourcing"], {})
{'min_share': 0.5}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from keten.schema.markings import Tlp

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
WRITE_CLAUSES = re.compile(
    r"(?<![.\w])(CREATE|MERGE|DELETE|DETACH|SET|REMOVE|DROP|FOREACH|LOAD\s+CSV|USE|GRANT|"
    r"DENY|REVOKE|ALTER|TERMINATE|IN\s+TRANSACTIONS)\b",
    re.IGNORECASE,
)
"""Clauses a read-only query has no business with (checked outside strings and comments)."""
PROCEDURE_CALL = re.compile(r"\bCALL\s+(?!\{|\()([\w.`]+)", re.IGNORECASE)
READ_PROCEDURES = re.compile(r"^`?(db\.(labels|relationshipTypes|propertyKeys|schema\.\w+))`?$")
LITERALS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|//[^\n]*|/\*.*?\*/", re.DOTALL)


class CypherUnavailableError(RuntimeError):
    """Cypher needs the Neo4j store; the embedded SQLite store has none."""


class CypherQueryError(ValueError):
    """A named query or raw Cypher request that cannot be run as asked."""


@dataclass(frozen=True, slots=True)
class Parameter:
    """One typed parameter of a named query."""

    name: str
    type: str
    description: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def required(self) -> bool:
        """A parameter without a default must be given."""
        return self.default is None


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """A named analyst query: what it answers, its parameters and its Cypher."""

    name: str
    description: str
    parameters: tuple[Parameter, ...]
    cypher: str

    def as_dict(self) -> dict[str, Any]:
        """For listings (the API shows the Cypher behind each query)."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": [
                {
                    "name": p.name,
                    "type": p.type,
                    "description": p.description,
                    "required": p.required,
                    "default": p.default,
                    "minimum": p.minimum,
                    "maximum": p.maximum,
                }
                for p in self.parameters
            ],
            "cypher": self.cypher,
        }


@dataclass(frozen=True, slots=True)
class CypherResult:
    """Rows of a read query; `truncated` when more rows than the limit were there."""

    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool


@cache
def load_queries() -> dict[str, NamedQuery]:
    """The query library from `queries.yaml`, by name (read once)."""
    text = resources.files("keten.graph").joinpath("queries.yaml").read_text(encoding="utf-8")
    queries: dict[str, NamedQuery] = {}
    for entry in yaml.safe_load(text):
        params = tuple(Parameter(**p) for p in entry.get("parameters", []))
        for p in params:
            if p.type not in TYPES:
                raise ValueError(f"query {entry['name']}: parameter {p.name} has type {p.type}")
        queries[entry["name"]] = NamedQuery(
            entry["name"], " ".join(entry["description"].split()), params, entry["cypher"]
        )
    return queries


def bind(query: NamedQuery, given: dict[str, Any]) -> dict[str, Any]:
    """Checked parameters for `query`: defaults filled in, every problem named at once."""
    known = {p.name for p in query.parameters}
    problems = [f"unknown parameter {name!r}" for name in given if name not in known]
    bound: dict[str, Any] = {}
    for p in query.parameters:
        value = given.get(p.name, p.default)
        if value is None:
            problems.append(f"{p.name}: required ({p.type})")
            continue
        if (isinstance(value, bool) and p.type != "boolean") or not isinstance(
            value, TYPES[p.type]
        ):
            problems.append(f"{p.name}: expected {p.type}, got {type(value).__name__}")
            continue
        number: Any = value
        if p.minimum is not None and number < p.minimum:
            problems.append(f"{p.name}: must be at least {p.minimum}")
        if p.maximum is not None and number > p.maximum:
            problems.append(f"{p.name}: must be at most {p.maximum}")
        bound[p.name] = value
    if problems:
        raise CypherQueryError(f"query {query.name}: " + "; ".join(problems))
    return bound


def check_read_only(cypher: str) -> None:
    """Refuse text with a write clause, a second statement, or a procedure call that is not a
    known read-only one (strings and comments are ignored)."""
    code = LITERALS.sub(" ", cypher)
    match = WRITE_CLAUSES.search(code)
    if match:
        raise CypherQueryError(f"read-only Cypher only: {match.group(0).upper()} is refused")
    if ";" in code.rstrip().rstrip(";"):
        raise CypherQueryError("one statement at a time")
    for call in PROCEDURE_CALL.finditer(code):
        if not READ_PROCEDURES.match(call.group(1)):
            raise CypherQueryError(f"procedure {call.group(1)} is not allowed")


def _neo4j_store(store: Any) -> Any:
    from keten.graph.neo4j import Neo4jStore

    if not isinstance(store, Neo4jStore):
        raise CypherUnavailableError(
            f"Cypher queries need the Neo4j store (KETEN_STORE=bolt://...); this is {store.name}"
        )
    return store


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise CypherQueryError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def run(
    store: Any,
    name: str,
    params: dict[str, Any],
    clearance: Tlp = Tlp.CLEAR,
    limit: int = DEFAULT_LIMIT,
) -> CypherResult:
    """Run the named query `name` with `params` on the caller's `clearance`."""
    neo4j = _neo4j_store(store)
    query = load_queries().get(name)
    if query is None:
        raise CypherQueryError(f"no named query {name!r}; known: {', '.join(load_queries())}")
    bound = bind(query, params) | {"level": clearance.level, "hidden": neo4j.hidden_loads()}
    return _result(*neo4j.run_read(query.cypher, bound, _limit(limit)))


def run_readonly(
    store: Any,
    cypher: str,
    params: dict[str, Any] | None = None,
    limit: int = DEFAULT_LIMIT,
    clearance: Tlp = Tlp.RED,
) -> CypherResult:
    """Run raw read-only Cypher; only for callers cleared for everything (TLP:RED)."""
    neo4j = _neo4j_store(store)
    if clearance != Tlp.RED:
        raise PermissionError("raw Cypher sees every marking: it needs TLP:RED clearance")
    check_read_only(cypher)
    return _result(*neo4j.run_read(cypher, dict(params or {}), _limit(limit)))


def _result(columns: list[str], rows: list[list[Any]], truncated: bool) -> CypherResult:
    return CypherResult(
        columns, [dict(zip(columns, map(plain, row), strict=True)) for row in rows], truncated
    )


def plain(value: Any) -> Any:
    """A driver value as JSON-ready data: nodes and relationships as dicts of their
    properties (with id, labels or type), paths as lists, temporal values as ISO text."""
    from neo4j.graph import Node, Path, Relationship

    if isinstance(value, Node):
        return {"labels": sorted(value.labels), **{k: plain(v) for k, v in value.items()}}
    if isinstance(value, Relationship):
        ends = {
            "source": value.start_node["id"] if value.start_node else None,
            "target": value.end_node["id"] if value.end_node else None,
        }
        return {"type": value.type, **ends, **{k: plain(v) for k, v in value.items()}}
    if isinstance(value, Path):
        return [plain(n) for n in value.nodes]
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "iso_format"):
        return value.iso_format()
    return value
