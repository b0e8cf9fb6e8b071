"""GET /analysis/risk, the risk diagram and POST /analysis/scenarios on a real server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from keten.api.app import create_app
from keten.api.keys import KeyStore, Role
from keten.api.server import background_server
from keten.config import Settings
from keten.graph.projection import build_projection
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_bundle
from keten.queries.risk import RiskOptions, integrated_analysis
from keten.queries.scenarios import ScenariosRequest, compare_scenarios
from keten.schema.markings import Tlp
from tests.queries.test_risk import SMALL

Clients = dict[str, httpx.Client]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SqliteStore, Clients]]:
    """The risk tests' small network behind a real server; clients with red, green, no key."""
    home: Path = tmp_path_factory.mktemp("risk-api")
    store = SqliteStore(home / "keten.sqlite")
    load_bundle(store, SMALL)
    app = create_app(store, Settings(home=home))
    keys: KeyStore = app.state.keys
    with background_server(app) as url:
        clients = {
            level: httpx.Client(
                base_url=url,
                headers={"X-API-Key": keys.create(Role.READER, Tlp(level), label="t").secret},
                timeout=60,
            )
            for level in ("red", "green")
        }
        clients["none"] = httpx.Client(base_url=url, timeout=60)
        yield store, clients
        for client in clients.values():
            client.close()
    store.close()


def test_risk_answers_what_the_analysis_computes(served: tuple[SqliteStore, Clients]) -> None:
    store, clients = served
    answer = clients["red"].get("/analysis/risk", params={"prefer": "derived", "top": 1})
    assert answer.status_code == 200, answer.text
    expected = integrated_analysis(
        store, build_projection(store, Tlp.RED), RiskOptions(prefer="derived", top=1)
    )
    assert answer.json() == expected.model_dump(mode="json")
    outage = next(t for t in answer.json()["threats"] if t["id"] == "threat:outage")
    assert set(outage) >= {"id", "name", "likelihood", "impact", "score", "actors"}
    assert outage["impact_basis"]["interest:phys"] == "derived"


def test_risk_respects_clearance(served: tuple[SqliteStore, Clients]) -> None:
    _, clients = served
    green = clients["green"].get("/analysis/risk")
    assert green.status_code == 200
    assert {t["id"] for t in green.json()["threats"]} == {"threat:outage", "threat:quiet"}
    assert "secret" not in green.text.lower() and "hidden" not in green.text.lower()
    svg = clients["green"].get("/analysis/risk/diagram.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "Outage" in svg.text and "Secret" not in svg.text
    red_svg = clients["red"].get("/analysis/risk/diagram.svg")
    assert "Secret" in red_svg.text


def test_diagram_png_and_bad_queries(served: tuple[SqliteStore, Clients]) -> None:
    _, clients = served
    png = clients["red"].get("/analysis/risk/diagram.png", params={"horizon_hours": 24})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    bad = clients["red"].get("/analysis/risk", params={"prefer": "guess", "horizon_hours": -1})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in bad.json()["errors"]} == {"prefer", "horizon_hours"}
    assert clients["none"].get("/analysis/risk").status_code == 401
    assert clients["none"].get("/analysis/risk/diagram.png").status_code == 401


def test_scenarios(served: tuple[SqliteStore, Clients]) -> None:
    store, clients = served
    body = {
        "scenarios": [
            {"name": "outage", "sources": ["threat:outage"]},
            {"name": "water", "sources": ["vp:water"], "horizon_hours": 10},
        ],
        "limit": 5,
    }
    answer = clients["red"].post("/analysis/scenarios", json=body)
    assert answer.status_code == 200, answer.text
    expected = compare_scenarios(
        build_projection(store, Tlp.RED), ScenariosRequest.model_validate(body)
    )
    assert answer.json() == expected.model_dump(mode="json")
    assert answer.json()["differences"][0]["only_in_a"] == ["threat:outage", "vp:power"]

    hidden = {"scenarios": [{"name": "s", "sources": ["threat:secret@amber"]}]}
    assert clients["red"].post("/analysis/scenarios", json=hidden).status_code == 200
    refused = clients["green"].post("/analysis/scenarios", json=hidden)
    assert refused.status_code == 404 and "threat:secret@amber" in refused.json()["detail"]
    twice = {"scenarios": [{"name": "s", "sources": ["vp:power"]}] * 2}
    duplicate = clients["red"].post("/analysis/scenarios", json=twice)
    assert duplicate.status_code == 422 and "unique" in duplicate.text


@contextmanager
def own_server(home: Path) -> Iterator[tuple[SqliteStore, FastAPI, httpx.Client, httpx.Client]]:
    """The small network behind a server of its own (for tests that write); red and green
    readers' clients."""
    store = SqliteStore(home / "keten.sqlite")
    load_bundle(store, SMALL)
    app = create_app(store, Settings(home=home))
    keys: KeyStore = app.state.keys
    with background_server(app) as url:
        red, green = (
            httpx.Client(
                base_url=url,
                headers={"X-API-Key": keys.create(Role.READER, level, label="t").secret},
                timeout=60,
            )
            for level in (Tlp.RED, Tlp.GREEN)
        )
        yield store, app, red, green
        red.close()
        green.close()
    store.close()


