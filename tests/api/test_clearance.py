"""Clearance: what is marked above a key is never returned, counted, used, or overwritten."""

from __future__ import annotations

from keten.api.keys import Role
from keten.schema.markings import Tlp
from tests.api.conftest import SEED, Api


def test_an_amber_entity_is_invisible_to_a_green_key_everywhere(api: Api) -> None:
    green, amber = api.client(Role.READER, Tlp.GREEN), api.client(Role.READER, Tlp.AMBER)
    assert amber.get("/entities/vp:secret").status_code == 200
    hidden = green.get("/entities/vp:secret")
    unknown = green.get("/entities/vp:unknown")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["detail"].replace("secret", "X") == unknown.json()["detail"].replace(
        "unknown", "X"
    )
    listed = [e["id"] for e in green.get("/entities", params={"limit": 1000}).json()["items"]]
    clear = [e["id"] for e in SEED["entities"] if e.get("marking") is None]
    assert sorted(listed) == sorted(clear)
    assert green.get("/entities", params={"q": "hidden"}).json()["items"] == []
    assert green.get("/entities", params={"marking": "amber"}).json()["items"] == []


def test_relations_hidden_by_their_marking_or_an_endpoint(api: Api) -> None:
    green, red = api.client(Role.READER, Tlp.GREEN), api.client(Role.READER, Tlp.RED)
    all_relations = red.get("/relations", params={"limit": 1000}).json()["items"]
    assert len(all_relations) == len(SEED["relations"])
    seen = green.get("/relations", params={"limit": 1000}).json()["items"]
    expected = [
        r
        for r in SEED["relations"]
        if r.get("marking") is None and "vp:secret" not in (r["source"], r["target"])
    ]
    assert len(seen) == len(expected) == 3
    around = green.get("/entities/vp:power/neighbourhood", params={"depth": 3}).json()
    assert "vp:secret" not in {e["id"] for e in around["entities"]}
    assert all(r.get("marking") == "clear" for r in around["relations"])


def test_a_cascade_for_a_green_key_runs_on_the_graph_it_may_see(api: Api) -> None:
    body = {"sources": ["vp:power"], "horizon_hours": 72}
    red = api.client(Role.READER, Tlp.RED).post("/analysis/cascade", json=body).json()
    green = api.client(Role.READER, Tlp.GREEN).post("/analysis/cascade", json=body).json()
    assert {a["id"] for a in red["affected"]} == {"vp:power", "vp:water", "vp:secret"}
    assert {a["id"] for a in green["affected"]} == {"vp:power", "vp:water"}
    assert green["total"] == 2
    # the amber SAFEGUARDS power -> territorial would put power among the interest's processes
    assert red["interests"][0]["processes"] != green["interests"][0]["processes"]
    assert "vp:power" not in green["interests"][0]["processes"]
    assert "vp:secret" not in str(green)
    hidden_source = {"sources": ["vp:secret"]}
    answer = api.client(Role.READER, Tlp.GREEN).post("/analysis/cascade", json=hidden_source)
    assert answer.status_code == 404


def test_a_key_cannot_write_above_its_clearance_or_over_what_it_cannot_see(api: Api) -> None:
    green = api.client(Role.ADMIN, Tlp.GREEN)
    revision = api.store.revision()
    marked = {"id": "vp:n", "kind": "VitalProcess", "name": "N", "marking": "amber"}
    assert green.post("/entities", json=marked).status_code == 403
    overwrite = {"id": "vp:secret", "kind": "VitalProcess", "name": "Overwritten"}
    assert green.post("/entities", json=overwrite).status_code == 403
    link = {"source": "vp:water", "target": "vp:secret", "type": "DEPENDS_ON"}
    refused = green.post("/relations", json=link)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["why"] == "no such entity in this bundle or in the store"
    hidden_relation = {"source": "vp:power", "target": "int:territorial", "type": "SAFEGUARDS"}
    assert green.post("/relations", json=hidden_relation).status_code == 403
    assert green.delete("/entities/vp:power").status_code == 403
    assert green.delete("/entities/vp:secret").status_code == 404
    assert api.store.revision() == revision
    assert api.store.get_entity("vp:secret").name == "Hidden process"  # type: ignore[union-attr]
