"""STIX 2.1 export of a real store: the OASIS validator and the stix2 library read it back."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import stix2
from stix2.confidence.scales import admiralty_credibility_to_value
from stix2validator import validate_string

from keten.data import reference_bundle_path
from keten.graph.sqlite import SqliteStore
from keten.graph.stix_export import write_stix
from keten.graph.store import GraphStore, WriteMode
from keten.ingest import load_bundle, load_items, load_paths
from keten.ingest.stix import StixImport
from keten.schema.markings import Tlp

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://pypi.org/project/keten/#stix")
TLP2 = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
}
HIDDEN = {
    "entities": [
        {
            "id": "source:secret-report@amber",
            "kind": "Source",
            "name": "Secret report",
            "marking": "amber",
        },
        {
            "id": "actor:secret-cell@amber",
            "kind": "Actor",
            "name": "Secret cell",
            "actor_type": "terrorist",
            "marking": "amber",
        },
        {
            "id": "actor:open-group",
            "kind": "Actor",
            "name": "Open group",
            "source_ids": ["source:csbn-2023"],
        },
    ],
    "relations": [
        {"source": "actor:secret-cell@amber", "target": "threat:terrorist-attack", "type": "POSES"},
        {  # an amber citation of a clear record is a relation in the amber namespace
            "source": "actor:open-group",
            "target": "source:secret-report@amber",
            "type": "CITES",
            "key": "@amber",
            "marking": "amber",
        },
        {
            "source": "actor:open-group",
            "target": "threat:ransomware",
            "type": "POSES",
            "key": "@red",
            "marking": "red",
        },
    ],
}
"""Records above green: an amber source cited by a clear actor, an amber actor, a red relation."""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    """The reference knowledge base plus the HIDDEN records."""
    sqlite = SqliteStore(tmp_path_factory.mktemp("stix") / "keten.sqlite")
    load_paths(sqlite, [reference_bundle_path()])
    load_bundle(sqlite, HIDDEN)
    yield sqlite
    sqlite.close()


def export(store: GraphStore, clearance: Tlp = Tlp.RED) -> str:
    out = io.BytesIO()
    write_stix(store, out, clearance)
    return out.getvalue().decode()


def expected_id(stix_type: str, keten_id: str) -> str:
    """The id the module docstring promises, derived here with the uuid module alone."""
    return f"{stix_type}--{uuid.uuid5(NAMESPACE, keten_id)}"


def by_id(text: str) -> dict[str, dict[str, Any]]:
    return {obj["id"]: obj for obj in json.loads(text)["objects"]}


@pytest.mark.parametrize("clearance", [Tlp.RED, Tlp.GREEN])
def test_export_passes_the_oasis_validator(store: SqliteStore, clearance: Tlp) -> None:
    results = validate_string(export(store, clearance))
    assert not results.errors
    assert results.is_valid


def test_counts_are_what_the_store_holds(store: SqliteStore) -> None:
    counts = write_stix(store, io.BytesIO(), Tlp.GREEN)
    assert counts["entities"] == sum(1 for _ in store.iter_entities(Tlp.GREEN))
    assert counts["relations"] == sum(1 for _ in store.iter_relations(Tlp.GREEN))
    assert counts["objects"] == counts["entities"] + counts["relations"] + 7


def test_stix2_reads_actors_campaigns_and_attribution(store: SqliteStore) -> None:
    bundle = stix2.parse(export(store), allow_custom=True)
    objects = {obj["id"]: obj for obj in bundle.objects}
    russia = objects[expected_id("threat-actor", "actor:russia-state")]
    assert isinstance(russia, stix2.ThreatActor)
    assert russia.threat_actor_types == ["nation-state"]
    assert russia.confidence == admiralty_credibility_to_value("2 - Probably True")
    assert russia.object_marking_refs == [TLP2["clear"]]
    assert russia.created_by_ref == expected_id("identity", "institute:aivd")
    assert isinstance(objects[russia.created_by_ref], stix2.Identity)
    espionage = objects[expected_id("campaign", "threat:cyber-espionage")]
    assert isinstance(espionage, stix2.Campaign)
    assert espionage.objective == "Cyber threats"
    attributions = {
        (o.source_ref, o.target_ref)
        for o in bundle.objects
        if o["type"] == "relationship" and o.relationship_type == "attributed-to"
    }
    assert (espionage.id, russia.id) in attributions
    located = {
        (o.source_ref, o.target_ref)
        for o in bundle.objects
        if o["type"] == "relationship" and o.relationship_type == "located-at"
    }
    assert (russia.id, expected_id("location", "country:RU")) in located
    assert objects[expected_id("location", "country:RU")].country == "RU"


def test_hazards_and_processes_are_keten_objects(store: SqliteStore) -> None:
    objects = by_id(export(store))
    flood = objects[expected_id("x-keten-threat", "threat:sea-flooding")]
    assert flood["name"] == "Flooding from the sea"
    assert expected_id("x-keten-vital-process", "vp:drinking-water") in objects
    depends = [
        o
        for o in objects.values()
        if o["type"] == "relationship"
        and o["source_ref"] == expected_id("x-keten-vital-process", "vp:drinking-water")
        and o["relationship_type"] == "depends-on"
    ]
    assert depends
    for relationship in depends:
        (extension,) = relationship["extensions"].values()
        assert extension["keten_type"] == "DEPENDS_ON"
        assert "strength" in extension["properties"] or "buffer_hours" in extension["properties"]


def test_nothing_above_the_clearance_leaks(store: SqliteStore) -> None:
    green = export(store, Tlp.GREEN)
    assert "Secret" not in green
    assert expected_id("threat-actor", "actor:secret-cell@amber") not in green
    objects = by_id(green)
    open_group = objects[expected_id("threat-actor", "actor:open-group")]
    assert [r["external_id"] for r in open_group["external_references"]] == ["source:csbn-2023"]
    assert all(o.get("source_ref") != open_group["id"] for o in objects.values()), (
        "the red POSES relation stays out"
    )

    amber = by_id(export(store, Tlp.AMBER))
    cell = amber[expected_id("threat-actor", "actor:secret-cell@amber")]
    assert cell["object_marking_refs"] == [TLP2["amber"]]
    assert cell["threat_actor_types"] == ["terrorist"]
    cited = amber[expected_id("threat-actor", "actor:open-group")]["external_references"]
    assert {r["external_id"] for r in cited} == {"source:csbn-2023"}
    secret = expected_id("x-keten-source", "source:secret-report@amber")
    assert secret not in objects and secret in amber
    assert any(o.get("target_ref") == secret for o in amber.values())


def test_the_same_store_exports_the_same_bytes(store: SqliteStore) -> None:
    assert export(store) == export(store)


def test_keten_reads_its_own_export_back_without_loss(store: SqliteStore, tmp_path: Path) -> None:
    copy = SqliteStore(tmp_path / "copy.sqlite")
    stix_import = StixImport("export.json")
    load_items(copy, stix_import.read(json.loads(export(store))), mode=WriteMode.RESTORE)
    assert stix_import.not_kept == {}  # keten's own identity is no loss
    assert normal(copy.iter_entities()) == normal(store.iter_entities())
    assert normal(copy.iter_relations()) == normal(store.iter_relations())
    copy.close()


def normal(rows: Iterator[Any]) -> list[dict[str, Any]]:
    """Records with their times as datetimes (STIX writes milliseconds, stores may not)."""
    records = []
    for row in rows:
        record = row.as_record()
        for key in ("created_at", "updated_at"):
            moment = datetime.fromisoformat(record[key])
            record[key] = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        records.append(record)
    return records


def test_records_from_stix_go_back_out_under_their_own_ids(tmp_path: Path) -> None:
    institute = stix2.Identity(name="Clingendael Institute", identity_class="organization")
    actor = stix2.ThreatActor(name="Sandstorm", created_by_ref=institute)
    campaign = stix2.Campaign(name="Harbour outage")
    attributed = stix2.Relationship(campaign, "attributed-to", actor)
    related = stix2.Relationship(actor, "related-to", campaign)
    feed = json.loads(stix2.Bundle(institute, actor, campaign, attributed, related).serialize())
    store = SqliteStore(tmp_path / "keten.sqlite")
    load_items(store, StixImport("feed.json").read(feed))
    text = export(store)
    store.close()
    objects = by_id(text)
    assert objects[actor.id]["created_by_ref"] == institute.id
    assert objects[campaign.id]["type"] == "campaign"
    assert objects[attributed.id]["source_ref"] == campaign.id
    assert objects[attributed.id]["target_ref"] == actor.id
    assert related.id not in objects  # related-to is not kept, so it cannot go back out
    assert validate_string(text).is_valid