def test_the_analysis_is_kept_until_the_readers_graph_changes(tmp_path: Path) -> None:
    """One computation per projection and options; a write hidden from a reader keeps that
    reader's answer, a write it can see replaces it."""
    with own_server(tmp_path) as (store, app, red, green):
        first = red.get("/analysis/risk").json()
        assert red.get("/analysis/risk").json() == first
        assert red.get("/analysis/risk/diagram.svg").status_code == 200
        assert app.state.risks.computed == 1
        red.get("/analysis/risk", params={"top": 1})
        green_before = green.get("/analysis/risk").json()
        assert app.state.risks.computed == 3
        amber = {"id": "threat:new@amber", "kind": "Threat", "name": "New", "marking": "amber"}
        load_bundle(store, {"entities": [{**amber, "likelihood": "B"}]})
        assert green.get("/analysis/risk").json() == green_before
        assert app.state.risks.computed == 3
        after = red.get("/analysis/risk").json()
        assert app.state.risks.computed == 4
        assert "threat:new@amber" in {t["id"] for t in after["threats"]}
        assert "threat:new@amber" not in {t["id"] for t in first["threats"]}


def walk(client: httpx.Client, params: dict[str, str | int]) -> list[dict[str, Any]]:
    """Every page of the analysis with `params`, following `next_cursor`."""
    pages = [client.get("/analysis/risk", params=params).json()]
    while pages[-1]["next_cursor"]:
        cursor = pages[-1]["next_cursor"]
        answer = client.get("/analysis/risk", params={**params, "cursor": cursor})
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
    return pages


@pytest.mark.parametrize("level", [Tlp.RED, Tlp.GREEN])
def test_risk_pages_add_up_to_the_whole_analysis(
    served: tuple[SqliteStore, Clients], level: Tlp
) -> None:
    """Pages of one threat and one process each give back the whole ranking, each interest's
    ranking and every derivation's totals; a green reader's totals count only what it sees."""
    store, clients = served
    whole = integrated_analysis(store, build_projection(store, level), RiskOptions())
    pages = walk(clients[level.value], {"limit": 1, "processes": 1})
    assert len(pages) == len(whole.threats) > 1
    assert [t["id"] for p in pages for t in p["threats"]] == [t.id for t in whole.threats]
    assert {p["threats_total"] for p in pages} == {len(whole.threats)}
    for i, summary in enumerate(whole.interests):
        listed = [t["id"] for p in pages for t in p["interests"][i]["threats"]]
        assert listed == [t.id for t in summary.threats]
        assert pages[0]["interests"][i]["threats_total"] == len(summary.threats)
    for page, threat in zip(pages, whole.threats, strict=True):
        for interest, derived in threat.derivation.items():
            shown = page["threats"][0]["derivation"][interest]
            assert shown["points"] == derived.points
            assert shown["processes_total"] == len(derived.processes)
            assert [h["id"] for h in shown["processes"]] == [h.id for h in derived.processes[:1]]


def test_risk_cursors_refuse_other_options_and_forgeries(
    served: tuple[SqliteStore, Clients],
) -> None:
    _, clients = served
    first = clients["red"].get("/analysis/risk", params={"limit": 1}).json()
    cursor = first["next_cursor"]
    other = clients["red"].get("/analysis/risk", params={"limit": 1, "top": 2, "cursor": cursor})
    assert other.status_code == 422 and "other options" in other.json()["detail"]
    for forged in ("nonsense", "W10", "NQ", "e30", cursor[:-3]):  # [], 5, {}
        answer = clients["red"].get("/analysis/risk", params={"cursor": forged})
        assert answer.status_code == 422, (forged, answer.text)
        assert answer.json()["type"].endswith("invalid-cursor")


def test_a_cursor_goes_stale_only_when_its_readers_analysis_changes(tmp_path: Path) -> None:
    """A write the reader cannot see keeps its cursor valid; one it can see answers 409."""
    with own_server(tmp_path) as (store, _, red, green):
        red_cursor = red.get("/analysis/risk", params={"limit": 1}).json()["next_cursor"]
        green_cursor = green.get("/analysis/risk", params={"limit": 1}).json()["next_cursor"]
        amber = {"id": "threat:new@amber", "kind": "Threat", "name": "New", "marking": "amber"}
        load_bundle(store, {"entities": [{**amber, "likelihood": "B"}]})
        kept = green.get("/analysis/risk", params={"limit": 1, "cursor": green_cursor})
        assert kept.status_code == 200, kept.text
        stale = red.get("/analysis/risk", params={"limit": 1, "cursor": red_cursor})
        assert stale.status_code == 409 and stale.json()["type"].endswith("stale-cursor")
        assert "ask again without a cursor" in stale.json()["detail"]
