"""`keten export`, then `keten load --restore` into a fresh KETEN_HOME, then `keten export`:
the same bytes, as a user moving a store runs it (the console script, in fresh processes).

The store holds the reference knowledge base and then what later loads leave behind: amber
and red records in their namespaces, a merge that removes fields with null and an empty
list, a replaced record, so that records carry times of several writes. The JSON export
must come back byte for byte, times included, and keten's STIX and GraphML exports must
restore to a store whose JSON export is that same file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

KETEN = Path(sys.executable).with_name("keten")
"""The console script `pip install` made, beside the interpreter running the tests."""

LATER = {
    "entities": [
        {
            "id": "actor:harbour-crew@amber",
            "kind": "Actor",
            "name": "Harbour crew \u00e9\u00e8 \U0001f6a2",
            "marking": "amber",
            "actor_type": "criminal",
            "aliases": ["Havenploeg"],
            "x_assessed": {"by": ["institute:tno"], "score": 0.5, "raw": 7},
        },
        {"id": "source:tip@red", "kind": "Source", "name": "Tip", "marking": "red"},
    ],
    "relations": [
        {
            "source": "actor:harbour-crew@amber",
            "target": "threat:ransomware",
            "type": "POSES",
            "key": "@amber",
        },
        {
            "source": "vp:drinking-water",
            "target": "vp:electricity-national",
            "type": "DEPENDS_ON",
            "key": "@red",
            "buffer_hours": 1,
            "source_ids": ["source:tip@red"],
        },
    ],
}
MERGE = {
    "entities": [
        {
            "id": "vp:drinking-water",
            "kind": "VitalProcess",
            "name": "Drinking water",
            "aliases": [],
            "contributor": None,
        },
        {"id": "country:NL", "kind": "Country", "name": "Netherlands", "note": "merged"},
    ]
}
REPLACE = {"entities": [{"id": "country:BE", "kind": "Country", "name": "Belgium"}]}


def keten(home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`keten ARGS` in a fresh process on the SQLite store in `home`; fails on a non-zero exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KETEN_", "NEO4J_"))}
    env.update(KETEN_HOME=str(home))
    done = subprocess.run(
        [str(KETEN), *args], env=env, cwd=home.parent, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()
    return done


@pytest.fixture(scope="module")
def used(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A KETEN_HOME with the reference knowledge base and three later loads."""
    home = tmp_path_factory.mktemp("used") / "home"
    keten(home, "init")
    for name, bundle, flags in (
        ("later", LATER, []),
        ("merge", MERGE, []),
        ("replace", REPLACE, ["--replace"]),
    ):
        path = home.parent / f"{name}.json"
        path.write_text(json.dumps(bundle))
        keten(home, "load", str(path), *flags)
    return home


def test_export_restore_export_gives_the_same_bytes(used: Path, tmp_path: Path) -> None:
    exported = keten(used, "export").stdout
    entities = {e["id"]: e for e in json.loads(exported)["entities"]}
    water = entities["vp:drinking-water"]
    assert "aliases" not in water and "contributor" not in water and "sector" in water
    assert water["created_at"] < water["updated_at"]
    assert entities["source:tip@red"]["marking"] == "red"
    path = tmp_path / "all.json"
    path.write_bytes(exported)
    fresh = tmp_path / "fresh"
    keten(fresh, "load", "--restore", str(path))
    assert keten(fresh, "export").stdout == exported


def test_a_restore_refuses_a_store_that_holds_records(used: Path, tmp_path: Path) -> None:
    path = tmp_path / "all.json"
    path.write_bytes(keten(used, "export").stdout)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KETEN_", "NEO4J_"))}
    refused = subprocess.run(
        [str(KETEN), "load", "--restore", str(path)],
        env={**env, "KETEN_HOME": str(used)},
        capture_output=True,
        timeout=300,
    )
    assert refused.returncode == 1
    assert b"empty store" in refused.stderr and b"nothing was written" in refused.stderr


def test_keten_s_stix_export_restores_to_the_same_json_export(used: Path, tmp_path: Path) -> None:
    path = tmp_path / "all.stix.json"
    path.write_bytes(keten(used, "export", "--format", "stix").stdout)
    fresh = tmp_path / "fresh"
    keten(fresh, "load", "--restore", str(path))
    assert keten(fresh, "export").stdout == keten(used, "export").stdout


def test_a_graphml_export_restores_to_the_same_json_and_graphml(used: Path, tmp_path: Path) -> None:
    path = tmp_path / "all.graphml"
    keten(used, "export", "--format", "graphml", "--out", str(path))
    fresh = tmp_path / "fresh"
    keten(fresh, "load", "--restore", str(path))
    assert keten(fresh, "export").stdout == keten(used, "export").stdout
    assert keten(fresh, "export", "--format", "graphml").stdout == path.read_bytes()
