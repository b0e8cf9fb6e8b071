"""`keten load` of a STIX feed (the not-kept table, `--json`), `keten export --clearance`,
and `keten targeted`, on a real embedded store."""

from __future__ import annotations

import json
from pathlib import Path

import stix2
from typer.testing import CliRunner

from bench.attack_bundle import attack_bundle
from keten.cli import app


def run(home: Path, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"KETEN_HOME": str(home), "KETEN_STORE": ""})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_load_shows_what_it_did_not_keep(tmp_path: Path) -> None:
    feed = tmp_path / "attack.json"
    feed.write_text(json.dumps(attack_bundle(600, seed=6)))
    shown = run(tmp_path / "home", "load", str(feed))
    assert "not kept:" in shown
    assert "x-mitre-tactic" in shown and "keten has no kind for it" in shown
    again = json.loads(run(tmp_path / "home2", "load", str(feed), "--json"))
    rows = {(r["stix_type"], r["reason"]): r["count"] for r in again["not_kept"]}
    assert rows[("x-mitre-tactic", "keten has no kind for it")] == 14


def test_a_green_export_leaves_out_what_an_amber_object_cites(tmp_path: Path) -> None:
    secret = stix2.IntrusionSet(
        name="Hidden group",
        object_marking_refs=[stix2.TLP_AMBER],
        external_references=[
            {"source_name": "Liaison report", "url": "https://intel.example/liaison"}
        ],
    )
    known = stix2.Tool(
        name="Open tool",
        external_references=[{"source_name": "mitre-attack", "external_id": "S0002"}],
    )
    feed = tmp_path / "feed.json"
    feed.write_text(stix2.Bundle(secret, known).serialize())
    home = tmp_path / "home"
    run(home, "load", str(feed))
    for fmt in ("json", "stix"):
        green = run(home, "export", "--format", fmt, "--clearance", "green")
        assert "Liaison" not in green and "intel.example" not in green, fmt
        assert "Hidden group" not in green and "S0002" in green, fmt
        amber = run(home, "export", "--format", fmt, "--clearance", "amber")
        assert "Liaison report" in amber and "intel.example/liaison" in amber, fmt


def test_targeted_names_the_processes(tmp_path: Path) -> None:
    technique = stix2.AttackPattern(
        name="Phishing",
        external_references=[{"source_name": "mitre-attack", "external_id": "T1566"}],
    )
    group = stix2.IntrusionSet(name="Sandstorm")
    feed = tmp_path / "feed.json"
    feed.write_text(
        stix2.Bundle(technique, group, stix2.Relationship(group, "uses", technique)).serialize()
    )
    home = tmp_path / "home"
    run(home, "load", str(feed))
    group_id = "actor:stix-" + group.id.partition("--")[2]
    keten = tmp_path / "keten.json"
    keten.write_text(
        json.dumps(
            {
                "entities": [{"id": "vp:port", "kind": "VitalProcess", "name": "Port"}],
                "relations": [{"source": group_id, "type": "TARGETS", "target": "vp:port"}],
            }
        )
    )
    run(home, "load", str(keten))
    shown = run(home, "targeted", "T1566")
    assert "vp:port" in shown and group_id in shown
    answer = json.loads(run(home, "targeted", "T1566", "--json"))
    assert [p["id"] for p in answer["processes"]] == ["vp:port"]
