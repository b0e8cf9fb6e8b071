"""`POST /ingest/stix` and `GET /analysis/targeted` over a real HTTP server and store."""

from __future__ import annotations

from typing import Any

from bench.attack_bundle import attack_bundle
from keten.api.keys import Role
from keten.schema.markings import Tlp
from tests.api.conftest import Api


def test_a_stix_ingest_answers_what_it_did_not_keep(api: Api) -> None:
    bundle = attack_bundle(800, seed=4)
    answer = api.client(Role.CONTRIBUTOR).post("/ingest/stix", json=bundle)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["entities_created"] > 0 and body["relations_created"] > 0
    not_kept = {(r["stix_type"], r["reason"]): r["count"] for r in body["not_kept"]}
    assert not_kept[("x-mitre-tactic", "keten has no kind for it")] == 14
    assert sum(not_kept.values()) < 0.05 * len(bundle["objects"])


def test_a_broken_stix_bundle_is_refused_naming_the_object(api: Api) -> None:
    bundle: dict[str, Any] = {
        "type": "bundle",
        "id": "bundle--6ba7b810-9dad-41d1-80b4-00c04fd430c8",
        "objects": [{"type": "tool", "id": "malware--6ba7b810-9dad-41d1-80b4-00c04fd430c8"}],
    }
    answer = api.client(Role.CONTRIBUTOR).post("/ingest/stix", json=bundle)
    assert answer.status_code == 422
    assert [(e["where"], e["field"]) for e in answer.json()["errors"]] == [("objects[0]", "id")]


def test_the_users_of_a_technique_and_what_they_target(api: Api) -> None:
    bundle = attack_bundle(800, seed=4)
    contributor = api.client(Role.CONTRIBUTOR, Tlp.RED)
    assert contributor.post("/ingest/stix", json=bundle).status_code == 200
    group = next(
        o for o in bundle["objects"] if o["type"] == "intrusion-set" and not o.get("revoked")
    )
    used = next(
        o["target_ref"]
        for o in bundle["objects"]
        if o["type"] == "relationship"
        and o["relationship_type"] == "uses"
        and o["source_ref"] == group["id"]
        and o["target_ref"].startswith("attack-pattern--")
    )
    technique = next(o for o in bundle["objects"] if o["id"] == used)
    attack_id = technique["external_references"][0]["external_id"]
    group_id = "actor:stix-" + group["id"].partition("--")[2]
    keten = {
        "entities": [{"id": "vp:dx-port", "kind": "VitalProcess", "name": "Port"}],
        "relations": [{"source": group_id, "type": "TARGETS", "target": "vp:dx-port"}],
    }
    assert contributor.post("/ingest", json=keten).status_code == 200
    answer = api.client().get("/analysis/targeted", params={"capability": attack_id})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert group_id in body["users"]
    assert [(p["id"], group_id in p["by"]) for p in body["processes"]] == [("vp:dx-port", True)]
    missing = api.client().get("/analysis/targeted", params={"capability": "T0000"})
    assert missing.status_code == 404
