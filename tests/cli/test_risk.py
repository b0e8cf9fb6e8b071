"""`keten risk`, `keten report` and `keten scenario` on the reference knowledge base."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import keten.cli.risk  # noqa: F401  (registers risk, report and scenario)
from keten.cli import app
from keten.config import Settings
from keten.graph import open_store
from keten.graph.projection import build_projection
from keten.queries.risk import RiskOptions, integrated_analysis, window
from keten.queries.scenarios import ScenariosRequest, compare_scenarios
from keten.schema.markings import Tlp

runner = CliRunner()


@pytest.fixture
def initialised(keten_home: Path) -> Path:
    """KETEN_HOME holding a store with the reference knowledge base."""
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    return keten_home


def expected_scenarios(body: dict[str, Any]) -> dict[str, Any]:
    """What compare_scenarios answers on the configured store."""
    store = open_store(Settings.from_env())
    try:
        projection = build_projection(store, Tlp.RED)
    finally:
        store.close()
    return compare_scenarios(projection, ScenariosRequest.model_validate(body)).model_dump(
        mode="json"
    )


def test_risk_json_and_table(initialised: Path) -> None:
    answer = runner.invoke(app, ["risk", "--json", "--prefer", "derived", "--hours", "24"])
    assert answer.exit_code == 0, answer.output
    store = open_store(Settings.from_env())
    try:
        options = RiskOptions(prefer="derived", horizon_hours=24)
        expected = integrated_analysis(store, build_projection(store, Tlp.RED), options)
    finally:
        store.close()
    assert json.loads(answer.stdout) == expected.model_dump(mode="json")
    listed = runner.invoke(
        app, ["risk", "--json", "--prefer", "derived", "--hours", "24", "--processes", "1"]
    )
    assert listed.exit_code == 0, listed.output
    first = window(expected, 0, expected.threats_total, 1)
    assert json.loads(listed.stdout) == first.model_dump(mode="json")
    assert json.loads(listed.stdout) != json.loads(answer.stdout)
    table = runner.invoke(app, ["risk"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "threat:pandemic" in table.stdout
    assert "not scores of the national risk" in table.stdout
    wrong = runner.invoke(app, ["risk", "--prefer", "guessed"])
    assert wrong.exit_code == 2 and "--prefer" in wrong.output


def test_report_writes_one_file(initialised: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    made = runner.invoke(app, ["report", "--out", str(target), "--clearance", "green"])
    assert made.exit_code == 0, made.output
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "Flooding from the sea" in page


def test_scenarios_from_names_and_file(initialised: Path, tmp_path: Path) -> None:
    args = "scenario --hours 48 --json --name outage threat:power-outage"
    args += " --name outage+water threat:power-outage vp:drinking-water"
    named = runner.invoke(app, args.split())
    assert named.exit_code == 0, named.output
    body = {
        "scenarios": [
            {"name": "outage", "sources": ["threat:power-outage"], "horizon_hours": 48},
            {
                "name": "outage+water",
                "sources": ["threat:power-outage", "vp:drinking-water"],
                "horizon_hours": 48,
            },
        ]
    }
    assert json.loads(named.stdout) == expected_scenarios(body)
    file = tmp_path / "scenarios.yaml"
    file.write_text(
        "scenarios:\n"
        "  - {name: storm, sources: [threat:severe-storm], horizon_hours: 12}\n"
        "  - {name: cyber, sources: [threat:state-cyber-sabotage]}\n",
        encoding="utf-8",
    )
    from_file = runner.invoke(app, ["scenario", "--file", str(file)], env={"COLUMNS": "200"})
    assert from_file.exit_code == 0, from_file.output
    assert "storm" in from_file.stdout and "Differences" in from_file.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scenario"], "no scenarios"),
        (["scenario", "vp:drinking-water"], "expected --name"),
        (["scenario", "--name"], "needs a scenario name"),
        (["scenario", "--name", "a"], "at least 1 item"),
        (["scenario", "--name", "a", "vp:x", "--name", "a", "vp:y"], "unique"),
    ],
)
def test_scenario_errors(initialised: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2 and message in result.stderr


def test_a_scenario_with_an_unknown_id_is_not_found(initialised: Path) -> None:
    result = runner.invoke(app, ["scenario", "--name", "a", "vp:nowhere"])
    assert result.exit_code == 3 and "vp:nowhere" in result.stderr
