"""Analysis routes over HTTP, on the seed graph, whose answers follow from its few edges.

Seed: vp:water and vp:secret@amber (amber) DEPENDS_ON vp:power (water with an 8 h buffer), a storm
DISRUPTS vp:power, and processes SAFEGUARD int:territorial.
"""

from __future__ import annotations

from typing import Any

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
    assert "vp:secret@amber" not in q
    red = api.client(Role.READER, Tlp.RED).post("/analysis/inoperability", json=body).json()
    assert {e["id"]: e["inoperability"] for e in red["entities"]}[
        "vp:secret@amber"
    ] == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/analysis/propagation", {"sources": ["vp:secret@amber"]}, 404),
        ("/analysis/propagation", {"sources": ["vp:power"], "runs": 0}, 422),
        ("/analysis/propagation", {"sources": ["vp:power"], "confidence": 1}, 422),
        ("/analysis/inoperability", {"perturbation": {"vp:secret@amber": 0.5}}, 404),
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

    assert sizes(Tlp.RED) == {"vp:power": 2, "vp:water": 0, "vp:secret@amber": 0}
    assert sizes(Tlp.GREEN) == {"vp:power": 1, "vp:water": 0}


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/analysis/paths", {"source": "threat:storm", "target": "vp:secret@amber"}, 404),
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


# --- every documented parameter works ----------------------------------------------------

BASES: dict[str, dict[str, Any]] = {
    "POST /analysis/cascade": {"json": {"sources": ["threat:storm"]}},
    "POST /analysis/propagation": {"json": {"sources": ["vp:power"], "runs": 20}},
    "POST /analysis/inoperability": {"json": {"perturbation": {"vp:power": 0.5}}},
    "GET /analysis/criticality": {},
    "GET /analysis/paths": {"params": {"source": "threat:storm", "target": "int:territorial"}},
    "GET /analysis/dependencies": {},
    "POST /analysis/embargo": {"json": {"country": "country:NL"}},
    "GET /analysis/risk": {},
    "GET /analysis/risk/diagram.png": {},
    "GET /analysis/risk/diagram.svg": {},
    "POST /analysis/scenarios": {"json": {"scenarios": [{"name": "a", "sources": ["vp:power"]}]}},
    "GET /analysis/targeted": {"params": {"capability": "capability:phishing"}},
}
"""A request that answers 200 on the seed, for every analysis operation."""


