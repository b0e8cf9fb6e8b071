"""`as_of` on listings: the graph as it was at a past time, over HTTP."""

from __future__ import annotations

import time

from keten.api.keys import Role
from keten.graph.sqlite import now
from tests.api.conftest import Api


def test_listings_as_of(api: Api) -> None:
    admin = api.client(Role.ADMIN)
    time.sleep(0.01)
    before = now()
    time.sleep(0.01)
    renamed = {"id": "vp:water", "kind": "VitalProcess", "name": "Water supply"}
    assert admin.post("/entities", json=renamed).status_code == 200
    assert admin.delete("/entities/threat:storm").status_code == 200

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
