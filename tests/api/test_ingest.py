"""`POST /ingest`: counts, dry runs, and refusals that name every bad record and write nothing."""

from __future__ import annotations

from typing import Any

from keten.api.keys import Role
from tests.api.conftest import Api

BUNDLE: dict[str, list[dict[str, Any]]] = {
    "entities": [
        {"id": "res:gas", "kind": "Resource", "name": "Natural gas"},
        {"id": "country:NO", "kind": "Country", "name": "Norway", "iso2": "NO"},
    ],
    "relations": [
        {"source": "res:gas", "target": "country:NO", "type": "SOURCED_FROM", "share": 0.5},
        {"source": "vp:power", "target": "res:gas", "type": "DEPENDS_ON", "buffer_hours": 24},
    ],
}


def test_ingest_loads_and_counts_then_is_idempotent(api: Api) -> None:
    contributor = api.client(Role.CONTRIBUTOR)
    first = contributor.post("/ingest", json=BUNDLE).json()
    assert (first["entities_created"], first["relations_created"]) == (2, 2)
    assert first["revision"] == api.store.revision()
    again = contributor.post("/ingest", json=BUNDLE).json()
    assert (again["entities_unchanged"], again["relations_unchanged"]) == (2, 2)
    assert again["revision"] == first["revision"]


def test_a_dry_run_counts_and_writes_nothing(api: Api) -> None:
    revision = api.store.revision()
    answer = api.client(Role.CONTRIBUTOR).post("/ingest", params={"dry_run": True}, json=BUNDLE)
    assert answer.status_code == 200
    assert answer.json()["dry_run"] is True
    assert answer.json()["entities_created"] == 2
    assert api.store.revision() == revision
    assert api.store.get_entity("res:gas") is None


def test_a_bad_bundle_is_refused_whole_naming_every_bad_record(api: Api) -> None:
    revision = api.store.revision()
    bad = {
        "entities": [
            *BUNDLE["entities"],
            {"id": "x:1", "kind": "Dragon", "name": "Smaug"},
            {"id": "x:2", "kind": "Threat"},
        ],
        "relations": [
            *BUNDLE["relations"],
            {"source": "res:gas", "target": "nowhere", "type": "DEPENDS_ON"},
        ],
    }
    answer = api.client(Role.CONTRIBUTOR).post("/ingest", json=bad)
    assert answer.status_code == 422
    places = {(e["where"], e["field"]) for e in answer.json()["errors"]}
    assert places == {("entities[2]", "kind"), ("entities[3]", "name"), ("relations[2]", "target")}
    assert api.store.revision() == revision
    assert api.store.get_entity("res:gas") is None


def test_readers_may_not_ingest(api: Api) -> None:
    assert api.client(Role.READER).post("/ingest", json=BUNDLE).status_code == 403


def test_integers_the_store_cannot_hold_are_refused_by_name(api: Api) -> None:
    entity = {"id": "t:big", "kind": "Threat", "name": "Big", "score": {"raw": [1, 2**70]}}
    answer = api.client(Role.CONTRIBUTOR).post("/ingest", json={"entities": [entity]})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "score.raw[1]"
    assert api.store.get_entity("t:big") is None
