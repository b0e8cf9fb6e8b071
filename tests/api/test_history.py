"""`as_of` on listings: the graph as it was at a past time, over HTTP."""

from __future__ import annotations

import time

import httpx

from keten.api.keys import Role
from keten.graph.rows import now
from tests.api.conftest import Api


def test_listings_as_of(api: Api) -> None:
    admin = api.client(Role.ADMIN)
    time.sleep(0.01)
    before = now()
    time.sleep(0.01)
    renamed = {"id": "vp:water", "kind": "VitalProcess", "name": "Water supply"}
    assert admin.post("/entities", json=renamed).status_code == 200
    assert admin.delete("/entities/threat:storm", params={"cascade": "true"}).status_code == 200

    then = admin.get("/entities", params={"as_of": before}).json()["items"]
    names = {e["id"]: e["name"] for e in then}
    assert names["vp:water"] == "Drinking water" and "threat:storm" in names
    current = {e["id"]: e["name"] for e in admin.get("/entities").json()["items"]}
    assert current["vp:water"] == "Water supply" and "threat:storm" not in current

    old_relations = admin.get("/relations", params={"as_of": before, "type": "DISRUPTS"})
    assert [r["source"] for r in old_relations.json()["items"]] == ["threat:storm"]
    assert admin.get("/relations", params={"type": "DISRUPTS"}).json()["items"] == []

    bad = admin.get("/entities", params={"as_of": "yesterday-ish"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "as_of"


def test_every_api_write_names_its_key_in_the_audit_trail(api: Api) -> None:
    admin_key = api.key(Role.ADMIN)
    admin = httpx.Client(base_url=api.url, headers={"X-API-Key": admin_key}, timeout=30)
    key_id = admin_key.split("_")[1]
    renamed = {"id": "vp:water", "kind": "VitalProcess", "name": "Water supply"}
    admin.post("/entities", json=renamed)
    admin.delete("/relations", params={"source": "vp:water", "type": "SAFEGUARDS",
                                       "target": "int:territorial"})  # fmt: skip
    trail = admin.get("/audit", params={"entity": "vp:water"}).json()["items"]
    mine = [e for e in trail if e["actor"] == f"key:{key_id}"]
    assert [(e["action"], e["detail"]) for e in mine] == [
        ("update", {"fields": ["name"]}),
        ("delete", None),
    ]
    admin.close()


def test_writes_carry_etags_and_stale_ones_are_refused(api: Api) -> None:
    writer = api.client(Role.ADMIN)
    read = writer.get("/entities/vp:water")
    tag = read.headers["ETag"]
    renamed = {"id": "vp:water", "kind": "VitalProcess", "name": "Water supply"}
    first = writer.post("/entities", json=renamed, headers={"If-Match": tag})
    assert first.status_code == 200 and first.headers["ETag"] != tag
    stale = writer.post("/entities", json={**renamed, "name": "Lost"}, headers={"If-Match": tag})
    assert stale.status_code == 412 and stale.json()["type"].endswith("precondition-failed")
    assert api.store.get_entity("vp:water").name == "Water supply"  # type: ignore[union-attr]
    listing = writer.get("/relations")
    bundle = {"entities": [{**renamed, "sector": "water"}]}
    fresh = writer.post("/ingest", json=bundle, headers={"If-Match": listing.headers["ETag"]})
    assert fresh.status_code == 200 and fresh.json()["changes"] == [
        {"entity": "vp:water", "fields": ["sector"]}
    ]
    again = writer.post("/ingest", json=bundle, headers={"If-Match": listing.headers["ETag"]})
    assert again.status_code == 412
    gone = writer.delete(
        "/entities/vp:water", params={"cascade": "true"}, headers={"If-Match": tag}
    )
    assert gone.status_code == 412
