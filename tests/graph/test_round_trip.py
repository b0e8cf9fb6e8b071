"""Lossless round trips: an export restored into an empty store exports the same bytes.

On every store (the `store` fixture: SQLite, and Neo4j when NEO4J_URI is set), a graph made
the way a store is used: the reference knowledge base, records above green in their
namespaces, merges that set and remove fields, a replace, deletes, and values that are easy
to lose (non-ASCII text, 1 beside 1.0, the largest 64-bit integer, nested lists and maps).
Its JSON export (`write_json`), loaded with `WriteMode.RESTORE` into an empty store of the
same kind and exported again, gives the same bytes, times included. The export of each
clearance is a store of its own, and keten's STIX export restores to the same JSON export.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from keten.data import reference_bundle_path
from keten.graph.export import write_json
from keten.graph.sqlite import SqliteStore
from keten.graph.stix_export import write_stix
from keten.graph.store import WriteMode
from keten.ingest import load_bundle, load_paths
from keten.schema.markings import Tlp

MORE = {
    "entities": [
        {
            "id": "source:leak@red",
            "kind": "Source",
            "name": "Leaked memo",
            "marking": "red",
            "year": 2025,
        },
        {
            "id": "source:briefing",
            "kind": "Source",
            "name": "Briefing",
            "marking": "green",
            "publisher": "Ministerie van Justitie en Veiligheid",
        },
        {
            "id": "actor:cell@amber",
            "kind": "Actor",
            "name": "Cel \u201cNoordzee\u201d \u00e9\u00e8 \U0001f30a",
            "marking": "amber",
            "actor_type": "criminal",
            "aliases": ["Noordzeecel", "\u5317\u6d77"],
            "source_ids": ["source:briefing", "source:not-in-store"],
        },
        {
            "id": "vp:port-logistics",
            "kind": "VitalProcess",
            "name": "Port logistics",
            "category": "B",
            "x_weights": [1, 1.0, 2.5, -0.0],
            "x_limits": {"max": 9223372036854775807, "min": -9223372036854775808},
            "x_nested": {"levels": [[1, "a"], {"b": None, "c": True}]},
            "note": "line one\nline two\ttabbed",
            "source_ids": ["source:briefing"],
        },
        {
            "id": "threat:port-sabotage@amber+strict",
            "kind": "Threat",
            "name": "Port sabotage",
            "malicious": True,
            "likelihood": "C",
            "impact": {"interest:economic-security": "D", "interest:ghost@amber": "E"},
        },
    ],
    "relations": [
        {
            "source": "actor:cell@amber",
            "target": "threat:port-sabotage@amber+strict",
            "type": "POSES",
            "key": "@amber+strict",
        },
        {
            "source": "threat:port-sabotage@amber+strict",
            "target": "vp:port-logistics",
            "type": "DISRUPTS",
            "key": "@amber+strict",
            "strength": 0.75,
        },
        {
            "source": "vp:port-logistics",
            "target": "vp:electricity-national",
            "type": "DEPENDS_ON",
            "buffer_hours": 12,
            "institute": "institute:tno",
            "key": "institute:tno",
            "reliability": "B",
            "credibility": 3,
        },
        {
            "source": "vp:port-logistics",
            "target": "vp:electricity-national",
            "type": "DEPENDS_ON",
            "key": "@red",
            "buffer_hours": 2,
            "source_ids": ["source:leak@red"],
        },
    ],
}
"""Records the reference knowledge base lacks: every marking, awkward values, two
assessments of one dependency (keyed), citations of green, red and unknown sources."""

CHANGES = {
    "entities": [
        {"id": "vp:port-logistics", "kind": "VitalProcess", "name": "Port logistics", "note": None},
        {
            "id": "vp:drinking-water",
            "kind": "VitalProcess",
            "name": "Drinking water supply",
            "aliases": [],
            "marking": "green",
        },
    ],
    "relations": [
        {
            "source": "vp:port-logistics",
            "target": "vp:electricity-national",
            "type": "DEPENDS_ON",
            "key": "institute:tno",
            "strength": 0.5,
        }
    ],
}
"""A merge: a note removed by null, aliases by an empty list, a record made green, a field
added to a relation."""


def build(store: Any) -> None:
    """The graph of the module doc, in five writes whose times differ."""
    load_paths(store, [reference_bundle_path()])
    load_bundle(store, MORE)
    load_bundle(store, CHANGES)
    replaced = {"id": "country:NO", "kind": "Country", "name": "Norway", "iso2": "NO"}
    load_bundle(store, {"entities": [replaced]}, mode=WriteMode.REPLACE)
    store.delete_entity("vp:nuclear", cascade=True)


def export(store: Any, clearance: Tlp = Tlp.RED) -> bytes:
    out = io.BytesIO()
    write_json(store, out, clearance)
    return out.getvalue()


def emptied(store: Any, tmp_path: Path) -> Any:
    """An empty store of the same kind: a new SQLite file, or the Neo4j database wiped."""
    if store.name == "sqlite":
        return SqliteStore(tmp_path / "restored.sqlite")
    store.wipe()
    return store


def restore(store: Any, tmp_path: Path, data: bytes, name: str = "export.json") -> Any:
    """`data` written to a file and loaded as a user restores one: an empty store, RESTORE."""
    path = tmp_path / name
    path.write_bytes(data)
    copy = emptied(store, tmp_path)
    load_paths(copy, [path], mode=WriteMode.RESTORE)
    return copy


def closing(store: Any, copy: Any) -> Callable[[], None]:
    return copy.close if copy is not store else lambda: None


def test_a_restored_export_exports_the_same_bytes(store: Any, tmp_path: Path) -> None:
    build(store)
    first = export(store)
    assert b"vp:nuclear" not in first and b'"marking":"amber+strict"' in first
    copy = restore(store, tmp_path, first)
    try:
        assert export(copy) == first
        assert copy.revision(Tlp.RED) == 1
    finally:
        closing(store, copy)()


@pytest.mark.parametrize("clearance", [Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER])
def test_the_export_of_a_clearance_is_a_store_of_its_own(
    store: Any, tmp_path: Path, clearance: Tlp
) -> None:
    """What a clearance exports, restored, is whole: exported in full it is the same."""
    build(store)
    first = export(store, clearance)
    assert b"@red" not in first
    copy = restore(store, tmp_path, first)
    try:
        assert export(copy) == first
    finally:
        closing(store, copy)()


def test_keten_s_stix_export_restores_to_the_same_json_export(store: Any, tmp_path: Path) -> None:
    build(store)
    json_export = export(store)
    stix = io.BytesIO()
    write_stix(store, stix)
    copy = restore(store, tmp_path, stix.getvalue(), "export.stix.json")
    try:
        assert export(copy) == json_export
    finally:
        closing(store, copy)()


class ReadersSeeMore(AssertionError):
    """A reader of the restored store sees what the same reader of the original did not."""


def test_a_restore_shows_each_clearance_what_the_original_did(store: Any, tmp_path: Path) -> None:
    cites = {"id": "vp:a", "kind": "VitalProcess", "name": "A", "source_ids": ["src:g"]}
    green = {"id": "src:g", "kind": "Source", "name": "G", "marking": "green"}
    load_bundle(store, {"entities": [cites, green]})
    store.delete_entity("src:g")
    before = export(store, Tlp.CLEAR)
    assert b"src:g" not in before, "a deleted green source stays unnamed below green"
    copy = restore(store, tmp_path, export(store))
    try:
        if export(copy, Tlp.CLEAR) != before:
            raise ReadersSeeMore(export(copy, Tlp.CLEAR).decode())
    finally:
        closing(store, copy)()
