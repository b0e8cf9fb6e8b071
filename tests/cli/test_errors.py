"""Errors a newcomer meets: one line on stderr, the exit codes of DESIGN.md, no traceback.

0 ok, 1 refused input, 2 usage, 3 not found or no store. These run the real console entry
point in subprocesses where the process boundary matters (environment, tracebacks).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keten.cli import app
from keten.cli.analysis import MAX_ENTITIES, MAX_RELATIONS

runner = CliRunner()
KETEN = Path(sys.executable).with_name("keten")
"""The console script `pip install` made, beside the interpreter running the tests."""


def keten(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`keten ARGS` as a user runs it: the console script in a fresh process."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KETEN_", "NEO4J_"))}
    environment.update(env)
    return subprocess.run(
        [str(KETEN), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


READERS = [
    ["cascade", "vp:drinking-water"],
    ["propagation", "vp:drinking-water"],
    ["inoperability", "vp:drinking-water=0.5"],
    ["criticality"],
    ["paths", "actor:china-state", "interest:economic-security"],
    ["show", "vp:drinking-water"],
    ["search", "water"],
    ["neighbourhood", "vp:drinking-water"],
    ["risk"],
    ["report"],
    ["scenario", "--name", "a", "threat:power-outage"],
    ["dependencies"],
    ["embargo", "CN"],
    ["export"],
    ["submissions", "list"],
    ["submissions", "reject", "sub-1", "--reason", "no"],
    ["audit"],
    ["serve"],
]


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a[:2]))
def test_a_command_without_a_store_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KETEN_HOME", raising=False)
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.output
    assert result.stderr == (
        f"error: no keten store in .keten (in {tmp_path}): run `keten init` to create one, or "
        "set KETEN_HOME to the folder that holds your store\n"
    )
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_init_creates_the_store_that_the_others_then_use(tmp_path: Path) -> None:
    missing = keten("risk", cwd=tmp_path)
    assert missing.returncode == 3 and "keten init" in missing.stderr
    made = keten("init", "--no-reference", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / ".keten" / "keten.sqlite").is_file()
    assert made.stderr == "store ready: sqlite, revision 0\n"
    empty = keten("search", "--json", cwd=tmp_path)
    assert empty.returncode == 0 and json.loads(empty.stdout) == {"items": [], "next_cursor": None}


def test_load_creates_a_store_and_says_where(tmp_path: Path) -> None:
    bundle = tmp_path / "one.json"
    bundle.write_text(
        json.dumps({"entities": [{"id": "vp:x", "kind": "VitalProcess", "name": "X"}]})
    )
    home = tmp_path / "home"
    done = keten("load", str(bundle), cwd=tmp_path, KETEN_HOME=str(home))
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"new store in {home} (KETEN_HOME)\n"
    assert done.stdout.startswith("1 record: wrote 1 new")


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_neo4j_is_one_line_naming_the_uri(tmp_path: Path) -> None:
    uri = f"bolt://127.0.0.1:{closed_port()}"
    result = keten("cascade", "x", cwd=tmp_path, KETEN_STORE=uri)
    assert result.returncode == 3
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert uri in lines[0] and "KETEN_STORE" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_store_setting_that_names_no_store_is_exit_3(tmp_path: Path) -> None:
    result = keten("risk", cwd=tmp_path, KETEN_STORE="http://localhost:7474")
    assert result.returncode == 3
    assert result.stderr == (
        "error: KETEN_STORE='http://localhost:7474' is not a bolt:// or neo4j:// URI; unset it "
        "to use the embedded SQLite store\n"
    )


@pytest.mark.parametrize("command", [["search", "x"], ["serve", "--port", "1"]])
def test_a_setting_keten_cannot_use_is_one_line_with_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    result = keten(*command, cwd=tmp_path, KETEN_ANALYSIS_SLOTS="0")
    assert result.returncode == 2
    assert result.stderr == "error: KETEN_ANALYSIS_SLOTS must be a positive number, got '0'\n"


def test_a_file_that_is_not_a_store_is_exit_3(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "keten.sqlite").write_text("not a database, just text " * 100)
    result = keten("search", "water", cwd=tmp_path, KETEN_HOME=str(home))
    assert result.returncode == 3
    assert result.stderr.startswith("error: cannot read the store (")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "1e11"], f"--relations must be between 1 and {MAX_RELATIONS:,}"),
        (["-m", "100000000000"], "not 100,000,000,000"),
        (["-n", "1e9"], f"--entities must be between 40 and {MAX_ENTITIES:,}"),
        (["-n", "10"], "--entities must be between 40"),
        (["-n", "40", "-m", "1000"], "--relations 1,000 is too many for 40 entities: at most"),
        (["-m", "1.5"], "'1.5' is not a whole number"),
        (["-m", "lots"], "'lots' is not a whole number"),
    ],
)
def test_generate_refuses_sizes_up_front(tmp_path: Path, args: list[str], message: str) -> None:
    defaults = {"-n": "400", "-m": "3000"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    argv = ["generate", *(x for k, v in {**defaults, **given}.items() for x in (k, v))]
    result = runner.invoke(app, [*argv, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_generate_takes_sizes_as_people_write_them(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "-n", "4e2", "-m", "3_000", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sum(1 for _ in (tmp_path / "synthetic.jsonl").open()) == 3400


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cascade"], "Missing argument 'ID...'"),
        (["cascade", "x", "--hours", "-1"], "--hours"),
        (["risk", "--clearance", "purple"], "--clearance"),
        (["nope"], "No such command 'nope'"),
        (["load", "a.json", "--replace", "--restore"], "--replace and --restore exclude"),
        (["submissions", "reject", "sub-1"], "--reason"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = keten(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_load_json_reports_a_refused_bundle_on_stdout(keten_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("entities:\n  - {id: vp:x, kind: VitalProcess, name: X, category: Q}\n")
    result = runner.invoke(app, ["load", str(bad), "--json"])
    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert answer["refused"] is True and answer["total"] == 1
    assert answer["problems"][0]["field"] == "category"
    assert answer["problems"][0]["where"] == "entities[0]"
    missing = runner.invoke(app, ["load", str(tmp_path / "gone.json")])
    assert missing.exit_code == 1
    assert missing.stderr == f"error: no such file or folder: {tmp_path / 'gone.json'}\n"


def test_version_and_completion(tmp_path: Path) -> None:
    from importlib.metadata import version

    shown = keten("--version", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout == f"keten {version('keten')}\n"
    script = keten("--show-completion", "bash", cwd=tmp_path)
    assert script.returncode == 0 and "_KETEN_COMPLETE=complete_bash" in script.stdout
    words = keten(
        cwd=tmp_path,
        _KETEN_COMPLETE="complete_bash",
        COMP_WORDS="keten casc",
        COMP_CWORD="1",
    )
    assert words.returncode == 0 and "cascade" in words.stdout


def test_every_command_that_answers_has_json() -> None:
    import typer.main

    group = typer.main.get_command(app)
    silent = {"generate", "report", "export", "schema", "serve", "keys create", "keys revoke"}
    """Commands that write a file or a stream of their own, or serve, or print a secret."""
    missing = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None) or {None: command}
        for sub, leaf in subs.items():
            full = f"{name} {sub}" if sub else name
            if full not in silent and "--json" not in {o for p in leaf.params for o in p.opts}:
                missing.append(full)
    assert missing == []
