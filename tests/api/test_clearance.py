"""Clearance: what is marked above a key is never returned, counted, used, or overwritten."""

from __future__ import annotations

from keten.api.keys import Role
from keten.graph.store import RelationFilter
from keten.schema.markings import Tlp
from tests.api.conftest import SEED, Api


def test_an_amber_entity_is_invisible_to_a_green_key_everywhere(api: Api) -> None:
    green, amber = api.client(Role.READER, Tlp.GREEN), api.client(Role.READER, Tlp.AMBER)
    assert amber.get("/entities/vp:secret@amber").status_code == 200
    hidden = green.get("/entities/vp:secret@amber")
    unknown = green.get("/entities/vp:unknown@amber")
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
        if r.get("marking") is None and "vp:secret@amber" not in (r["source"], r["target"])
    ]
    assert len(seen) == len(expected) == 3
    around = green.get("/entities/vp:power/neighbourhood", params={"depth": 3}).json()
    assert "vp:secret@amber" not in {e["id"] for e in around["entities"]}
    assert all(r.get("marking") == "clear" for r in around["relations"])


def test_a_cascade_for_a_green_key_runs_on_the_graph_it_may_see(api: Api) -> None:
    body = {"sources": ["vp:power"], "horizon_hours": 72}
    red = api.client(Role.READER, Tlp.RED).post("/analysis/cascade", json=body).json()
    green = api.client(Role.READER, Tlp.GREEN).post("/analysis/cascade", json=body).json()
    assert {a["id"] for a in red["affected"]} == {"vp:power", "vp:water", "vp:secret@amber"}
    assert {a["id"] for a in green["affected"]} == {"vp:power", "vp:water"}
    assert green["total"] == 2
    # the amber SAFEGUARDS power -> territorial would put power among the interest's processes
    assert red["interests"][0]["processes"] != green["interests"][0]["processes"]
    assert "vp:power" not in green["interests"][0]["processes"]
    assert "vp:secret@amber" not in str(green)
    hidden_source = {"sources": ["vp:secret@amber"]}
    answer = api.client(Role.READER, Tlp.GREEN).post("/analysis/cascade", json=hidden_source)
    assert answer.status_code == 404


def test_a_key_cannot_write_above_its_clearance(api: Api) -> None:
    green = api.client(Role.ADMIN, Tlp.GREEN)
    revision = api.store.revision()
    marked = {"id": "vp:n", "kind": "VitalProcess", "name": "N", "marking": "amber"}
    assert green.post("/entities", json=marked).status_code == 403
    overwrite = {"id": "vp:secret@amber", "kind": "VitalProcess", "name": "Overwritten"}
    assert green.post("/entities", json=overwrite).status_code == 403
    link = {"source": "vp:water", "target": "vp:secret@amber", "type": "DEPENDS_ON"}
    assert green.post("/relations", json=link).status_code == 403
    cites = {"id": "vp:water", "kind": "VitalProcess", "name": "W", "source_ids": ["s:x@red"]}
    assert green.post("/entities", json=cites).json()["errors"][0]["field"] == "source_ids.0"
    assert green.delete("/entities/vp:secret@amber").status_code == 404
    assert api.store.revision() == revision
    assert api.store.get_entity("vp:secret@amber").name == "Hidden process"  # type: ignore[union-attr]


def test_a_writer_cannot_tell_a_hidden_record_from_a_free_identity(api: Api) -> None:
    green = api.client(Role.CONTRIBUTOR, Tlp.GREEN)

    def answer(method: str, path: str, **kwargs: object) -> tuple[int, str]:
        reply = green.request(method, path, **kwargs)  # type: ignore[arg-type]
        return reply.status_code, reply.text.replace("free", "secret")

    assert api.store.get_entity("vp:secret@amber") is not None
    assert api.store.get_entity("vp:free@amber") is None
    record = {"kind": "VitalProcess", "name": "X"}
    for path in ("/entities", "/ingest?dry_run=true", "/ingest"):
        body = {"id": "vp:secret@amber", **record}
        if path.startswith("/ingest"):
            hidden = answer("POST", path, json={"entities": [body]})
            free = answer("POST", path, json={"entities": [{**body, "id": "vp:free@amber"}]})
        else:
            hidden = answer("POST", path, json=body)
            free = answer("POST", path, json={**body, "id": "vp:free@amber"})
        assert hidden == free and hidden[0] == 403
    # the amber SAFEGUARDS power -> territorial has the key "@amber": the plain identity is free
    plain = {"source": "vp:power", "target": "int:territorial", "type": "SAFEGUARDS"}
    assert green.post("/relations", json=plain).status_code == 201
    assert api.store.get_relation(("vp:power", "SAFEGUARDS", "int:territorial", "@amber"))


def test_a_green_cascade_delete_reports_only_what_green_sees(api: Api) -> None:
    green = api.client(Role.ADMIN, Tlp.GREEN)
    refused = green.delete("/entities/vp:power")
    assert refused.status_code == 409 and "2 relation" in refused.json()["detail"]
    gone = green.delete("/entities/vp:power", params={"cascade": "true"}).json()
    removed = {(r["source"], r["type"], r["target"]) for r in gone["relations_removed"]}
    assert removed == {
        ("vp:water", "DEPENDS_ON", "vp:power"),
        ("threat:storm", "DISRUPTS", "vp:power"),
    }
    assert api.store.list_relations(RelationFilter(target="vp:power")).items == []
