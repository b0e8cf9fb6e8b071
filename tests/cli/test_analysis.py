"""`keten generate` then `keten load` then `keten cascade`, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import keten.cli.analysis  # noqa: F401  (registers cascade and generate)
from keten.cli import app
from keten.config import Settings
from keten.graph import open_store
from keten.graph.projection import build_projection
from keten.queries.cascade import cascade
from keten.schema.markings import Tlp

runner = CliRunner()


def test_generate_load_and_cascade(keten_home: Path, tmp_path: Path) -> None:
    made = runner.invoke(
        app, ["generate", "--entities", "400", "--relations", "3000", "--out", str(tmp_path)]
    )
    assert made.exit_code == 0, made.output
    bundle = tmp_path / "synthetic.jsonl"
    assert sum(1 for _ in bundle.open()) == 3400
    loaded = runner.invoke(app, ["load", str(bundle)])
    assert loaded.exit_code == 0, loaded.output

    answer = runner.invoke(app, ["cascade", "res:power", "--hours", "24", "--limit", "5", "--json"])
    assert answer.exit_code == 0, answer.output
    result = json.loads(answer.stdout)
    store = open_store(Settings.from_env())
    expected = cascade(build_projection(store, Tlp.RED), ["res:power"], 24, 0, 5)
    store.close()
    assert result == expected.model_dump(mode="json")
    assert result["affected"][0]["id"] == "res:power" and len(result["affected"]) == 5

    table = runner.invoke(app, ["cascade", "res:power", "--hours", "24", "--limit", "3"])
    assert table.exit_code == 0 and f"{result['total']:,} entities affected" in table.stdout


def test_unknown_ids_and_bad_sizes(keten_home: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", "--no-reference"]).exit_code == 0
    missing = runner.invoke(app, ["cascade", "vp:nothing-here"])
    assert missing.exit_code == 3 and "vp:nothing-here" in missing.stderr
    tiny = runner.invoke(app, ["generate", "-n", "100", "-m", "5", "--out", str(tmp_path)])
    assert tiny.exit_code == 2 and "too few" in tiny.output


def test_propagation_shows_its_runs_progressing_on_a_terminal(reference_home: Path) -> None:
    """10,000 runs in a fresh process whose stderr is a terminal: a progress bar counts the
    runs; the answer on stdout is the same as without a terminal."""
    import os
    import pty
    import subprocess
    import sys

    keten = Path(sys.executable).with_name("keten")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KETEN_", "NEO4J_"))}
    env.update(KETEN_HOME=str(reference_home), COLUMNS="120")
    args = [str(keten), "propagation", "threat:power-outage", "--runs", "10000", "--json"]
    leader, follower = pty.openpty()
    with subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=follower) as shown:
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            seen += chunk
        answer = shown.stdout.read() if shown.stdout else b""
    os.close(leader)
    assert shown.returncode == 0, seen.decode(errors="replace")
    assert b"runs" in seen and b"10000/10000" in seen, seen
    plain = subprocess.run(args, env=env, capture_output=True, timeout=300, check=True)
    assert plain.stderr == b"" and json.loads(plain.stdout) == json.loads(answer)
    assert json.loads(answer)["runs"] == 10_000
