"""Analysis routes over HTTP, on the seed graph, whose answers follow from its few edges.

Seed: vp:water and vp:secret (amber) DEPENDS_ON vp:power (water with an 8 h buffer), a storm
DISRUPTS vp:power, and processes SAFEGUARD int:territorial.
"""

from __future__ import annotations

import pytest

from keten.api.keys import Role
from keten.schema.markings import Tlp
from tests.api.conftest import Api


def test_cascade_times_and_chains(api: Api) -> None:
    answer = api.client(Role.READER, Tlp.GREEN).post(
        "/analysis/cascade", json={"sources": ["threat:storm"], "horizon_hours": 72}
    )
    assert answer.status_code == 200
    body = answer.json()
    affected = {a["id"]: a for a in body["affected"]}
    assert affected["vp:power"]["time_to_impact_hours"] == 0
    assert affected["vp:water"]["time_to_impact_hours"] == 8
    assert affected["vp:water"]["via"] == ["threat:storm", "vp:power"]
    assert body["revision"] == api.store.revision()
    short = api.client(Role.READER, Tlp.GREEN).post(
        "/analysis/cascade", json={"sources": ["threat:storm"], "horizon_hours": 4}
    )
    assert "vp:water" not in {a["id"] for a in short.json()["affected"]}


def test_propagation_with_certain_edges_reaches_the_cascade_set_with_probability_one(
    api: Api,
) -> None:
    reader = api.client(Role.READER, Tlp.GREEN)
    body = {"sources": ["vp:power"], "runs": 200, "seed": 7}
    first = reader.post("/analysis/propagation", json=body)
    assert first.status_code == 200
    chances = {e["id"]: e["probability"] for e in first.json()["entities"]}
    assert chances == {"vp:power": 1.0, "vp:water": 1.0}
    assert reader.post("/analysis/propagation", json=body).json() == first.json()


def test_propagation_with_a_weak_edge_estimates_its_strength(api: Api) -> None:
    contributor = api.client(Role.CONTRIBUTOR)
    weak = {"source": "vp:water", "target": "vp:power", "type": "DEPENDS_ON", "strength": 0.3}
    assert contributor.post("/relations", json=weak).status_code == 200
    body = {"sources": ["vp:power"], "runs": 4000, "seed": 1, "confidence": 0.99}
    result = api.client(Role.READER).post("/analysis/propagation", json=body).json()
    water = next(e for e in result["entities"] if e["id"] == "vp:water")
    assert water["ci_low"] <= 0.3 <= water["ci_high"]
    assert water["ci_high"] - water["ci_low"] < 0.1


def test_static_inoperability_for_a_green_key(api: Api) -> None:
    body = {"perturbation": {"vp:power": 0.4}, "mode": "static", "scale": 0.5}
    green = api.client(Role.READER, Tlp.GREEN).post("/analysis/inoperability", json=body)
    assert green.status_code == 200
    q = {e["id"]: e["inoperability"] for e in green.json()["entities"]}
    # q = A* q + c*: q_power = 0.4, q_water = 0.5 * 1 * q_power
    assert q == pytest.approx({"vp:power": 0.4, "vp:water": 0.2})


def test_analyses_leave_the_shared_projection_intact(api: Api) -> None:
    reader = api.client(Role.READER, Tlp.RED)
    cascade = {"sources": ["threat:storm"]}
    before = reader.post("/analysis/cascade", json=cascade).json()
    body = {"perturbation": {"vp:power": 0.4}, "scale": 0.5}
    assert reader.post("/analysis/inoperability", json=body).status_code == 200
    assert reader.post("/analysis/cascade", json=cascade).json() == before


def test_static_inoperability_follows_the_leontief_equation(api: Api) -> None:
    body = {"perturbation": {"vp:power": 0.4}, "mode": "static", "scale": 0.5}
    green = api.client(Role.READER, Tlp.GREEN).post("/analysis/inoperability", json=body)
    assert green.status_code == 200
    q = {e["id"]: e["inoperability"] for e in green.json()["entities"]}
    # q = A* q + c*: q_power = 0.4, q_water = 0.5 * 1 * q_power
    assert q["vp:power"] == pytest.approx(0.4)
    assert q["vp:water"] == pytest.approx(0.2)
    assert "vp:secret" not in q
    red = api.client(Role.READER, Tlp.RED).post("/analysis/inoperability", json=body).json()
    assert {e["id"]: e["inoperability"] for e in red["entities"]}["vp:secret"] == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/analysis/propagation", {"sources": ["vp:secret"]}, 404),
        ("/analysis/propagation", {"sources": ["vp:power"], "runs": 0}, 422),
        ("/analysis/propagation", {"sources": ["vp:power"], "confidence": 1}, 422),
        ("/analysis/inoperability", {"perturbation": {"vp:secret": 0.5}}, 404),
        ("/analysis/inoperability", {"perturbation": {"vp:power": 1.5}}, 422),
        ("/analysis/inoperability", {"perturbation": {}}, 422),
    ],
)
def test_hidden_ids_and_bad_requests(shared_api: Api, path: str, body: dict, status: int) -> None:
    answer = shared_api.client(Role.READER, Tlp.GREEN).post(path, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_paths_run_on_the_graph_the_key_may_see(api: Api) -> None:
    query = {"source": "threat:storm", "target": "int:territorial"}
    red = api.client(Role.READER, Tlp.RED).get("/analysis/paths", params=query).json()
    green = api.client(Role.READER, Tlp.GREEN).get("/analysis/paths", params=query).json()
    # red may use the amber SAFEGUARDS power -> territorial: storm, power, territorial
    assert [n["id"] for n in red["paths"][0]["nodes"]] == [
        "threat:storm",
        "vp:power",
        "int:territorial",
    ]
    assert [[n["id"] for n in p["nodes"]] for p in green["paths"]] == [
        ["threat:storm", "vp:power", "vp:water", "int:territorial"]
    ]
    only = {**query, "relation_types": ["DISRUPTS", "SAFEGUARDS"]}
    red_only = api.client(Role.READER, Tlp.RED).get("/analysis/paths", params=only).json()
    assert [p["hops"] for p in red_only["paths"]] == [2]
    green_only = api.client(Role.READER, Tlp.GREEN).get("/analysis/paths", params=only).json()
    assert green_only["paths"] == []


def test_criticality_counts_cascade_sizes_within_clearance(api: Api) -> None:
    def sizes(clearance: Tlp) -> dict[str, int]:
        answer = api.client(Role.READER, clearance).get(
            "/analysis/criticality", params={"kind": "VitalProcess"}
        )
        assert answer.status_code == 200
        return {e["id"]: e["cascade_size"] for e in answer.json()["entities"]}

    assert sizes(Tlp.RED) == {"vp:power": 2, "vp:water": 0, "vp:secret": 0}
    assert sizes(Tlp.GREEN) == {"vp:power": 1, "vp:water": 0}


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/analysis/paths", {"source": "threat:storm", "target": "vp:secret"}, 404),
        ("/analysis/paths", {"source": "threat:storm"}, 422),
        ("/analysis/paths", {"source": "a", "target": "b", "k": 0}, 422),
        ("/analysis/criticality", {"limit": 0}, 422),
        ("/analysis/criticality", {"kind": "Dragon"}, 422),
        ("/analysis/criticality", {"bogus": 1}, 422),
    ],
)
def test_bad_analysis_queries(shared_api: Api, path: str, params: dict, status: int) -> None:
    answer = shared_api.client(Role.READER, Tlp.GREEN).get(path, params=params)
    assert answer.status_code == status, answer.text
    assert answer.json()["status"] == status
