"""The reference knowledge base: every record valid, cited and joined to records that exist."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from keten.data import reference_bundle_path
from keten.graph.projection import build_projection
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_paths
from keten.queries.cascade import cascade
from keten.schema import Relation, allowed_endpoints, parse_entity, parse_relation
from keten.schema import entities as entity_kinds
from keten.schema.markings import Tlp

EU_27 = {
    "AT",
    "BE",
    "BG",
    "HR",
    "CY",
    "CZ",
    "DK",
    "EE",
    "FI",
    "FR",
    "DE",
    "GR",
    "HU",
    "IE",
    "IT",
    "LV",
    "LT",
    "LU",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SK",
    "SI",
    "ES",
    "SE",
}
INTERESTS = {
    "interest:territorial-security",
    "interest:physical-security",
    "interest:economic-security",
    "interest:ecological-security",
    "interest:social-political-stability",
    "interest:international-legal-order",
}
LETTER_AREAS = {
    "resource:medical-supplies",
    "resource:food",
    "resource:cyber",
    "resource:energy",
    "resource:defence-materiel",
}
EXTRA_PROPERTIES = {"scope", "stage", "source_type", "name_nl", "category_as_of"}
"""Properties the reference data adds beyond the schema fields (a typo would show up here)."""

Row = dict[str, Any]
Parsed = tuple[dict[str, Row], list[Row]]


def read_records() -> tuple[list[Row], list[Row]]:
    """The raw entity and relation records of every file of the bundle folder."""
    entities: list[Row] = []
    relations: list[Row] = []
    for path in sorted(reference_bundle_path().glob("*.yaml")):
        bundle = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(bundle) <= {"entities", "relations"}, path.name
        entities.extend(bundle.get("entities") or [])
        relations.extend(bundle.get("relations") or [])
    return entities, relations


def fields_of(typed_dict: Any) -> set[str]:
    """The keys a TypedDict schema declares."""
    return set(typed_dict.__required_keys__ | typed_dict.__optional_keys__)


def of_kind(entities: dict[str, Row], kind: str) -> list[Row]:
    return [e for e in entities.values() if e["kind"] == kind]


def of_type(relations: list[Row], rel_type: str) -> list[Row]:
    return [r for r in relations if r["type"] == rel_type]


@pytest.fixture(scope="module")
def parsed() -> Parsed:
    """Every record validated by the schema; entities by id."""
    raw_entities, raw_relations = read_records()
    entities: dict[str, Row] = {}
    for record in raw_entities:
        entity = parse_entity(record)
        assert entity["id"] not in entities, f"duplicate id {entity['id']}"
        entities[entity["id"]] = entity
    return entities, [parse_relation(record) for record in raw_relations]


def test_folder_holds_the_bundle_files() -> None:
    names = {p.name for p in reference_bundle_path().glob("*.yaml")}
    assert {"sources.yaml", "interests.yaml", "vital_processes.yaml", "threats.yaml"} <= names


def test_only_known_properties(parsed: Parsed) -> None:
    """A stray key (say a flow-style YAML value cut at a comma) would become a property."""
    entities, relations = parsed
    for entity in entities.values():
        extra = set(entity) - fields_of(getattr(entity_kinds, entity["kind"]))
        assert extra <= EXTRA_PROPERTIES, (entity["id"], extra)
    for rel in relations:
        extra = set(rel) - fields_of(Relation)
        assert extra <= EXTRA_PROPERTIES, (rel["source"], rel["target"], extra)


def test_relation_endpoints_exist_with_allowed_kinds(parsed: Parsed) -> None:
    entities, relations = parsed
    for rel in relations:
        source, target = entities.get(rel["source"]), entities.get(rel["target"])
        assert source is not None and target is not None, rel
        assert allowed_endpoints(rel["type"], source["kind"], target["kind"]), rel


def test_relations_are_unique(parsed: Parsed) -> None:
    _, relations = parsed
    keys = Counter((r["source"], r["type"], r["target"], r.get("key") or "") for r in relations)
    assert [k for k, n in keys.items() if n > 1] == []


def test_every_record_cites_an_existing_source_and_has_provenance(parsed: Parsed) -> None:
    entities, relations = parsed
    sources = {e["id"] for e in of_kind(entities, "Source")}
    for record in [*entities.values(), *relations]:
        assert record.get("source_ids"), record
        assert set(record["source_ids"]) <= sources, record
        assert record["contributor"] == "keten reference data", record
        assert record["institute"], record
        assert record["marking"] == "clear", record


def test_unverified_records_say_what_was_not_verified(parsed: Parsed) -> None:
    entities, relations = parsed
    unverified = [r for r in [*entities.values(), *relations] if r.get("verified") is False]
    assert unverified, "estimates must be marked"
    assert all(record.get("note") for record in unverified)


def test_editorial_estimates_are_never_marked_verified(parsed: Parsed) -> None:
    entities, relations = parsed
    for record in [*entities.values(), *relations]:
        if "source:keten-editorial-model" in record["source_ids"]:
            assert record["verified"] is False, record


def test_sources_have_title_publisher_and_year(parsed: Parsed) -> None:
    entities, _ = parsed
    for source in of_kind(entities, "Source"):
        assert source["name"] and source.get("publisher") and source.get("year"), source["id"]


def test_the_six_interests_with_their_criteria(parsed: Parsed) -> None:
    entities, relations = parsed
    interests = of_kind(entities, "Interest")
    assert {i["id"] for i in interests} == INTERESTS
    assert sorted(i["number"] for i in interests) == [1, 2, 3, 4, 5, 6]
    assert {r["target"] for r in of_type(relations, "MEASURES")} == INTERESTS


CURRENT_CRITERIA = [
    *("1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "3.1", "3.2", "4.1"),
    *("5.1", "5.2", "5.3", "6.1", "6.2", "6.3", "6.4", "6.5"),
]


def test_the_current_impact_criteria_measure_their_interests(parsed: Parsed) -> None:
    """The 18 criteria of RbRa 2022; each measures the interest its first digit numbers."""
    entities, relations = parsed
    criteria = {c["code"]: c for c in of_kind(entities, "ImpactCriterion")}
    assert sorted(criteria) == CURRENT_CRITERIA
    number = {i["id"]: i["number"] for i in of_kind(entities, "Interest")}
    measured = {r["source"]: r["target"] for r in of_type(relations, "MEASURES")}
    for code, criterion in criteria.items():
        assert number[measured[criterion["id"]]] == int(code[0]), code
    assert criteria["6.1"]["name"].startswith("Violation of state sovereignty")
    assert criteria["5.3"]["name"] == "Societal impact"
    placeholders = [c for c in criteria.values() if "name not yet read" in c["name"]]
    assert {c["code"] for c in placeholders} == {"6.2", "6.3", "6.4", "6.5"}
    assert all(c["verified"] is False and c["note"] for c in placeholders)


def test_threats_cover_both_kinds_and_all_nine_themes(parsed: Parsed) -> None:
    entities, relations = parsed
    threats = of_kind(entities, "Threat")
    assert len(threats) >= 15
    assert {t["malicious"] for t in threats} == {True, False}
    assert len({t["theme"] for t in threats}) == 9
    threatens = defaultdict(set)
    for rel in of_type(relations, "THREATENS"):
        threatens[rel["source"]].add(rel["target"])
    for threat in threats:
        assert threatens[threat["id"]] == set(threat["impact"]), threat["id"]


def test_every_vital_process_is_complete_and_linked(parsed: Parsed) -> None:
    """The 26 processes of the current NCTV list; the older A/B categories kept and dated."""
    entities, relations = parsed
    processes = of_kind(entities, "VitalProcess")
    assert len(processes) == 26
    safeguards = {r["source"] for r in of_type(relations, "SAFEGUARDS")}
    for process in processes:
        assert process["sector"] and process["ministry"] and process["name_nl"], process["id"]
        assert process["category"] in {"A", "B"}, process["id"]
        assert process["category_as_of"] == 2023, process["id"]
        assert process["id"] in safeguards, process["id"]
    assert {p["id"] for p in processes if p["category"] == "A"} == {
        "vp:electricity-national",
        "vp:gas-national",
        "vp:oil-supply",
        "vp:drinking-water",
        "vp:water-management",
        "vp:nuclear",
    }
    assert {p["sector"] for p in processes if p["name_nl"] == "Plaats- en tijdsbepaling"} == {
        "Telecommunications"
    }
    energy = [p for p in processes if p["sector"] == "Energy"]
    assert sorted(p["name_nl"] for p in energy) == ["Elektriciteit", "Gas", "Olie"]


def test_redundancy_groups_hold_real_alternatives(parsed: Parsed) -> None:
    """A group of one would be an ordinary edge mislabelled."""
    _, relations = parsed
    members: Counter[tuple[str, str]] = Counter(
        (r["source"], r["redundancy_group"])
        for r in of_type(relations, "DEPENDS_ON")
        if r.get("redundancy_group")
    )
    assert members, "some processes have alternatives"
    assert all(count >= 2 for count in members.values()), members


def test_dependencies_state_their_assumptions(parsed: Parsed) -> None:
    """Strength, buffer and type are explicit, so an analyst sees what the cascade assumes."""
    _, relations = parsed
    for rel in of_type(relations, "DEPENDS_ON"):
        assert rel.get("strength") is not None, rel
        assert rel.get("buffer_hours") is not None, rel
        assert rel.get("dependency_type"), rel


def test_major_dependencies_have_their_published_buffers(parsed: Parsed) -> None:
    """Published ranges are kept as ranges; the cascade's buffer is their minimum."""
    _, relations = parsed
    edges = {(r["source"], r["target"]): r for r in relations}
    mobile = edges[("vp:internet-access", "vp:electricity-national")]
    assert (mobile["buffer_hours"], mobile["buffer_hours_min"], mobile["buffer_hours_max"]) == (
        0.5,
        0.5,
        3,
    )
    assert edges[("vp:drinking-water", "resource:emergency-power")]["buffer_hours"] == 10 * 24
    oil = edges[("vp:oil-supply", "resource:crude-oil")]
    assert oil["buffer_hours"] == oil["buffer_hours_min"] == 61 * 24


