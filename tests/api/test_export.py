"""`GET /export/stix`, `/export/json` and `/export/graphml` over HTTP, bounded by the key's
clearance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stix2validator import validate_string

from keten.api.keys import Role
from keten.graph.sqlite import SqliteStore
from keten.graph.store import WriteMode
from keten.ingest import load_bundle, load_items, load_paths
from keten.ingest.stix import read_stix_bundle
from keten.schema.markings import Tlp
from tests.api.conftest import Api, seeded_api

SEED_THREATS = {
    "entities": [
        {"id": "actor:crew", "kind": "Actor", "name": "Ransom crew", "actor_type": "criminal"},
        {"id": "threat:extortion", "kind": "Threat", "name": "Extortion", "malicious": True},
    ],
    "relations": [{"source": "actor:crew", "target": "threat:extortion", "type": "POSES"}],
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The seeded store of tests/api/conftest.py plus an actor and the threat it poses."""
    with seeded_api(tmp_path) as api:
        load_bundle(api.store, SEED_THREATS)
        yield api


def test_stix_export_validates_and_holds_what_a_green_key_may_see(api: Api) -> None:
    answer = api.client(Role.READER, Tlp.GREEN).get("/export/stix")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/stix+json")
    results = validate_string(answer.text)
    assert results.is_valid
    assert not results.errors
    names = {o.get("name") for o in answer.json()["objects"]}
    assert {"Ransom crew", "Extortion", "Drinking water"} <= names
    assert "Hidden process" not in names
    relation_types = {
        o["extensions"][next(iter(o["extensions"]))]["keten_type"]
        for o in answer.json()["objects"]
        if o["type"] == "relationship"
    }
    assert relation_types == {"DEPENDS_ON", "SAFEGUARDS", "DISRUPTS", "POSES"}


def test_stix_export_with_red_clearance_loads_into_an_empty_store(api: Api, tmp_path: Path) -> None:
    answer = api.client(Role.READER, Tlp.RED).get("/export/stix")
    copy = SqliteStore(tmp_path / "copy.sqlite")
    load_items(copy, read_stix_bundle(answer.json(), "export"))
    assert {e.id for e in copy.iter_entities()} == {e.id for e in api.store.iter_entities()}
    assert {r.ref for r in copy.iter_relations()} == {r.ref for r in api.store.iter_relations()}
    assert copy.get_entity("vp:secret@amber").marking == "amber"  # type: ignore[union-attr]
    copy.close()


def test_json_export_is_the_bundle_of_the_keys_clearance(api: Api) -> None:
    green = api.client(Role.READER, Tlp.GREEN).get("/export/json")
    assert green.status_code == 200
    assert green.headers["content-type"] == "application/json"
    bundle = json.loads(green.content)
    ids = {e["id"] for e in bundle["entities"]}
    assert ids == {e.id for e in api.store.iter_entities(Tlp.GREEN)}
    assert "vp:secret@amber" not in ids
    assert len(bundle["relations"]) == sum(1 for _ in api.store.iter_relations(Tlp.GREEN))
    assert all(r["marking"] == "clear" for r in bundle["relations"])
    amber = api.client(Role.READER, Tlp.AMBER).get("/export/json").json()
    assert "vp:secret@amber" in {e["id"] for e in amber["entities"]}


@pytest.mark.parametrize("path", ["/export/stix", "/export/json", "/export/graphml"])
def test_exports_need_a_key(api: Api, path: str) -> None:
    answer = httpx.get(api.url + path)
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_graphml_export_is_the_graph_of_the_keys_clearance_and_loads(
    api: Api, tmp_path: Path
) -> None:
    green = api.client(Role.READER, Tlp.GREEN).get("/export/graphml")
    assert green.status_code == 200
    assert green.headers["content-type"] == "application/graphml+xml"
    assert 'filename="keten.graphml"' in green.headers["content-disposition"]
    assert b"vp:secret@amber" not in green.content and b"Hidden process" not in green.content
    path = tmp_path / "green.graphml"
    path.write_bytes(green.content)
    copy = SqliteStore(tmp_path / "copy.sqlite")
    load_paths(copy, [path], mode=WriteMode.RESTORE)
    assert [e.as_record() for e in copy.iter_entities()] == [
        e.as_record() for e in api.store.iter_entities(Tlp.GREEN)
    ]
    assert [r.as_record() for r in copy.iter_relations()] == [
        r.as_record() for r in api.store.iter_relations(Tlp.GREEN)
    ]
    copy.close()
    amber = api.client(Role.READER, Tlp.AMBER).get("/export/graphml")
    assert b'<node id="vp:secret@amber">' in amber.content
