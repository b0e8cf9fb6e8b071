"""`keten init`, `load`, `export` and `schema` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
from typer.testing import CliRunner

from keten.cli import app
from keten.config import Settings
from keten.graph import open_store

runner = CliRunner()
BUNDLE = {
    "entities": [
        {"id": "vp:power", "kind": "VitalProcess", "name": "Electricity", "aliases": ["Stroom"]},
        {
            "id": "vp:water@amber",
            "kind": "VitalProcess",
            "name": "Drinking water",
            "marking": "amber",
        },
    ],
    "relations": [
        {"source": "vp:water@amber", "target": "vp:power", "type": "DEPENDS_ON", "buffer_hours": 4}
    ],
}


def keten(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess."""
    code = "from keten.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )


def test_load_dry_run_then_load(keten_home: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps(BUNDLE))
    dry = runner.invoke(app, ["load", str(bundle), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["entities_created"] == 2
    store = open_store(Settings.from_env())
    assert store.revision() == 0
    done = runner.invoke(app, ["load", str(bundle)])
    assert done.exit_code == 0 and "2 new" in done.stdout
    assert store.revision() == 1 and store.get_entity("vp:water@amber") is not None


def test_refused_load_exits_non_zero_with_report(keten_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("entities:\n  - {id: vp:x, kind: VitalProcess, name: X, category: Q}\n")
    result = keten("load", str(bad))
    assert result.returncode == 1
    assert "bad.yaml:entities[0]: category" in result.stderr
    assert "nothing was written" in result.stderr
    assert open_store(Settings.from_env()).revision() == 0


def test_export_json_round_trips(keten_home: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps(BUNDLE))
    assert runner.invoke(app, ["load", str(bundle)]).exit_code == 0
    result = keten("export", "--format", "json")
    assert result.returncode == 0, result.stderr
    exported = json.loads(result.stdout)
    assert [e["id"] for e in exported["entities"]] == ["vp:power", "vp:water@amber"]
    assert exported["relations"][0]["buffer_hours"] == 4.0
    again = tmp_path / "again.json"
    again.write_text(result.stdout)
    reload = runner.invoke(app, ["load", str(again), "--json"])
    assert json.loads(reload.stdout)["entities_unchanged"] == 2
    green = keten("export", "--clearance", "green")
    assert [e["id"] for e in json.loads(green.stdout)["entities"]] == ["vp:power"]
    assert json.loads(green.stdout)["relations"] == []


def test_export_graphml(keten_home: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps(BUNDLE))
    runner.invoke(app, ["load", str(bundle)])
    out = tmp_path / "g.graphml"
    assert runner.invoke(app, ["export", "--format", "graphml", "--out", str(out)]).exit_code == 0
    graph = nx.read_graphml(out)
    assert set(graph.nodes) == {"vp:power", "vp:water@amber"}
    assert graph.nodes["vp:power"]["aliases"] == '["Stroom"]'
    assert list(graph.edges(data="type")) == [("vp:water@amber", "vp:power", "DEPENDS_ON")]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_export_on_a_terminal_counts_the_records_read(keten_home: Path, tmp_path: Path) -> None:
    """stderr a terminal (TTY_COMPATIBLE=1 tells rich so): a progress line counts the records
    read, GraphML's two passes each; stdout is the same file as without it."""
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps(BUNDLE))
    runner.invoke(app, ["load", str(bundle)])
    plain = keten("export", "--format", "graphml")
    code = "from keten.cli import main; main()"
    shown = subprocess.run(
        [sys.executable, "-c", code, "export", "--format", "graphml"],
        capture_output=True, text=True, check=False, env={**os.environ, "TTY_COMPATIBLE": "1"},
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "6 records read (relations)" in shown.stderr  # 2 entities and 1 relation, twice
    assert "records read" not in plain.stderr
    assert shown.stdout == plain.stdout


def test_a_failed_export_leaves_no_file_and_an_older_one_as_it_was(
    keten_home: Path, tmp_path: Path
) -> None:
    """An entity id XML cannot carry (U+FFFF) fails the GraphML export: exit 1, one line,
    no partial file, the file from before untouched, no temporary file left."""
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps({"entities": [{"id": "org:\uffff", "kind": "Organisation",
                                                "name": "Odd"}]}))  # fmt: skip
    assert runner.invoke(app, ["load", str(bundle)]).exit_code == 0
    new, old = tmp_path / "new.graphml", tmp_path / "old.graphml"
    old.write_text("an earlier export")
    for out in (new, old):
        failed = keten("export", "--format", "graphml", "--out", str(out))
        assert failed.returncode == 1, failed.stderr
        assert failed.stderr.startswith("error: entity id 'org:\\uffff' holds a character XML")
        assert "Traceback" not in failed.stderr
    assert not new.exists() and old.read_text() == "an earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "home", "old.graphml"]
    elsewhere = keten("export", "--out", str(tmp_path / "nowhere" / "x.json"))
    assert elsewhere.returncode == 1 and "no such folder" in elsewhere.stderr


def test_load_reads_graphml_back_and_names_bad_lines(keten_home: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps(BUNDLE))
    runner.invoke(app, ["load", str(bundle)])
    out = tmp_path / "g.graphml"
    assert runner.invoke(app, ["export", "-f", "graphml", "-o", str(out)]).exit_code == 0
    again = runner.invoke(app, ["load", str(out), "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["entities_unchanged"] == 2
    broken = tmp_path / "broken.graphml"
    broken.write_text(out.read_text().replace('<data key="d', '<data key="x', 1))
    refused = keten("load", str(broken))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert (
        "broken.graphml:line 16: key: <data key='x2'> in <node id='vp:power'>: no such <key>"
        in (refused.stderr)
    )
    assert "nothing was written" in refused.stderr


def test_schema_prints_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "keten bundle"


def test_init_without_reference_creates_the_store(keten_home: Path) -> None:
    result = runner.invoke(app, ["init", "--no-reference"])
    assert result.exit_code == 0, result.output
    assert (keten_home / "keten.sqlite").exists()


def test_init_json_prints_the_load_report(keten_home: Path) -> None:
    first = runner.invoke(app, ["init", "--json"])
    assert first.exit_code == 0, first.output
    answer = json.loads(first.stdout)
    assert answer["store"] == "sqlite" and answer["revision"] == 1
    assert answer["records"] == answer["entities_created"] + answer["relations_created"]
    again = json.loads(runner.invoke(app, ["init", "--json"]).stdout)
    assert again["revision"] == 1 and again["entities_created"] == 0
    assert again["entities_unchanged"] + again["relations_unchanged"] == answer["records"]
