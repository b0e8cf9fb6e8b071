"""`keten keys create`: one line on stdout, the key; a salted hash in $KETEN_HOME/keys.sqlite."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import keten.cli.keys  # noqa: F401  (registers `keys` on the app)
from keten.api.keys import KeyStore, Role
from keten.cli.app import app
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
