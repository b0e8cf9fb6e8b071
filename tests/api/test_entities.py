"""Entities over HTTP: filters, cursor paging, upsert, delete with its relations, neighbourhood."""

from __future__ import annotations

from keten.api.keys import Role
from tests.api.conftest import SEED, Api


def test_list_filters_by_kind_text_and_marking(api: Api) -> None:
    reader = api.client(Role.READER)
    kinds = reader.get("/entities", params={"kind": "Interest"}).json()["items"]
    assert [e["id"] for e in kinds] == ["int:territorial"]
    by_alias = reader.get("/entities", params={"q": "drinkWATER"}).json()["items"]
    assert [e["id"] for e in by_alias] == ["vp:water"]
    amber = reader.get("/entities", params={"marking": "amber"}).json()["items"]
    assert [e["id"] for e in amber] == ["vp:secret@amber"]


def test_cursor_pages_walk_every_entity_once_in_id_order(api: Api) -> None:
    reader = api.client(Role.READER)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = reader.get("/entities", params=params).json()
        assert len(page["items"]) <= 2
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(e["id"] for e in SEED["entities"])


def test_upsert_creates_then_updates_and_keeps_extra_properties(api: Api) -> None:
    contributor = api.client(Role.CONTRIBUTOR)
    entity = {"id": "res:chips", "kind": "Resource", "name": "Chips", "resource_type": "component"}
    created = contributor.post("/entities", json={**entity, "supplier_count": 3})
    assert created.status_code == 201
    assert created.json()["supplier_count"] == 3
    assert contributor.post("/entities", json={**entity, "supplier_count": 3}).status_code == 200
    updated = contributor.post("/entities", json={**entity, "name": "Semiconductors"})
    assert updated.status_code == 200
    assert api.store.get_entity("res:chips").name == "Semiconductors"  # type: ignore[union-attr]


def test_an_invalid_entity_is_refused_naming_the_field(api: Api) -> None:
    contributor = api.client(Role.CONTRIBUTOR)
    answer = contributor.post(
        "/entities", json={"id": "c:x", "kind": "Country", "name": "X", "iso2": "xx"}
    )
    assert answer.status_code == 422
    assert any(e["field"].endswith("iso2") for e in answer.json()["errors"])
    assert api.store.get_entity("c:x") is None


def test_delete_answers_with_the_relations_that_went_with_it(api: Api) -> None:
    admin = api.client(Role.ADMIN)
    refused = admin.delete("/entities/vp:water")
    assert refused.status_code == 409 and refused.json()["type"].endswith("has-relations")
    answer = admin.delete("/entities/vp:water", params={"cascade": "true"})
    assert answer.status_code == 200
    removed = {(r["source"], r["type"], r["target"]) for r in answer.json()["relations_removed"]}
    expected = {
        (r["source"], r["type"], r["target"])
        for r in SEED["relations"]
        if "vp:water" in (r["source"], r["target"])
    }
    assert removed == expected
    assert admin.get("/entities/vp:water").status_code == 404
    assert admin.get("/relations", params={"source": "vp:water"}).json()["items"] == []
    assert admin.delete("/entities/vp:water").status_code == 404


def test_neighbourhood_grows_with_depth(api: Api) -> None:
    reader = api.client(Role.READER)
    one = reader.get("/entities/vp:water/neighbourhood").json()
    assert {e["id"] for e in one["entities"]} == {"vp:water", "vp:power", "int:territorial"}
    two = reader.get("/entities/vp:water/neighbourhood", params={"depth": 2}).json()
    assert {e["id"] for e in two["entities"]} == {
        "vp:water",
        "vp:power",
        "int:territorial",
        "threat:storm",
        "vp:secret@amber",
    }
    assert reader.get("/entities/nope/neighbourhood").status_code == 404
