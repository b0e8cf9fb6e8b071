"""`keten --help`, completion and the start of `keten serve` load no heavy library.

numpy, numba, scipy, networkx, matplotlib and pyvis take seconds to import on a busy
machine; the commands that need them import them when they run. Each check runs in a fresh
interpreter, so that what this test process has imported does not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = [
    "numpy",
    "numba",
    "scipy",
    "networkx",
    "matplotlib",
    "pyvis",
    "fastapi",
    "uvicorn",
    "neo4j",
    "keten.ingest",
    "keten.graph.projection",
    "keten.queries.cascade",
]


def imported_after(code: str, cwd: Path) -> list[str]:
    """The HEAVY modules a fresh interpreter holds after running `code`."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.splitlines()[-1])
    return found


RUN = """from typer.testing import CliRunner
import keten.cli
result = CliRunner().invoke(keten.cli.app, {args!r})
assert result.exit_code == {code}, result.output"""


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], 0),
        (["--help"], 0),
        (["cascade", "--help"], 0),
        (["--version"], 0),
        (["--show-completion", "bash"], 0),
        (["cascade", "x"], 3),  # no store here: refused before any analysis is imported
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_nothing_heavy_is_imported(tmp_path: Path, args: list[str], code: int) -> None:
    assert imported_after(RUN.format(args=args, code=code), tmp_path) == []


def test_importing_the_cli_is_light(tmp_path: Path) -> None:
    assert imported_after("import keten.cli", tmp_path) == []


def test_a_command_imports_what_it_needs_when_it_runs(tmp_path: Path) -> None:
    run = RUN.format(args=["generate", "-n", "40", "-m", "100", "-o", str(tmp_path)], code=0)
    assert imported_after(run, tmp_path) == ["numpy"]


def test_a_cascade_runs_without_numba(reference_home: Path, tmp_path: Path) -> None:
    """The search of a one-shot command runs compiled ahead (keten.queries.ahead): importing
    numba and setting up its compiler took longer than the whole answer."""
    from keten.queries.ahead import build

    build()  # what `make install` does
    run = (
        f"import os; os.environ.update(KETEN_HOME={str(reference_home)!r}, KETEN_STORE='sqlite')\n"
        + RUN.format(args=["cascade", "vp:electricity-national", "--json"], code=0)
        + "\nassert '\"total\"' in result.output, result.output"
    )
    needed = ["numpy", "keten.graph.projection", "keten.queries.cascade"]
    assert imported_after(run, tmp_path) == needed
