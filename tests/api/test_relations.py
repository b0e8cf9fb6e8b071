"""Relations over HTTP: filters, upsert with endpoint checks, delete by identity."""

from __future__ import annotations

from keten.api.keys import Role
from tests.api.conftest import Api


def test_filters_by_type_source_and_target(api: Api) -> None:
    reader = api.client(Role.READER)
    into_power = reader.get("/relations", params={"target": "vp:power"}).json()["items"]
    assert {r["source"] for r in into_power} == {"vp:water", "vp:secret@amber", "threat:storm"}
    depends = reader.get("/relations", params={"type": "DEPENDS_ON", "source": "vp:water"})
    assert [(r["source"], r["target"]) for r in depends.json()["items"]] == [
        ("vp:water", "vp:power")
    ]
    assert reader.get("/relations", params={"type": "EATS"}).status_code == 422


def test_upsert_checks_endpoints_and_kinds(api: Api) -> None:
    contributor = api.client(Role.CONTRIBUTOR)
    ok = {"source": "threat:storm", "target": "int:territorial", "type": "THREATENS"}
    assert contributor.post("/relations", json=ok).status_code == 201
    assert contributor.post("/relations", json=ok).status_code == 200
    wrong_kind = {"source": "int:territorial", "target": "threat:storm", "type": "THREATENS"}
    answer = contributor.post("/relations", json=wrong_kind)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "type"


def test_delete_by_identity(api: Api) -> None:
    admin = api.client(Role.ADMIN)
    ref = {"source": "vp:water", "type": "DEPENDS_ON", "target": "vp:power"}
    answer = admin.delete("/relations", params=ref)
    assert answer.status_code == 200
    assert answer.json()["deleted"]["buffer_hours"] == 8
    assert admin.delete("/relations", params=ref).status_code == 404
    assert (
        admin.get("/relations", params={"source": "vp:water", "type": "DEPENDS_ON"}).json()["items"]
        == []
    )
