"""The assessment rule of the analyses, asked for over HTTP."""

from __future__ import annotations

from keten.api.keys import Role
from keten.ingest import load_bundle
from tests.api.conftest import Api
from tests.graph.test_assessments import TWO_VIEWS


def test_the_rule_can_be_asked_for_over_http(api: Api) -> None:
    load_bundle(api.store, TWO_VIEWS)
    reader = api.client(Role.READER)
    body = {"sources": ["vp:p"], "horizon_hours": 24}
    default = reader.post("/analysis/cascade", json=body).json()
    reliable = reader.post(
        "/analysis/cascade", params={"assessments": "most_reliable"}, json=body
    ).json()
    times = {a["id"]: a["time_to_impact_hours"] for a in default["affected"]}
    assert times["vp:w"] == 0.0
    assert {a["id"]: a["time_to_impact_hours"] for a in reliable["affected"]}["vp:w"] == 10.0
    bad = reader.post("/analysis/cascade", params={"assessments": "vote"}, json=body)
    assert bad.status_code == 422
