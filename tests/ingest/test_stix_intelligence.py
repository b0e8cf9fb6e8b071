"""Threat intelligence that lands whole: ATT&CK-shaped bundles, what is not kept, round trips.

Real stores (SQLite), bundles made with the OASIS `stix2` library or by the bench's
ATT&CK-shaped generator, checked with `stix2-validator`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_instance, validate_string

from bench.attack_bundle import attack_bundle
from keten.graph.export import write_json
from keten.graph.projection import build_projection
from keten.graph.sqlite import SqliteStore
from keten.graph.stix_export import write_stix
from keten.graph.store import EntityFilter, RelationFilter
from keten.ingest import load_bundle, load_items
from keten.ingest.stix import StixImport, read_stix_bundle
from keten.queries.risk import integrated_analysis
from keten.queries.targeting import resolve_capability, targeted_processes
from keten.schema.markings import Tlp

STATEMENT = stix2.StatementMarking("Copyright 2015-2025, The MITRE Corporation.")
STATEMENT_DEFINITION = stix2.MarkingDefinition(
    definition_type="statement",
    definition=STATEMENT,
    created="2017-06-01T00:00:00.000Z",
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    sqlite = SqliteStore(tmp_path / "keten.sqlite")
    yield sqlite
    sqlite.close()


def load_stix(store: SqliteStore, doc: dict[str, Any]) -> Any:
    """Load a STIX document; the load report."""
    return load_items(store, read_stix_bundle(doc, "feed.json"))


def as_doc(*objects: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(stix2.Bundle(*objects, allow_custom=True).serialize())
    return doc


def exported(store: SqliteStore, clearance: Tlp = Tlp.RED) -> dict[str, Any]:
    out = io.BytesIO()
    write_stix(store, out, clearance)
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def phishing() -> tuple[stix2.AttackPattern, stix2.AttackPattern]:
    """ATT&CK's Phishing technique (T1566) and its sub-technique T1566.001."""
    technique = stix2.AttackPattern(
        name="Phishing",
        external_references=[{"source_name": "mitre-attack", "external_id": "T1566"}],
    )
    sub = stix2.AttackPattern(
        name="Spearphishing Attachment",
        external_references=[{"source_name": "mitre-attack", "external_id": "T1566.001"}],
    )
    return technique, sub


def test_an_attack_sized_bundle_is_represented_at_least_95_percent(store: SqliteStore) -> None:
    bundle = attack_bundle(6_000, seed=3)
    report = load_stix(store, bundle)
    objects = [o for o in bundle["objects"] if o["type"] != "relationship"]
    relationships = [o for o in bundle["objects"] if o["type"] == "relationship"]
    lost = {"relationship": 0, "object": 0}
    for row in report.not_kept:
        lost["relationship" if row["stix_type"] == "relationship" else "object"] += row["count"]
    assert 1 - lost["object"] / len(objects) >= 0.95, report.not_kept
    assert 1 - lost["relationship"] / len(relationships) >= 0.95, report.not_kept
    counts = report.counts
    represented_relations = len(relationships) - lost["relationship"]
    assert counts.relations_created == represented_relations
    # every object and relationship either became a record or is named in the report
    stix_ids = {
        row.props["stix_id"] for row in store.iter_entities() if row.props.get("stix_id")
    } | {row.props["stix_id"] for row in store.iter_relations() if row.props.get("stix_id")}
    kept_types = {o["id"] for o in bundle["objects"]} & stix_ids
    assert len(kept_types) == len(bundle["objects"]) - sum(r["count"] for r in report.not_kept) - 1
    # (the one more is the statement marking, kept on every record it marks)
    reasons = {(r["stix_type"], r["reason"]) for r in report.not_kept}
    assert ("attack-pattern", "revoked: replaced by another object") in reasons
    assert ("x-mitre-tactic", "keten has no kind for it") in reasons


def test_the_generated_bundle_passes_the_oasis_validator() -> None:
    results = validate_instance(attack_bundle(400, seed=5), ValidationOptions(version="2.1"))
    assert results.is_valid, [str(e) for e in results.errors]


