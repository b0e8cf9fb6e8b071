"""`keten keys create`: one line on stdout, the key; a salted hash in $KETEN_HOME/keys.sqlite."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from keten.api.keys import KeyStore, Role
from keten.cli import app
from keten.schema.markings import Tlp


def test_create_prints_only_a_working_key(keten_home: Path) -> None:
    result = CliRunner().invoke(
        app, ["keys", "create", "--role", "contributor", "--clearance", "amber"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    store = KeyStore(keten_home / "keys.sqlite")
    principal = store.verify(lines[0])
    assert principal is not None
    assert (principal.role, principal.clearance) == (Role.CONTRIBUTOR, Tlp.AMBER)
    raw = b"".join(p.read_bytes() for p in keten_home.glob("keys.sqlite*"))
    assert lines[0].encode() not in raw
    store.close()


def test_clearance_defaults_to_clear_and_bad_roles_are_refused(keten_home: Path) -> None:
    runner = CliRunner()
    key = runner.invoke(app, ["keys", "create", "--role", "reader"]).stdout.strip()
    store = KeyStore(keten_home / "keys.sqlite")
    assert store.verify(key).clearance == Tlp.CLEAR  # type: ignore[union-attr]
    store.close()
    refused = runner.invoke(app, ["keys", "create", "--role", "king"])
    assert refused.exit_code != 0
    assert refused.stdout == ""


def test_keys_that_write_need_green_or_higher_a_usage_error(keten_home: Path) -> None:
    runner = CliRunner()
    for args in (["--role", "contributor"], ["--role", "admin", "--clearance", "clear"]):
        refused = runner.invoke(app, ["keys", "create", *args])
        assert refused.exit_code == 2
        assert refused.stdout == ""
        said = " ".join(refused.stderr.replace("│", " ").split())  # unwrap rich's error box
        assert "needs clearance green or higher" in said
        assert "Usage:" in said or "--help" in said  # a usage error points to the usage
    made = runner.invoke(app, ["keys", "create", "--role", "reviewer", "--clearance", "green"])
    assert made.exit_code == 0, made.output
    store = KeyStore(keten_home / "keys.sqlite")
    assert [(k.role, k.clearance) for k in store.list()] == [(Role.REVIEWER, Tlp.GREEN)]
    store.close()


def test_list_shows_every_key_without_secrets_and_revoke_revokes(keten_home: Path) -> None:
    runner = CliRunner()
    secrets = [
        runner.invoke(
            app, ["keys", "create", "--role", role, "--clearance", tlp, "--label", role]
        ).stdout.strip()
        for role, tlp in (("reader", "clear"), ("admin", "red"))
    ]
    key_ids = [secret.split("_")[1] for secret in secrets]
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["key_id"], r["role"], r["clearance"], r["label"]) for r in rows] == [
        (key_ids[0], "reader", "clear", "reader"),
        (key_ids[1], "admin", "red", "admin"),
    ]
    assert all(r["revoked_at"] is None for r in rows)
    assert not any(secret.split("_", 2)[2] in listed.stdout for secret in secrets)
    table = runner.invoke(app, ["keys", "list"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and all(key_id in table.stdout for key_id in key_ids)

    revoked = runner.invoke(app, ["keys", "revoke", key_ids[1]])
    assert revoked.exit_code == 0, revoked.output
    store = KeyStore(keten_home / "keys.sqlite")
    assert store.verify(secrets[1]) is None and store.verify(secrets[0]) is not None
    store.close()
    rows = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)
    assert rows[1]["revoked_at"] is not None and rows[0]["revoked_at"] is None
    again = runner.invoke(app, ["keys", "revoke", key_ids[1]])
    assert again.exit_code == 3 and "no active key" in again.stderr
    assert runner.invoke(app, ["keys", "revoke", "000000000000"]).exit_code == 3