def documented_values(spec: dict[str, Any], schema: dict[str, Any]) -> list[Any]:
    """Values the schema of a query parameter promises to take: every enum member, both
    booleans, the bounds of a number, examples of a string, one item for an array.
    """
    found: list[Any] = list(schema.get("examples", []))
    for option in schema.get("anyOf", [schema]):
        option = {**option, **resolve(spec, option)}
        kind = option.get("type")
        if "enum" in option:
            found += option["enum"]
        elif kind == "boolean":
            found += [True, False]
        elif kind in ("integer", "number"):
            found += [option[b] for b in ("minimum", "maximum", "default") if b in option]
        elif kind == "array":
            found += [[item] for item in documented_values(spec, option["items"])[:2]]
        elif kind == "string":
            found += option.get("examples", []) + [option.get("default")] * ("default" in option)
    return [value for value in found if value is not None]


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow one local $ref (or give the node itself)."""
    target: Any = spec
    for part in node.get("$ref", "").removeprefix("#/").split("/") if "$ref" in node else []:
        target = target[part]
    return dict(target) if "$ref" in node else node


def test_every_query_parameter_the_document_promises_is_taken(api: Api) -> None:
    contributor = api.client(Role.CONTRIBUTOR)
    for code in ("NL", "CN", "RU"):  # the embargo's country and the examples' flagged ones
        country = {"id": f"country:{code}", "kind": "Country", "name": code, "iso2": code}
        assert contributor.post("/entities", json=country).status_code == 201
    second = {"id": "threat:drought", "kind": "Threat", "name": "Drought", "likelihood": "C"}
    assert contributor.post("/entities", json=second).status_code == 201  # risk pages twice
    technique = {"id": "capability:phishing", "kind": "Capability", "name": "Phishing"}
    assert contributor.post("/entities", json=technique).status_code == 201
    spec = api.client(None).get("/openapi.json").json()
    reader = api.client(Role.READER, Tlp.RED)
    operations = {
        f"{method.upper()} {path}": operation
        for path, item in spec["paths"].items()
        if path.startswith("/analysis/")
        for method, operation in item.items()
    }
    assert set(operations) == set(BASES)
    refused = []
    for name, operation in operations.items():
        method, path = name.split(" ")
        base = BASES[name]
        assert reader.request(method, path, **base).status_code == 200, name
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query" or parameter["name"] in base.get("params", {}):
                continue
            values = documented_values(spec, parameter["schema"])
            if (name, parameter["name"]) == ("GET /analysis/risk", "cursor"):
                first = reader.get("/analysis/risk", params={"limit": 1}).json()
                values = [first["next_cursor"]]  # a cursor is only ever one a page gave
            assert values, f"{name} {parameter['name']}: no value to try"
            for value in values:
                params = {**base.get("params", {}), parameter["name"]: value}
                answer = reader.request(method, path, **{**base, "params": params})
                if answer.status_code != 200:
                    refused.append(f"{name} ?{parameter['name']}={value}: {answer.text[:200]}")
    assert refused == []


def test_criticality_and_paths_take_the_assessment_rule(api: Api) -> None:
    """Two institutes disagree on water's dependency on power: 'all' lets the earliest
    (2 h) count, 'most_reliable' the better-graded one (8 h, reliability A).
    """
    contributor = api.client(Role.CONTRIBUTOR)
    for key, hours, grade in (("a", 8, "A"), ("b", 2, "D")):
        relation = {"source": "vp:water", "target": "vp:power", "type": "DEPENDS_ON", "key": key}
        body = {**relation, "buffer_hours": hours, "reliability": grade}
        assert contributor.post("/relations", json=body).status_code in (200, 201)
    reader = api.client(Role.READER)
    sizes = {}
    for rule in ("all", "most_reliable"):
        params = {"horizon_hours": 4, "kind": "VitalProcess", "assessments": rule}
        answer = reader.get("/analysis/criticality", params=params)
        assert answer.status_code == 200, answer.text
        sizes[rule] = {e["id"]: e["cascade_size"] for e in answer.json()["entities"]}
    assert sizes["all"]["vp:power"] > sizes["most_reliable"]["vp:power"]
    query = {"source": "threat:storm", "target": "vp:water", "assessments": "most_reliable"}
    assert reader.get("/analysis/paths", params=query).status_code == 200
    bad = reader.get("/analysis/paths", params={**query, "assessments": "newest"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "assessments"


# --- numbers are numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/analysis/cascade", {"sources": ["vp:power"], "min_strength": False}, "min_strength"),
        ("/analysis/cascade", {"sources": ["vp:power"], "horizon_hours": True}, "horizon_hours"),
        ("/analysis/cascade", {"sources": ["vp:power"], "limit": True}, "limit"),
        ("/analysis/cascade", {"sources": ["vp:power"], "horizon_hours": "72"}, "horizon_hours"),
        ("/analysis/propagation", {"sources": ["vp:power"], "runs": True}, "runs"),
        ("/analysis/propagation", {"sources": ["vp:power"], "seed": False}, "seed"),
        ("/analysis/propagation", {"sources": ["vp:power"], "confidence": True}, "confidence"),
        ("/analysis/inoperability", {"perturbation": {"vp:power": True}}, "perturbation.vp:power"),
        ("/analysis/inoperability", {"perturbation": {"vp:power": 0.5}, "scale": True}, "scale"),
        (
            "/analysis/inoperability",
            {"perturbation": {"vp:power": 0.5}, "duration_steps": False},
            "duration_steps",
        ),
        (
            "/analysis/inoperability",
            {"perturbation": {"vp:power": 0.5}, "recovery_rates": {"vp:water": True}},
            "recovery_rates.vp:water",
        ),
        ("/analysis/embargo", {"country": "CN", "threshold": True}, "threshold"),
        ("/analysis/embargo", {"country": "CN", "year": "2023"}, "year"),
        (
            "/analysis/scenarios",
            {"scenarios": [{"name": "a", "sources": ["vp:power"], "horizon_hours": True}]},
            "scenarios.0.horizon_hours",
        ),
        (
            "/analysis/scenarios",
            {"scenarios": [{"name": "a", "sources": ["vp:power"]}], "min_strength": False},
            "min_strength",
        ),
    ],
)
def test_booleans_and_strings_are_not_numbers(
    shared_api: Api, path: str, body: dict, field: str
) -> None:
    answer = shared_api.client(Role.READER).post(path, json=body)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert [(e["where"], e["field"]) for e in problem["errors"]] == [("body", field)]
    assert f"body {field}" in problem["detail"]


def test_numbers_of_either_json_kind_are_still_taken(shared_api: Api) -> None:
    reader = shared_api.client(Role.READER)
    body = {"sources": ["vp:power"], "horizon_hours": 72, "min_strength": 0, "limit": 5.0}
    assert reader.post("/analysis/cascade", json=body).status_code == 200
    inoperability = {"perturbation": {"vp:power": 1}, "scale": 1, "steps": 3.0}
    assert reader.post("/analysis/inoperability", json=inoperability).status_code == 200
    assert reader.post("/analysis/cascade", json={**body, "limit": 5.5}).status_code == 422
