"""`keten import-trade`, `keten dependencies` and `keten embargo` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import keten.cli.supply  # noqa: F401  (registers dependencies, embargo, import-trade)
from keten.cli import app
from keten.config import Settings
from keten.graph import open_store
from keten.graph.projection import build_projection
from keten.queries.dependencies import dependency_report, read_supply
from keten.queries.embargo import EmbargoRequest, embargo
from keten.schema.markings import Tlp

runner = CliRunner()
TRADE = """product,partner,year,value
Gallium,CN,2023,900
Gallium,DE,2023,100
Tin,ID,2023,600
Tin,BE,2023,400
"""


def import_sample(tmp_path: Path) -> None:
    """`keten init` (reference data), then import a small trade file."""
    assert runner.invoke(app, ["init"]).exit_code == 0
    trade = tmp_path / "trade.csv"
    trade.write_text(TRADE)
    dry = runner.invoke(app, ["import-trade", str(trade), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["shares"] == 4
    done = runner.invoke(app, ["import-trade", str(trade), "--institute", "institute:tno"])
    assert done.exit_code == 0, done.output
    assert "2 resource-years: wrote 4 shares" in done.stdout


def test_import_then_dependencies_as_json_and_table(keten_home: Path, tmp_path: Path) -> None:
    import_sample(tmp_path)
    answer = runner.invoke(app, ["dependencies", "--flagged", "ID", "--year", "2023", "--json"])
    assert answer.exit_code == 0, answer.output
    store = open_store(Settings.from_env())
    data = read_supply(store, Tlp.RED)
    expected = dependency_report(data, 2023, flagged=["ID"], limit=100, max_processes=20)
    share = store.get_relation(("resource:tin", "SOURCED_FROM", "country:ID", "imports_value:2023"))
    store.close()
    assert share is not None and share.props["institute"] == "institute:tno"
    assert json.loads(answer.stdout) == expected.model_dump(mode="json")
    tin = next(r for r in json.loads(answer.stdout)["resources"] if r["id"] == "resource:tin")
    assert tin["flagged_share"] == 0.6 and tin["non_eu_share"] == 0.6
    gallium = next(r for r in expected.resources if r.id == "resource:gallium")
    assert gallium.scope == "imports_value"  # the complete trade data beats the partial 0.71
    table = runner.invoke(app, ["dependencies"], env={"COLUMNS": "150"})
    assert table.exit_code == 0 and "gallium" in table.stdout and "CIH" in table.stdout


def test_embargo_json_matches_the_query_and_the_table_names_processes(
    keten_home: Path, tmp_path: Path
) -> None:
    import_sample(tmp_path)
    args = ["embargo", "CN", "--threshold", "0.5", "--hours", "2200"]
    answer = runner.invoke(app, [*args, "--json"])
    assert answer.exit_code == 0, answer.output
    store = open_store(Settings.from_env())
    request = EmbargoRequest(country="CN", threshold=0.5, horizon_hours=2200)
    expected = embargo(read_supply(store, Tlp.RED), build_projection(store, Tlp.RED), request)
    store.close()
    assert json.loads(answer.stdout) == expected.model_dump(mode="json")
    assert "vp:internet-access" in {a.id for a in expected.affected}
    table = runner.invoke(app, args, env={"COLUMNS": "150"})
    assert table.exit_code == 0 and "semiconductors" in table.stdout
    assert "vp:internet-access" in table.stdout


def test_errors_exit_non_zero_naming_the_problem(keten_home: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    unknown = runner.invoke(app, ["embargo", "XX"])
    assert unknown.exit_code == 3 and "XX" in unknown.stderr
    flagged = runner.invoke(app, ["dependencies", "--flagged", "Atlantis"])
    assert flagged.exit_code == 1 and "Atlantis" in flagged.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("product,partner,year,value\nTin,CN,2023,lots\n")
    refused = runner.invoke(app, ["import-trade", str(bad)])
    assert refused.exit_code == 1
    assert "line 2" in refused.output and "value" in refused.output


def test_marked_trade_data_is_hidden_from_lower_clearances(
    keten_home: Path, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    trade = tmp_path / "secret.csv"
    trade.write_text("product,partner,year,value\nTin,CN,2023,5\n")
    done = runner.invoke(app, ["import-trade", str(trade), "--marking", "amber"])
    assert done.exit_code == 0, done.output
    store = open_store(Settings.from_env())
    green = {r.id for r in dependency_report(read_supply(store, Tlp.GREEN)).resources}
    red = {r.id for r in dependency_report(read_supply(store, Tlp.RED)).resources}
    resource = store.get_entity("resource:tin", Tlp.CLEAR)
    store.close()
    assert "resource:tin" in red - green and resource is not None
    wrong = runner.invoke(app, ["import-trade", str(trade), "--marking", "purple"])
    assert wrong.exit_code != 0 and "purple" in wrong.output
