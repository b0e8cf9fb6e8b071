"""A plain `keten cascade` skips typer's parsing (keten.cli.quick) and must answer exactly
what the same arguments answer through typer: stdout, stderr and exit code, byte for byte,
run as a user runs them (the console script in a fresh process), on SQLite and on Neo4j.

Each store holds the reference knowledge base and conftest's two amber records; a green
reader's cascade must equal the cascade of a store that holds only what green may see.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main

from keten.cli import app
from keten.cli.cascade_answer import run_cascade
from keten.cli.quick import OPTIONS, plain_cascade
from tests.cli.conftest import AMBER

KETEN = Path(sys.executable).with_name("keten")
"""The console script `pip install` made, beside the interpreter running the tests."""
THROUGH_TYPER = [sys.executable, "-c", "from keten.cli import app; app(prog_name='keten')"]
"""The same command line parsed by typer, as before keten.cli.quick."""


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A fresh process's output and exit code."""
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def environment(home: Path, store: str) -> dict[str, str]:
    """KETEN_HOME `home` over SQLite, or over the Neo4j test server (`store` "neo4j")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KETEN_")}
    env.update(KETEN_HOME=str(home), COLUMNS="100")
    env["KETEN_STORE"] = os.environ["NEO4J_URI"] if store == "neo4j" else "sqlite"
    return env


def initialise(home: Path, store: str, amber: bool) -> dict[str, str]:
    """`keten init` (the reference knowledge base), and the AMBER records if `amber`."""
    env = environment(home, store)
    if store == "neo4j":
        from keten.graph.neo4j import open_test_store

        open_test_store().close()  # wiped: `keten init` fills an empty store only
    done = run([str(KETEN), "init"], env)
    assert done.returncode == 0, done.stderr
    if amber:
        bundle = home.parent / "amber.json"
        bundle.write_text(json.dumps(AMBER))
        done = run([str(KETEN), "load", str(bundle)], env)
        assert done.returncode == 0, done.stderr
    return env


@pytest.fixture(scope="module", params=["sqlite", "neo4j"])
def store(request: pytest.FixtureRequest) -> str:
    if request.param == "neo4j" and not os.environ.get("NEO4J_URI"):
        pytest.skip("the Neo4j run of the quick cascade needs NEO4J_URI (a throwaway server)")
    return str(request.param)


@pytest.fixture(scope="module")
def with_amber(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of a store holding the reference data and the amber records."""
    yield initialise(tmp_path_factory.mktemp("amber") / "home", store, amber=True)


PLAIN = [
    ["cascade", "vp:electricity-national"],
    ["cascade", "vp:electricity-national", "--clearance", "green"],
    ["cascade", "vp:drinking-water", "vp:electricity-national", "--limit", "3", "-H", "12.5"],
    ["cascade", "--hours=24", "vp:drinking-water", "--min-strength=0.5", "--limit", "7"],
    ["cascade", "vp:drinking-water", "--assessments", "most_reliable", "--horizon-hours", "0"],
    ["cascade", "vp:shadow-grid@amber", "--clearance", "green"],  # hidden from green: exit 3
    ["cascade", "vp:nowhere", "vp:drinking-water"],  # unknown: exit 3
    ["cascade", "vp:drinking-water", "--limit", "20000"],  # over the API's limit: exit 2
]
"""Command lines keten.cli.quick runs itself."""
LEFT_TO_TYPER = [
    ["cascade", "vp:drinking-water", "--json"],
    ["cascade", "vp:drinking-water", "--limit", "0"],
    ["cascade", "vp:drinking-water", "--hours", "2e6"],
    ["cascade", "vp:drinking-water", "--clearance", "GREEN"],
    ["cascade", "vp:drinking-water", "--limit", "3", "--limit", "4"],
    ["cascade", "vp:drinking-water", "--hours="],
    ["cascade", "vp:drinking-water", "--limit"],
    ["cascade", "--", "vp:drinking-water"],
    ["cascade", "--help"],
    ["cascade"],
]
"""Command lines it leaves to typer (which answers or refuses them)."""


def test_which_command_lines_are_plain() -> None:
    assert all(plain_cascade(args) is not None for args in PLAIN)
    assert all(plain_cascade(args) is None for args in LEFT_TO_TYPER)
    assert plain_cascade(["propagation", "vp:drinking-water"]) is None


def test_every_option_read_is_the_cascade_command_s_own() -> None:
    command = typer.main.get_command(app).commands["cascade"]  # type: ignore[attr-defined]
    parameters = {option: p.name for p in command.params for option in p.opts}
    assert {name: field for name, (field, _) in OPTIONS.items()} == {
        name: parameters[name] for name in OPTIONS
    }
    assert parameters["--json"] == "as_json" and "ids" in {p.name for p in command.params}
    # the quick path calls run_cascade: it takes every option the command has, by name
    assert {p.name for p in command.params} == set(inspect.signature(run_cascade).parameters)


@pytest.mark.parametrize("args", PLAIN + LEFT_TO_TYPER, ids=" ".join)
def test_the_answer_is_typer_s_answer(with_amber: dict[str, str], args: list[str]) -> None:
    quick = run([str(KETEN), *args], with_amber)
    typer_s = run([*THROUGH_TYPER, *args], with_amber)
    assert (quick.returncode, quick.stdout, quick.stderr) == (
        typer_s.returncode,
        typer_s.stdout,
        typer_s.stderr,
    )


def rows(output: str) -> list[str]:
    """A cascade table without its title line, which names the store's revision."""
    return output.splitlines()[1:]


def test_green_sees_what_a_store_of_green_records_holds(
    with_amber: dict[str, str], store: str, tmp_path: Path
) -> None:
    args = ["cascade", "vp:electricity-national", "--limit", "500"]
    red = run([str(KETEN), *args], with_amber)
    assert red.returncode == 0 and "vp:shadow-grid@amber" in red.stdout
    green = run([str(KETEN), *args, "--clearance", "green"], with_amber)
    assert green.returncode == 0 and "amber" not in green.stdout
    # on Neo4j the one test server now holds the green records only: this test runs last
    plain = run([str(KETEN), *args], initialise(tmp_path / "home", store, amber=False))
    assert plain.returncode == 0 and rows(green.stdout) == rows(plain.stdout)


def test_a_plain_cascade_loads_neither_typer_nor_pydantic_nor_numba(
    reference_home: Path, tmp_path: Path
) -> None:
    """What makes it quick: no typer, no request or answer models, kernels compiled ahead
    (keten.queries.ahead)."""
    from keten.queries.ahead import build

    build()  # what `make install` does
    probe = (
        "import atexit, sys\n"
        "sys.argv = ['keten', 'cascade', 'vp:electricity-national']\n"
        "atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pydantic', 'numba', 'fastapi', 'typer'}), file=sys.stderr))\n"
        "from keten.cli import main\n"
        "main()\n"
    )
    done = run([sys.executable, "-c", probe], environment(reference_home, "sqlite"))
    assert done.returncode == 0, done.stderr
    assert "vp:electricity-national" in done.stdout
    assert done.stderr.strip() == "[]"