def test_eu_27_and_suppliers(parsed: Parsed) -> None:
    entities, _ = parsed
    countries = of_kind(entities, "Country")
    for country in countries:
        assert country["id"] == f"country:{country['iso2']}"
        assert country["eu_member"] is (country["iso2"] in EU_27), country["id"]
    assert {c["iso2"] for c in countries if c["eu_member"]} == EU_27
    suppliers = {"CN", "US", "RU", "TR", "ZA", "CD", "AU", "CL", "BR"}
    assert suppliers <= {c["iso2"] for c in countries}


def test_supplier_shares_per_resource_year_sum_to_at_most_one(parsed: Parsed) -> None:
    entities, relations = parsed
    sourced = of_type(relations, "SOURCED_FROM")
    totals: dict[tuple[str, int], float] = defaultdict(float)
    for rel in sourced:
        assert 0 <= rel["share"] <= 1 and rel["year"], rel
        totals[(rel["source"], rel["year"])] += rel["share"]
    assert len(totals) >= 7
    assert all(total <= 1 + 1e-9 for total in totals.values()), totals
    scopes = defaultdict(set)
    for rel in sourced:
        scopes[(rel["source"], rel["year"])].add(rel["scope"])
    assert all(len(s) == 1 for s in scopes.values()), "one scope per resource-year"
    materials = {"gallium", "germanium", "magnesium", "lithium", "cobalt", "natural-graphite"}
    assert {f"resource:{m}" for m in materials} <= {r["source"] for r in sourced}
    assert all(entities[r["target"]]["eu_member"] is False for r in sourced)


