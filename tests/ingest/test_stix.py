"""STIX 2.1 import: bundles made with the OASIS `stix2` library, loaded into a real store."""

from __future__ import annotations

import inspect
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stix2
from stix2.confidence.scales import (
    admiralty_credibility_to_value,
    value_to_admiralty_credibility,
)

from keten.data import reference_bundle_path
from keten.graph.sqlite import SqliteStore
from keten.ingest import BundleRejected, load_items, load_paths, readers
from keten.ingest.stix import (
    KETEN_EXTENSION,
    TLP2_MARKING_IDS,
    StixImport,
    confidence_of,
    credibility_of,
    looks_like_stix,
    read_stix_bundle,
)
from keten.schema.markings import namespaced

ADMIRALTY_LABELS = {
    1: "1 - Confirmed by other sources",
    2: "2 - Probably True",
    3: "3 - Possibly True",
    4: "4 - Doubtful",
    5: "5 - Improbable",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A store holding the reference knowledge base (as after `keten init`)."""
    sqlite = SqliteStore(tmp_path / "keten.sqlite")
    load_paths(sqlite, [reference_bundle_path()])
    yield sqlite
    sqlite.close()


def as_doc(*objects: Any) -> dict[str, Any]:
    """A bundle of stix2 objects as the JSON document a reader sees."""
    doc: dict[str, Any] = json.loads(stix2.Bundle(*objects, allow_custom=True).serialize())
    return doc


def load_stix(store: SqliteStore, doc: dict[str, Any]) -> StixImport:
    """Load a STIX document; the import, for its skip counts."""
    stix_import = StixImport("feed.json")
    load_items(store, stix_import.read(doc))
    return stix_import


def uuid_of(obj: Any) -> str:
    return str(obj.id).partition("--")[2]


@pytest.fixture
def feed() -> dict[str, Any]:
    """A small intelligence feed: an institute, an actor, its intrusion set and campaign."""
    institute = stix2.Identity(name="Clingendael Institute", identity_class="organization")
    operator = stix2.Identity(
        name="Port operator", identity_class="organization", sectors=["transportation"]
    )
    analyst = stix2.Identity(name="J. Analyst", identity_class="individual")
    actor = stix2.ThreatActor(
        name="Sandstorm",
        threat_actor_types=["nation-state"],
        aliases=["Sand Bear"],
        description="State cyber unit.",
        confidence=85,
        created_by_ref=institute,
        object_marking_refs=[stix2.TLP_AMBER],
        external_references=[{"source_name": "Annual report", "url": "https://example.org/r"}],
    )
    intrusion_set = stix2.IntrusionSet(name="Sandstorm tooling", created_by_ref=analyst)
    campaign = stix2.Campaign(
        name="Harbour outage 2025", objective="disrupt logistics", confidence=35
    )
    russia = stix2.Location(country="RU")
    kosovo = stix2.Location(name="Kosovo", country="XK")
    city = stix2.Location(city="Rotterdam", region="europe")
    malware = stix2.Malware(name="Wiper", is_family=True)
    objects = [
        institute,
        operator,
        analyst,
        actor,
        intrusion_set,
        campaign,
        russia,
        kosovo,
        city,
        malware,
        stix2.Relationship(campaign, "attributed-to", intrusion_set),
        stix2.Relationship(intrusion_set, "attributed-to", actor),
        stix2.Relationship(campaign, "targets", operator),
        stix2.Relationship(actor, "located-at", russia),
        stix2.Relationship(intrusion_set, "located-at", kosovo),
        stix2.Relationship(campaign, "uses", malware),
        stix2.Relationship(actor, "related-to", campaign),
        stix2.Relationship(actor, "located-at", city),
    ]
    return as_doc(*objects)


def stix_object(doc: dict[str, Any], kind: str, index: int = 0) -> dict[str, Any]:
    """The index-th object of a type in a document."""
    found: dict[str, Any] = [o for o in doc["objects"] if o["type"] == kind][index]
    return found


def test_objects_become_keten_entities(store: SqliteStore, feed: dict[str, Any]) -> None:
    load_stix(store, feed)
    actor = stix_object(feed, "threat-actor")
    row = store.get_entity(f"actor:stix-{actor['id'].partition('--')[2]}@amber")
    assert row is not None
    record = row.as_record()
    assert record["kind"] == "Actor"
    assert record["name"] == "Sandstorm"
    assert record["aliases"] == ["Sand Bear"]
    assert record["description"] == "State cyber unit."
    assert record["actor_type"] == "state"
    assert record["marking"] == "amber"
    assert record["confidence"] == 85
    assert record["credibility"] == int(value_to_admiralty_credibility(85)[0])
    assert record["institute"] == record["contributor"] == "Clingendael Institute"
    assert record["stix_id"] == actor["id"]
    source = store.get_entity(record["source_ids"][0])
    assert source is not None
    assert (source.kind, source.name, source.props["url"]) == (
        "Source",
        "Annual report",
        "https://example.org/r",
    )
    assert source.marking == "amber" and source.id.endswith("@amber")  # as secret as its citer

    intrusion_set = stix_object(feed, "intrusion-set")
    row = store.get_entity(f"actor:stix-{intrusion_set['id'].partition('--')[2]}")
    assert row is not None
    assert row.props["actor_type"] == "intrusion-set"
    assert row.props["contributor"] == "J. Analyst"
    assert "institute" not in row.props  # a person contributes, but is no institute
    assert row.props["credibility"] == 6  # no confidence: truth cannot be judged

    campaign = stix_object(feed, "campaign")
    row = store.get_entity(f"campaign:stix-{campaign['id'].partition('--')[2]}")
    assert row is not None  # an operation seen, not a national threat to score
    assert (row.kind, row.props["objective"]) == ("Campaign", "disrupt logistics")
    assert row.props["credibility"] == int(value_to_admiralty_credibility(35)[0])

    operator = stix_object(feed, "identity", 1)
    row = store.get_entity(f"org:stix-{operator['id'].partition('--')[2]}")
    assert row is not None
    assert (row.kind, row.name, row.props["sector"]) == (
        "Organisation",
        "Port operator",
        "transportation",
    )


def test_relationships_become_keten_relations(store: SqliteStore, feed: dict[str, Any]) -> None:
    load_stix(store, feed)
    actor = "actor:stix-" + stix_object(feed, "threat-actor")["id"].partition("--")[2] + "@amber"
    intrusion_set = "actor:stix-" + stix_object(feed, "intrusion-set")["id"].partition("--")[2]
    campaign = "campaign:stix-" + stix_object(feed, "campaign")["id"].partition("--")[2]
    operator = "org:stix-" + stix_object(feed, "identity", 1)["id"].partition("--")[2]
    malware = "capability:stix-" + stix_object(feed, "malware")["id"].partition("--")[2]
    expected = {
        (campaign, "ATTRIBUTED_TO", intrusion_set),
        (actor, "CONTROLS", intrusion_set),
        (campaign, "TARGETS", operator),
        (campaign, "USES", malware),
        (actor, "LOCATED_IN", "country:RU"),
        (intrusion_set, "LOCATED_IN", "country:XK"),
    }
    feed_ids = {actor, intrusion_set, campaign, operator, malware}
    got = {
        (r.source, r.type, r.target)
        for r in store.iter_relations()
        if r.source in feed_ids or r.target in feed_ids
    }
    assert got == expected


def test_unsupported_objects_are_counted_not_refused(
    store: SqliteStore, feed: dict[str, Any]
) -> None:
    stix_import = load_stix(store, feed)
    assert stix_import.not_kept == {
        (
            "identity",
            "an identity of class individual: keten keeps organisations "
            "(it still names the creator of what it made)",
        ): 1,
        ("location", "a country of the reference knowledge base, kept as it is"): 1,
        ("location", "a location without a country: keten keeps countries"): 1,
        ("relationship", "related-to from threat-actor to campaign: no keten relation"): 1,
        ("relationship", "located-at: its location end is not kept"): 1,
    }


def test_reference_countries_are_never_overwritten(
    store: SqliteStore, feed: dict[str, Any]
) -> None:
    before = store.get_entity("country:RU")
    load_stix(store, feed)
    assert store.get_entity("country:RU") == before
    kosovo = store.get_entity("country:XK")
    assert kosovo is not None
    assert (kosovo.kind, kosovo.name, kosovo.props["iso2"]) == ("Country", "Kosovo", "XK")


def test_loading_twice_changes_nothing(store: SqliteStore, feed: dict[str, Any]) -> None:
    load_stix(store, feed)
    revision = store.revision()
    report = load_items(store, read_stix_bundle(feed, "feed.json"))
    assert report.counts.entities_created == report.counts.relations_created == 0
    assert report.counts.entities_updated == report.counts.relations_updated == 0
    assert store.revision() == revision


def test_relationship_to_an_object_loaded_earlier(store: SqliteStore) -> None:
    actor = stix2.ThreatActor(name="Earlier actor")
    load_stix(store, as_doc(actor))
    campaign = stix2.Campaign(name="Later campaign")
    load_stix(store, as_doc(campaign, stix2.Relationship(campaign, "attributed-to", actor.id)))
    found = [(r.source, r.type, r.target, r.key) for r in store.iter_relations() if r.key]
    assert len(found) == 1 and found[0][:3] == (
        f"campaign:stix-{uuid_of(campaign)}",
        "ATTRIBUTED_TO",
        f"actor:stix-{uuid_of(actor)}",
    )
    assert found[0][3].startswith("stix-")  # each STIX relationship is its own relation


@pytest.mark.parametrize(
    ("markings", "expected"),
    [
        ([stix2.TLP_WHITE], "clear"),
        ([stix2.TLP_GREEN], "green"),
        ([stix2.TLP_RED], "red"),
        ([TLP2_MARKING_IDS["amber+strict"]], "amber+strict"),
        (["marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"], "amber+strict"),
        ([stix2.TLP_GREEN, stix2.TLP_AMBER], "amber"),
    ],
)
def test_tlp_markings(store: SqliteStore, markings: list[Any], expected: str) -> None:
    actor = stix2.ThreatActor(name="Marked", object_marking_refs=markings)
    load_stix(store, as_doc(actor))
    row = store.get_entity(namespaced(f"actor:stix-{uuid_of(actor)}", expected))
    assert row is not None
    assert row.marking == expected


def test_tlp_definitions_in_the_bundle(store: SqliteStore) -> None:
    tlp1 = {  # another tool's copy of TLP 1.0 amber, under its own id (stix2 refuses to make one)
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--7b4b1d0c-91d2-4d6a-8e4b-1a8f0b3f3c12",
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "definition": {"tlp": "amber"},
    }
    tlp2 = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--5b4b1d0c-91d2-4d6a-8e4b-1a8f0b3f3c11",
        "created": "2022-10-01T00:00:00.000Z",
        "name": "TLP:RED",
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": "red",
            }
        },
    }
    statement = stix2.StatementMarking(statement="Copyright example")
    statement_definition = stix2.MarkingDefinition(
        definition_type="statement", definition=statement
    )
    amber = stix2.ThreatActor(name="Amber", object_marking_refs=[tlp1["id"], statement_definition])
    red = stix2.ThreatActor(name="Red", object_marking_refs=[tlp2["id"]])
    doc = as_doc(statement_definition, amber, red)
    doc["objects"] += [tlp1, tlp2]
    load_stix(store, doc)
    assert store.get_entity(f"actor:stix-{uuid_of(amber)}@amber").marking == "amber"  # type: ignore[union-attr]
    assert store.get_entity(f"actor:stix-{uuid_of(red)}@red").marking == "red"  # type: ignore[union-attr]


def test_confidence_follows_the_stix_appendix_b_table() -> None:
    for confidence in range(101):
        label = value_to_admiralty_credibility(confidence)
        assert credibility_of(confidence) == int(label[0]), confidence
    assert credibility_of(None) == 6
    for grade, label in ADMIRALTY_LABELS.items():
        assert confidence_of(grade) == admiralty_credibility_to_value(label)
    assert confidence_of(6) is None
    assert confidence_of(None) is None


def test_broken_objects_refuse_the_bundle_naming_each(store: SqliteStore) -> None:
    good = json.loads(stix2.ThreatActor(name="Fine").serialize())
    doc = {
        "type": "bundle",
        "id": "bundle--1",
        "objects": [
            good,
            "not an object",
            {"type": "threat-actor", "name": "No id"},
            {**good, "id": "campaign--" + good["id"].partition("--")[2]},
            {**good, "id": "threat-actor--11111111-2222-4333-8444-555555555555", "name": None},
            {**good, "id": "threat-actor--21111111-2222-4333-8444-555555555555", "confidence": 150},
            {
                "type": "location",
                "id": "location--31111111-2222-4333-8444-555555555555",
                "country": "Russia",
            },
            {
                **good,
                "id": "threat-actor--41111111-2222-4333-8444-555555555555",
                "created": "yesterday",
            },
        ],
    }
    with pytest.raises(BundleRejected) as refused:
        load_stix(store, doc)
    found = {(p.where, p.field) for p in refused.value.problems}
    assert found == {
        ("objects[1]", ""),
        ("objects[2]", "id"),
        ("objects[3]", "id"),
        ("objects[4]", "name"),
        ("objects[5]", "confidence"),
        ("objects[6]", "country"),
        ("objects[7]", "created_at"),
    }
    assert store.get_entity("actor:stix-" + good["id"].partition("--")[2]) is None


def test_the_latest_version_counts_and_revoked_objects_are_left_out(store: SqliteStore) -> None:
    first = stix2.ThreatActor(name="Old name", confidence=10)
    second = first.new_version(name="New name", confidence=90)
    gone = stix2.ThreatActor(name="Withdrawn")
    doc = as_doc(second, first, gone, gone.revoke())
    stix_import = load_stix(store, doc)
    row = store.get_entity(f"actor:stix-{uuid_of(first)}")
    assert row is not None
    assert (row.name, row.props["credibility"]) == ("New name", 1)
    assert store.get_entity(f"actor:stix-{uuid_of(gone)}") is None
    assert stix_import.not_kept == {
        ("threat-actor", "revoked: replaced by another object"): 1,
        ("threat-actor", "an older version of a revoked object"): 1,
        ("threat-actor", "an older version: the latest `modified` counts"): 1,
    }


def test_a_bad_keten_extension_is_named(store: SqliteStore) -> None:
    obj = json.loads(stix2.ThreatActor(name="Odd").serialize())
    obj["extensions"] = {
        KETEN_EXTENSION: {
            "extension_type": "property-extension",
            "keten_id": "actor:odd",
            "keten_kind": "Actor",
            "properties": ["not", "an", "object"],
        }
    }
    with pytest.raises(BundleRejected) as refused:
        load_stix(store, {"type": "bundle", "id": "bundle--1", "objects": [obj]})
    assert [(p.where, p.field) for p in refused.value.problems] == [("objects[0]", "extensions")]


def test_a_document_without_objects_is_refused() -> None:
    problems = list(read_stix_bundle({"type": "bundle", "id": "bundle--1"}, "x.json"))
    assert [(p.field, p.why) for p in problems] == [  # type: ignore[union-attr]
        ("objects", "a STIX bundle needs an `objects` list")
    ]


@pytest.mark.parametrize(
    ("text", "stix"),
    [
        (stix2.Bundle(stix2.ThreatActor(name="A")).serialize(), True),
        ('{"id": "bundle--1", "spec_version": "2.1", "type": "bundle", "objects": []}', True),
        ('{"id": "bundle--1", "x_meta": {"type": "y"}, "type": "bundle"}', True),
        ('{"entities": [{"type": "bundle"}], "relations": []}', False),
        ('{"relations": [], "objects": []}', False),
        ('{"type": "report"}', False),
        ("[1, 2]", False),
        ("{broken", False),
    ],
)
def test_looks_like_stix_reads_only_the_top_level(text: str, stix: bool) -> None:
    assert looks_like_stix(io.BytesIO(text.encode())) is stix


@pytest.mark.skipif(
    "read_stix_bundle" not in inspect.getsource(readers),
    reason="the JSON reader does not call read_stix_bundle yet",
)
def test_keten_load_reads_a_stix_file(store: SqliteStore, tmp_path: Path) -> None:
    actor = stix2.ThreatActor(name="From a file")
    path = tmp_path / "feed.json"
    path.write_text(stix2.Bundle(actor).serialize())
    load_paths(store, [path])
    assert store.get_entity(f"actor:stix-{uuid_of(actor)}") is not None
