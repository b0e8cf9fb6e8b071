"""`keten submissions submit | list | accept | reject` and `keten audit` on a real store.

The queue is the API's (`$KETEN_HOME/submissions.sqlite`), so what the terminal submits a
reviewer can decide over HTTP and the other way round; these tests stay on the command line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keten.cli import app

runner = CliRunner()
DUNEA = """entities:
  - {id: "org:dunea", kind: Organisation, name: Dunea}
relations:
  - {source: "org:dunea", target: "vp:drinking-water", type: OPERATES}
"""
SECRET = {
    "entities": [
        {"id": "org:hidden@amber", "kind": "Organisation", "name": "Hidden", "marking": "amber"}
    ]
}


@pytest.fixture
def home(keten_home: Path) -> Path:
    """A store with the reference knowledge base."""
    assert runner.invoke(app, ["init"]).exit_code == 0
    return keten_home


def submit(tmp_path: Path, name: str, text: str, *options: str) -> dict[str, object]:
    """Submit a bundle file; the submission as JSON."""
    path = tmp_path / name
    path.write_text(text)
    result = runner.invoke(app, ["submissions", "submit", str(path), "--json", *options])
    assert result.exit_code == 0, result.output
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def test_submit_list_accept_and_the_audit_trail(home: Path, tmp_path: Path) -> None:
    sub = submit(
        tmp_path, "dunea.yaml", DUNEA, "--institute", "institute:rivm", "--contributor", "ann"
    )
    assert sub["status"] == "pending" and sub["contributor"] == "ann"
    assert sub["marking"] == "clear" and sub["institute"] == "institute:rivm"
    assert runner.invoke(app, ["show", "org:dunea"]).exit_code == 3  # not in the graph yet
    listed = runner.invoke(app, ["submissions", "list", "--status", "pending", "--json"])
    assert [s["id"] for s in json.loads(listed.stdout)] == [sub["id"]]
    table = runner.invoke(app, ["submissions", "list"])
    assert str(sub["id"]) in table.stdout and "pending" in table.stdout

    accepted = runner.invoke(app, ["submissions", "accept", str(sub["id"]), "--reviewer", "bob"])
    assert accepted.exit_code == 0, accepted.output
    assert accepted.stdout.startswith(f"accepted {sub['id']}: 2 records: wrote 1 new")
    shown = json.loads(runner.invoke(app, ["show", "org:dunea", "--json"]).stdout)
    assert shown["contributor"] == "ann" and shown["institute"] == "institute:rivm"

    trail = runner.invoke(app, ["audit", "--entity", "org:dunea", "--json"])
    items = json.loads(trail.stdout)["items"]
    assert {(i["actor"], i["action"], i["submission"]) for i in items} == {
        ("bob", "create", sub["id"])
    }
    again = runner.invoke(app, ["submissions", "accept", str(sub["id"])])
    assert again.exit_code == 1
    assert again.stderr == f"error: submission {sub['id']} is accepted\n"


def test_reject_keeps_the_reason_and_loads_nothing(home: Path, tmp_path: Path) -> None:
    sub = submit(tmp_path, "dunea.yaml", DUNEA)
    rejected = runner.invoke(
        app, ["submissions", "reject", str(sub["id"]), "--reason", "No source cited.", "--json"]
    )
    assert rejected.exit_code == 0, rejected.output
    answer = json.loads(rejected.stdout)
    assert answer["status"] == "rejected" and answer["reason"] == "No source cited."
    assert str(answer["reviewer"]).startswith("cli:")
    assert runner.invoke(app, ["show", "org:dunea"]).exit_code == 3
    unknown = runner.invoke(app, ["submissions", "reject", "sub-000000000000", "--reason", "x"])
    assert unknown.exit_code == 3
    assert unknown.stderr == "error: no submission 'sub-000000000000'\n"


def test_a_bad_bundle_is_refused_at_once(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "relations:\n  - {source: vp:ghost, target: vp:drinking-water, type: DEPENDS_ON}\n"
    )
    result = runner.invoke(app, ["submissions", "submit", str(path)])
    assert result.exit_code == 1
    assert "vp:ghost" in result.stderr and "nothing was written" in result.stderr
    assert json.loads(runner.invoke(app, ["submissions", "list", "--json"]).stdout) == []
    listy = tmp_path / "list.json"
    listy.write_text("[1, 2]")
    not_a_bundle = runner.invoke(app, ["submissions", "submit", str(listy)])
    assert not_a_bundle.exit_code == 1
    assert not_a_bundle.stderr == (
        f"error: {listy}: a bundle is an object with entities and relations\n"
    )


def test_clearance_bounds_what_a_reviewer_sees_and_decides(home: Path, tmp_path: Path) -> None:
    sub = submit(tmp_path, "secret.json", json.dumps(SECRET))
    assert sub["marking"] == "amber"
    green = runner.invoke(app, ["submissions", "list", "--clearance", "green", "--json"])
    assert json.loads(green.stdout) == []
    hidden = runner.invoke(app, ["submissions", "accept", str(sub["id"]), "--clearance", "green"])
    assert hidden.exit_code == 3
    assert runner.invoke(app, ["submissions", "accept", str(sub["id"])]).exit_code == 0
    trail = json.loads(runner.invoke(app, ["audit", "--json", "--limit", "1000"]).stdout)
    assert "org:hidden@amber" in [i["entity"] for i in trail["items"]]
    seen = runner.invoke(app, ["audit", "--json", "--limit", "1000", "--clearance", "green"])
    assert "org:hidden@amber" not in seen.stdout


def test_audit_pages_and_refuses_bad_times(home: Path) -> None:
    first = json.loads(runner.invoke(app, ["audit", "--limit", "2", "--json"]).stdout)
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = runner.invoke(
        app, ["audit", "--limit", "2", "--cursor", first["next_cursor"], "--json"]
    )
    assert json.loads(second.stdout)["items"] != first["items"]
    table = runner.invoke(app, ["audit", "--limit", "2"])
    assert f"next page: --cursor {first['next_cursor']}" in table.stdout
    bad = runner.invoke(app, ["audit", "--since", "yesterday"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --since: ")
    future = runner.invoke(app, ["audit", "--since", "2999-01-01", "--json"])
    assert json.loads(future.stdout) == {"items": [], "next_cursor": None}