def test_kinds_and_relations_of_threat_intelligence(store: SqliteStore) -> None:
    technique, sub = phishing()
    malware = stix2.Malware(name="Wiper", is_family=True)
    tool = stix2.Tool(name="Remote admin")
    cve = stix2.Vulnerability(name="CVE-2023-4966")
    group = stix2.IntrusionSet(name="Sandstorm")
    campaign = stix2.Campaign(name="Harbour 2025")
    fix = stix2.CourseOfAction(name="User training")
    doc = as_doc(
        technique, sub, malware, tool, cve, group, campaign, fix,
        stix2.Relationship(sub, "subtechnique-of", technique),
        stix2.Relationship(group, "uses", malware),
        stix2.Relationship(malware, "uses", sub),
        stix2.Relationship(campaign, "uses", tool),
        stix2.Relationship(campaign, "attributed-to", group),
        stix2.Relationship(malware, "exploits", cve),
        stix2.Relationship(group, "targets", cve),
        stix2.Relationship(fix, "mitigates", technique),
    )  # fmt: skip
    report = load_stix(store, doc)
    assert report.not_kept == []
    kinds = {row.props.get("stix_id"): row.kind for row in store.iter_entities()}
    assert kinds[technique.id] == kinds[malware.id] == kinds[tool.id] == "Capability"
    assert (kinds[cve.id], kinds[campaign.id], kinds[fix.id]) == (
        "Vulnerability",
        "Campaign",
        "Countermeasure",
    )
    types = sorted(r.type for r in store.iter_relations())
    assert types == [
        "ATTRIBUTED_TO",
        "EXPLOITS",
        "EXPLOITS",
        "MITIGATES",
        "SUBTECHNIQUE_OF",
        "USES",
        "USES",
        "USES",
    ]


def test_two_relationships_between_the_same_ends_are_two_relations(store: SqliteStore) -> None:
    group, tool = stix2.IntrusionSet(name="G"), stix2.Tool(name="T")
    first = stix2.Relationship(group, "uses", tool, description="seen in 2021")
    second = stix2.Relationship(group, "uses", tool, description="seen in 2024")
    load_stix(store, as_doc(group, tool, first, second))
    found = sorted(r.props["description"] for r in store.iter_relations())
    assert found == ["seen in 2021", "seen in 2024"]


def test_an_imported_campaign_is_no_unscored_national_threat(store: SqliteStore) -> None:
    load_stix(store, attack_bundle(1_500, seed=2))
    projection = build_projection(store, Tlp.RED)
    assert integrated_analysis(store, projection).threats == []
    assert store.list_entities(EntityFilter(kind="Threat"), None, 10).items == []


def foreign_feed() -> list[Any]:
    """An ATT&CK-like feed with everything a round trip must give back."""
    amber = stix2.TLP_AMBER
    technique = stix2.AttackPattern(
        name="Phishing",
        created="2020-03-02T18:45:07.892123Z",
        modified="2024-10-15T16:42:11.122456Z",
        confidence=85,
        object_marking_refs=[amber, STATEMENT_DEFINITION],
        external_references=[
            {
                "source_name": "mitre-attack",
                "external_id": "T1566",
                "url": "https://attack.mitre.org/techniques/T1566",
            },
            {"source_name": "Vendor report", "description": "Vendor. (2023). Report."},
        ],
        kill_chain_phases=[{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}],
        x_mitre_platforms=["Windows", "Linux"],
        x_mitre_version="3.1",
        allow_custom=True,
    )
    group = stix2.IntrusionSet(
        name="Sandstorm",
        confidence=35,
        aliases=["Sandstorm", "Sand Bear"],
        object_marking_refs=[STATEMENT_DEFINITION],
        external_references=[{"source_name": "mitre-attack", "external_id": "G0001"}],
        x_mitre_domains=["enterprise-attack"],
        allow_custom=True,
    )
    uses = stix2.Relationship(
        group,
        "uses",
        technique,
        description="Sandstorm has sent phishing mail.(Citation: Vendor report)",
        confidence=60,
        object_marking_refs=[amber],
        external_references=[
            {"source_name": "Vendor report", "description": "Vendor. (2023). Report."}
        ],
        x_mitre_version="1.0",
        allow_custom=True,
    )
    return [STATEMENT_DEFINITION, technique, group, uses]


def test_a_round_trip_gives_back_what_keten_holds(store: SqliteStore) -> None:
    feed = foreign_feed()
    load_stix(store, as_doc(*feed))
    doc = exported(store)
    assert validate_string(json.dumps(doc)).is_valid
    out = {o["id"]: o for o in doc["objects"]}
    for original in feed:
        given = json.loads(original.serialize())
        back = {k: v for k, v in out[given["id"]].items() if k in given or k == "extensions"}
        back.pop("extensions", None)
        assert back == given, given["type"]
    technique = out[feed[1].id]
    assert technique["confidence"] == 85  # as given, not 90 from the Admiralty grade
    assert technique["external_references"][0]["external_id"] == "T1566"
    assert technique["created"] == "2020-03-02T18:45:07.892123Z"


