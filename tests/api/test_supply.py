"""`GET /analysis/dependencies` and `POST /analysis/embargo` on a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from keten.api.app import create_app
from keten.api.keys import Role
from keten.api.server import background_server
from keten.config import Settings
from keten.graph.projection import build_projection
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_bundle
from keten.queries.dependencies import dependency_report, read_supply
from keten.queries.embargo import EmbargoRequest, embargo
from keten.schema.markings import Tlp
from tests.api.conftest import Api

SUPPLY: dict[str, Any] = {
    "entities": [
        {"id": "country:CN", "kind": "Country", "name": "China", "iso2": "CN", "eu_member": False},
        {"id": "country:RU", "kind": "Country", "name": "Russia", "iso2": "RU", "eu_member": False},
        {"id": "country:DE", "kind": "Country", "name": "Germany", "iso2": "DE", "eu_member": True},
        {"id": "r:ore", "kind": "Resource", "name": "Ore", "substitutability": "low"},
        {"id": "r:chip", "kind": "Resource", "name": "Chip"},
        {"id": "vp:net", "kind": "VitalProcess", "name": "Internet"},
        {"id": "vp:spy@amber", "kind": "VitalProcess", "name": "Secret", "marking": "amber"},
        {"id": "int:econ", "kind": "Interest", "name": "Economic security"},
    ],
    "relations": [
        {"source": "r:ore", "target": "country:CN", "type": "SOURCED_FROM", "share": 0.6,
         "year": 2024},
        {"source": "r:ore", "target": "country:DE", "type": "SOURCED_FROM", "share": 0.2,
         "year": 2024},
        {"source": "r:ore", "target": "country:RU", "type": "SOURCED_FROM", "share": 0.2,
         "year": 2024, "key": "@amber", "marking": "amber"},
        {"source": "r:ore", "target": "r:chip", "type": "INPUT_TO"},
        {"source": "vp:net", "target": "r:chip", "type": "DEPENDS_ON", "buffer_hours": 24},
        {"source": "vp:spy@amber", "target": "r:chip", "type": "DEPENDS_ON"},
        {"source": "vp:net", "target": "int:econ", "type": "SAFEGUARDS"},
    ],
}  # fmt: skip
"""Amber: the Russian share of ore and the process vp:spy."""


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """A server over the supply bundle."""
    store = SqliteStore(tmp_path / "keten.sqlite")
    load_bundle(store, SUPPLY)
    app = create_app(store, Settings(home=tmp_path))
    with background_server(app) as url:
        running = Api(url, store, app.state.keys)
        yield running
        for client in running.clients:
            client.close()
    store.close()


def test_dependencies_are_computed_on_what_the_key_may_see(api: Api) -> None:
    for clearance in (Tlp.GREEN, Tlp.RED):
        answer = api.client(Role.READER, clearance).get(
            "/analysis/dependencies", params={"flagged": "RU,cn"}
        )
        assert answer.status_code == 200, answer.text
        data = read_supply(api.store, clearance)
        expected = dependency_report(data, flagged=["RU", "cn"])
        assert answer.json() == expected.model_dump(mode="json")
    green = api.client(Role.READER, Tlp.GREEN).get("/analysis/dependencies").json()
    (ore,) = green["resources"]
    assert ore["hhi"] == pytest.approx(0.75**2 + 0.25**2) and ore["non_eu_share"] == 0.6
    assert [p["id"] for p in ore["vital_processes"]] == ["vp:net"]
    assert "country:RU" not in {s["country"] for s in ore["suppliers"]}


def test_a_write_shows_in_the_next_answer(api: Api) -> None:
    reader = api.client(Role.READER)
    assert reader.get("/analysis/dependencies").json()["total"] == 1
    new_share = {"source": "r:chip", "target": "country:CN", "type": "SOURCED_FROM",
                 "share": 0.9, "year": 2024}  # fmt: skip
    assert api.client(Role.CONTRIBUTOR).post("/relations", json=new_share).status_code == 201
    answer = reader.get("/analysis/dependencies").json()
    assert answer["total"] == 2 and answer["revision"] == api.store.revision()


def test_dependency_options_and_bad_queries(api: Api) -> None:
    reader = api.client(Role.READER)
    params: dict[str, Any] = {"hhi_threshold": 0.5, "non_eu_threshold": 0.9, "year": 2024}
    ore = reader.get("/analysis/dependencies", params=params).json()["resources"][0]
    assert ore["flags"]["concentrated"] is False and ore["flags"]["import_dependent"] is False
    assert reader.get("/analysis/dependencies", params={"year": 2020}).json()["total"] == 0
    too_high = reader.get("/analysis/dependencies", params={"hhi_threshold": 2})
    assert too_high.status_code == 422
    assert too_high.headers["content-type"].startswith("application/problem+json")
    unknown = reader.get("/analysis/dependencies", params={"flagged": "Atlantis"})
    assert unknown.status_code == 422 and "Atlantis" in unknown.json()["detail"]
    assert api.client(None).get("/analysis/dependencies").status_code == 401


def test_embargo_matches_the_query_per_clearance(api: Api) -> None:
    body = {"country": "CN", "threshold": 0.5, "horizon_hours": 48}
    for clearance in (Tlp.GREEN, Tlp.RED):
        answer = api.client(Role.READER, clearance).post("/analysis/embargo", json=body)
        assert answer.status_code == 200, answer.text
        expected = embargo(
            read_supply(api.store, clearance),
            build_projection(api.store, clearance),
            EmbargoRequest.model_validate(body),
        )
        assert answer.json() == expected.model_dump(mode="json")
    green = api.client(Role.READER, Tlp.GREEN).post("/analysis/embargo", json=body).json()
    times = {a["id"]: a["time_to_impact_hours"] for a in green["affected"]}
    assert times == {"r:ore": 0, "r:chip": 0, "vp:net": 24}
    assert [i["id"] for i in green["interests"]] == ["int:econ"]
    assert {s["id"]: s["shortfall"] for s in green["shortfalls"]} == {"r:ore": 0.6, "r:chip": 0.6}


def test_embargo_refuses_unknown_countries_and_bad_bodies(api: Api) -> None:
    reader = api.client(Role.READER)
    unknown = reader.post("/analysis/embargo", json={"country": "XX"})
    assert unknown.status_code == 404 and "XX" in unknown.json()["detail"]
    hidden = api.client(Role.READER, Tlp.GREEN).post("/analysis/embargo", json={"country": "RU"})
    assert hidden.status_code == 200 and hidden.json()["shortfalls"] == []
    for bad in ({"country": "CN", "threshold": 0}, {"country": "CN", "extra": 1}, {}):
        answer = reader.post("/analysis/embargo", json=bad)
        assert answer.status_code == 422, bad


def test_both_routes_conform_to_the_published_schema(api: Api) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    key = api.key(Role.READER)
    headers = {"X-API-Key": key, "Authorization": f"Bearer {key}"}
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    mine = {"/analysis/dependencies", "/analysis/embargo"}
    found = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    operations = [operation for operation in found if operation.path in mine]
    assert len(operations) == 2
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=checks)

        check()
