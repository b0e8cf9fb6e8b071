"""Every table fits 80 columns and never cuts an id: each id of the JSON answer is whole in it.

Names are shortened with an ellipsis, or left out when an answer's ids leave too little room
for them; ids (what one types next) are not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from keten.cli import app

runner = CliRunner()


def ids_of(*keys: str) -> Callable[[Any], list[str]]:
    """The `id`s of the items under `keys` of an answer."""

    def pick(answer: Any) -> list[str]:
        return [item["id"] for key in keys for item in answer[key]]

    return pick


def path_ids(answer: Any) -> list[str]:
    return [
        r[end]
        for p in answer["paths"]
        for s in p["steps"]
        for r in s
        for end in ("source", "target")
    ]


def short_ids(key: str, prefix: str) -> Callable[[Any], list[str]]:
    return lambda answer: [i["id"].removeprefix(prefix) for i in answer[key]]


def embargo_ids(answer: Any) -> list[str]:
    lost = [s["id"].removeprefix("resource:") for s in answer["shortfalls"]]
    return lost + [i["id"] for i in answer["affected"]]


def scenario_ids(answer: Any) -> list[str]:
    return [i["id"] for s in answer["scenarios"] for i in s["interests"]]


CASES: list[tuple[list[str], Callable[[Any], list[str]]]] = [
    (["cascade", "threat:power-outage", "--hours", "200"], ids_of("affected")),
    (["cascade", "vp:drinking-water"], ids_of("affected")),
    (["propagation", "threat:power-outage"], ids_of("entities")),
    (["inoperability", "vp:electricity-national=0.5"], ids_of("entities")),
    (["inoperability", "vp:electricity-national=0.5", "--mode", "dynamic"], ids_of("entities")),
    (["criticality", "--limit", "40"], ids_of("entities")),
    (["paths", "actor:china-state", "interest:economic-security", "-k", "5"], path_ids),
    (["show", "vp:identification-authentication"], lambda a: [a["name"]]),
    (["search", "--limit", "300"], ids_of("items")),
    (["neighbourhood", "vp:electricity-national"], ids_of("entities")),
    (["risk"], ids_of("threats")),
    (["dependencies"], short_ids("resources", "resource:")),
    (["embargo", "CN", "--hours", "2200"], embargo_ids),
    (["scenario", "--name", "a", "threat:power-outage", "--name", "b", "threat:severe-storm"],
     scenario_ids),
    (["audit", "--limit", "50"], lambda a: [i["entity"] for i in a["items"] if i["entity"]]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "ids"), CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_tables_fit_80_columns_with_every_id_whole(
    reference: Path, args: list[str], ids: Callable[[Any], list[str]]
) -> None:
    shown = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines and max(cell_len(line) for line in lines) <= 80
    answer = runner.invoke(app, [*args, "--json"])
    expected = ids(json.loads(answer.stdout))
    assert expected, "the case must show something"
    words = set(shown.stdout.replace(",", " ").split())
    assert [i for i in expected if i not in words and i not in shown.stdout] == []


def test_names_fill_the_room_the_ids_leave(reference: Path) -> None:
    wide = runner.invoke(app, ["cascade", "vp:drinking-water", "--hours", "0"])
    assert "Drinking-water supply" in wide.stdout
    narrow = runner.invoke(app, ["criticality", "--limit", "40"], env={"COLUMNS": "80"})
    assert "…" in narrow.stdout  # long names are shortened, not wrapped over lines
    assert len(narrow.stdout.splitlines()) == 40 + 5  # title, head, rule, rows, 2 caption lines


def test_an_empty_table_keeps_its_title_on_one_line(reference: Path) -> None:
    shown = runner.invoke(app, ["search", "zzzz-nothing-matches"], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[0] == "0 entities matching 'zzzz-nothing-matches'"


def test_cells_print_as_stored_not_as_markup(tmp_path: Path) -> None:
    """A name or relation key in brackets is data: rich would read it as a style and drop it."""
    env = {"KETEN_HOME": str(tmp_path / "home"), "KETEN_STORE": "sqlite", "COLUMNS": "120"}
    name = "Grid [north] and [bold]x[/bold]"
    bundle = tmp_path / "bracketed.json"
    bundle.write_text(
        json.dumps(
            {
                "entities": [
                    {"id": "res:grid-north", "kind": "Resource", "name": name},
                    {"id": "vp:trains", "kind": "VitalProcess", "name": "Trains"},
                ],
                "relations": [
                    {"source": "vp:trains", "type": "DEPENDS_ON", "target": "res:grid-north",
                     "key": "primary"},
                ],
            }
        )
    )  # fmt: skip
    assert runner.invoke(app, ["init", "--no-reference"], env=env).exit_code == 0
    assert runner.invoke(app, ["load", str(bundle)], env=env).exit_code == 0
    found = runner.invoke(app, ["search", "Grid"], env=env)
    assert name in found.stdout, found.output
    around = runner.invoke(app, ["neighbourhood", "vp:trains"], env=env)
    assert "res:grid-north [primary]" in around.stdout, around.output
    hit = runner.invoke(app, ["cascade", "res:grid-north"], env=env)
    assert name in hit.stdout, hit.output