def test_letter_areas_are_resources_fed_by_inputs(parsed: Parsed) -> None:
    entities, relations = parsed
    resources = of_kind(entities, "Resource")
    assert {r["id"] for r in resources if r.get("resource_type") == "area"} == LETTER_AREAS
    inputs = {(r["source"], r["target"]) for r in of_type(relations, "INPUT_TO")}
    assert ("resource:gallium", "resource:semiconductors") in inputs
    assert {target for _, target in inputs} >= LETTER_AREAS - {"resource:food"}


def test_actors_pose_threats_and_state_actors_sit_in_flagged_countries(parsed: Parsed) -> None:
    entities, relations = parsed
    located = {r["source"]: r["target"] for r in of_type(relations, "LOCATED_IN")}
    poses = {r["source"] for r in of_type(relations, "POSES")}
    for actor in of_kind(entities, "Actor"):
        assert actor["id"] in poses, actor["id"]
        if actor["actor_type"] == "state":
            assert entities[located[actor["id"]]]["flagged"] is True, actor["id"]


def test_loads_into_sqlite_without_problems_and_idempotently(tmp_path: Path) -> None:
    entities, relations = read_records()
    store = SqliteStore(tmp_path / "keten.sqlite")
    try:
        first = load_paths(store, [reference_bundle_path()])
        assert first.counts.entities_created == len(entities)
        assert first.counts.relations_created == len(relations)
        revision = store.revision()
        second = load_paths(store, [reference_bundle_path()])
        assert second.counts.entities_created == second.counts.entities_updated == 0
        assert second.counts.relations_created == second.counts.relations_updated == 0
        assert second.counts.entities_unchanged == len(entities)
        assert second.counts.relations_unchanged == len(relations)
        assert store.revision() == revision
        assert store.counts() == {"entities": len(entities), "relations": len(relations)}
        water = store.get_entity("vp:drinking-water")
        assert water is not None and water.props["category"] == "A"
    finally:
        store.close()


def test_the_cascade_takes_the_minimum_of_a_published_buffer_range(tmp_path: Path) -> None:
    """Mobile sites last 0.5-3 h on batteries: internet access fails 0.5 h after power."""
    store = SqliteStore(tmp_path / "keten.sqlite")
    try:
        load_paths(store, [reference_bundle_path()])
        edge = store.get_relation(
            ("vp:internet-access", "DEPENDS_ON", "vp:electricity-national", "")
        )
        assert edge is not None
        low, high = edge.props["buffer_hours_min"], edge.props["buffer_hours_max"]
        assert (low, high) == (0.5, 3)
        result = cascade(build_projection(store, Tlp.RED), ["vp:electricity-national"], 24)
        hours = {a.id: a.time_to_impact_hours for a in result.affected}
        assert hours["vp:internet-access"] == low
        assert hours["vp:voice-sms"] == low
    finally:
        store.close()
