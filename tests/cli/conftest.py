"""A store with the reference knowledge base, made once with `keten init`, for tests that read.

`reference` points KETEN_HOME at it; tests that write make their own (`keten_home`). Besides
the reference data it holds two amber records, so that `--clearance` has something to hide:
the entity `vp:shadow-grid@amber` (needing national electricity) and an amber SAFEGUARDS
relation from national electricity to territorial security.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keten.cli import app

AMBER = {
    "entities": [
        {
            "id": "vp:shadow-grid@amber",
            "kind": "VitalProcess",
            "name": "Shadow grid",
            "marking": "amber",
        }
    ],
    "relations": [
        {
            "source": "vp:shadow-grid@amber",
            "target": "vp:electricity-national",
            "type": "DEPENDS_ON",
            "buffer_hours": 5,
        },
        {
            "source": "vp:electricity-national",
            "target": "interest:territorial-security",
            "type": "SAFEGUARDS",
            "key": "@amber",
            "marking": "amber",
        },
    ],
}


@pytest.fixture(scope="session")
def reference_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A KETEN_HOME made by `keten init`, plus the AMBER records (read-only for tests)."""
    home = tmp_path_factory.mktemp("reference") / "home"
    env = {"KETEN_HOME": str(home), "KETEN_STORE": "sqlite"}
    runner = CliRunner()
    made = runner.invoke(app, ["init"], env=env)
    assert made.exit_code == 0, made.output
    bundle = home.parent / "amber.json"
    bundle.write_text(json.dumps(AMBER))
    loaded = runner.invoke(app, ["load", str(bundle)], env=env)
    assert loaded.exit_code == 0, loaded.output
    return home


@pytest.fixture
def reference(reference_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KETEN_HOME set to the shared reference store."""
    monkeypatch.setenv("KETEN_HOME", str(reference_home))
    return reference_home