def test_keten_reads_back_its_export_of_a_feed_unchanged(
    store: SqliteStore, tmp_path: Path
) -> None:
    load_stix(store, as_doc(*foreign_feed()))
    copy = SqliteStore(tmp_path / "copy.sqlite")
    stix_import = StixImport("export.json")
    load_items(copy, stix_import.read(exported(store)))
    assert stix_import.not_kept == {}
    first, second = io.BytesIO(), io.BytesIO()
    write_json(store, first)
    write_json(copy, second)
    records = [json.loads(line) for line in (first.getvalue(), second.getvalue())]
    for bundle in records:
        for record in [*bundle["entities"], *bundle["relations"]]:
            record.pop("created_at", None)
            record.pop("updated_at", None)
    assert records[0] == records[1]


def test_a_source_from_an_amber_object_stays_amber(store: SqliteStore) -> None:
    load_stix(store, as_doc(*foreign_feed()))
    sources = [r for r in store.iter_entities() if r.kind == "Source"]
    by_name = {(r.name, r.marking) for r in sources}
    assert ("mitre-attack T1566", "amber") in by_name
    assert ("Vendor report", "amber") in by_name  # cited by the amber technique and relation
    assert ("mitre-attack G0001", "clear") in by_name
    green = exported(store, Tlp.GREEN)
    names = {o.get("name") for o in green["objects"]}
    assert "Phishing" not in names
    cited = [ref for o in green["objects"] for ref in o.get("external_references", [])]
    assert {r.get("external_id") for r in cited} == {"G0001"}
    listing = store.list_entities(EntityFilter(kind="Source", clearance=Tlp.GREEN), None, 100)
    assert {r.name for r in listing.items} == {"mitre-attack G0001"}
    hidden = store.list_relations(RelationFilter(clearance=Tlp.GREEN), None, 100)
    assert hidden.items == []


def test_what_actors_using_a_technique_target(store: SqliteStore) -> None:
    technique, sub = phishing()
    malware = stix2.Malware(name="Wiper", is_family=True)
    group = stix2.IntrusionSet(name="Sandstorm")
    loner = stix2.IntrusionSet(name="Uninvolved")
    campaign = stix2.Campaign(name="Harbour 2025")
    operator = stix2.Identity(name="Port operator", identity_class="organization")
    load_stix(
        store,
        as_doc(
            technique, sub, malware, group, loner, campaign, operator,
            stix2.Relationship(sub, "subtechnique-of", technique),
            stix2.Relationship(malware, "uses", sub),
            stix2.Relationship(campaign, "uses", malware),
            stix2.Relationship(campaign, "attributed-to", group),
            stix2.Relationship(campaign, "targets", operator),
            stix2.Relationship(loner, "targets", operator),
        ),
    )  # fmt: skip
    group_id = f"actor:stix-{group.id.partition('--')[2]}"
    operator_id = f"org:stix-{operator.id.partition('--')[2]}"
    campaign_id = f"campaign:stix-{campaign.id.partition('--')[2]}"
    load_bundle(
        store,
        {
            "entities": [
                {"id": "vp:port", "kind": "VitalProcess", "name": "Port"},
                {"id": "vp:grid", "kind": "VitalProcess", "name": "Grid"},
                {"id": "vp:water", "kind": "VitalProcess", "name": "Water"},
                {"id": "threat:sabotage", "kind": "Threat", "name": "Sabotage"},
            ],
            "relations": [
                {"source": operator_id, "type": "OPERATES", "target": "vp:port"},
                {"source": group_id, "type": "TARGETS", "target": "vp:grid"},
                {"source": group_id, "type": "POSES", "target": "threat:sabotage"},
                {"source": "threat:sabotage", "type": "DISRUPTS", "target": "vp:water"},
            ],
        },
    )
    capability = resolve_capability(store, Tlp.RED, "t1566")
    assert capability == f"capability:stix-{technique.id.partition('--')[2]}"
    result = targeted_processes(build_projection(store, Tlp.RED), capability)
    assert {(p.id, tuple(p.by)) for p in result.processes} == {
        ("vp:port", (campaign_id,)),
        ("vp:grid", (group_id,)),
        ("vp:water", (group_id,)),
    }
    assert result.users == [campaign_id]
    assert resolve_capability(store, Tlp.RED, "T9999") == "T9999"
