"""Threat intelligence on both stores: an ATT&CK-shaped feed loads, the new kinds get their
Neo4j labels, and the named Cypher query agrees with `keten targeted`."""

from __future__ import annotations

from typing import Any

from bench.attack_bundle import attack_bundle
from keten.graph.projection import build_projection
from keten.graph.store import EntityFilter
from keten.ingest import load_bundle, load_items
from keten.ingest.stix import read_stix_bundle
from keten.queries.targeting import resolve_capability, targeted_processes
from keten.schema.markings import Tlp


def joined(store: Any) -> tuple[str, str]:
    """Load an ATT&CK-shaped feed and point one of its groups at a vital process; returns
    (an ATT&CK id the group uses, the group's keten id)."""
    bundle = attack_bundle(700, seed=8)
    load_items(store, read_stix_bundle(bundle, "attack.json"))
    groups = [o for o in bundle["objects"] if o["type"] == "intrusion-set" and not o.get("revoked")]
    by_id = {o["id"]: o for o in bundle["objects"]}
    group, technique = next(
        (g, by_id[r["target_ref"]])
        for g in groups
        for r in bundle["objects"]
        if r["type"] == "relationship"
        and r["relationship_type"] == "uses"
        and r["source_ref"] == g["id"]
        and r["target_ref"].startswith("attack-pattern--")
    )
    group_id = "actor:stix-" + group["id"].partition("--")[2]
    load_bundle(
        store,
        {
            "entities": [
                {"id": "vp:port", "kind": "VitalProcess", "name": "Port"},
                {"id": "vp:grid@amber", "kind": "VitalProcess", "name": "Grid", "marking": "amber"},
                {"id": "org:port-operator", "kind": "Organisation", "name": "Port operator"},
            ],
            "relations": [
                {"source": group_id, "type": "TARGETS", "target": "org:port-operator"},
                {"source": "org:port-operator", "type": "OPERATES", "target": "vp:port"},
                {"source": group_id, "type": "TARGETS", "target": "vp:grid@amber"},
            ],
        },
    )
    return technique["external_references"][0]["external_id"], group_id


def test_users_of_a_technique_target_processes_on_every_store(store: Any) -> None:
    attack_id, group_id = joined(store)
    for clearance, expected in ((Tlp.RED, {"vp:port", "vp:grid@amber"}), (Tlp.GREEN, {"vp:port"})):
        capability = resolve_capability(store, clearance, attack_id)
        result = targeted_processes(build_projection(store, clearance), capability)
        assert {p.id for p in result.processes} == expected
        assert all(group_id in p.by for p in result.processes)
    capabilities = store.list_entities(EntityFilter(kind="Capability"), None, 5).items
    assert capabilities and all(c.props["capability_type"] for c in capabilities)
    if store.name != "neo4j":
        return
    from keten.graph.named_queries import run

    for clearance, expected in ((Tlp.RED, {"vp:port", "vp:grid@amber"}), (Tlp.GREEN, {"vp:port"})):
        rows = run(store, "processes_targeted_by_users_of", {"capability": attack_id}, clearance)
        assert {row["process"] for row in rows.rows} == expected
        assert all(group_id in row["targeted_by"] for row in rows.rows)
