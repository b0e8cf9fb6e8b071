"""GraphML export on every store: keyed relations, unique edge ids, typed values, clearance,
and a file that `keten load` reads back to the same records.

The graph is the one of tests/graph/test_round_trip.py (the reference knowledge base, every
marking, two assessments of one dependency under keys, merges, a replace, a delete, values
that are easy to lose), plus values GraphML in particular could change: carriage returns,
characters XML 1.0 cannot hold (U+FFFE), markup, blanks, one property with two types.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from keten.graph.export import write_json
from keten.graph.graphml import NAMESPACE, GraphmlExportError, write_graphml
from keten.graph.store import WriteMode
from keten.ingest import load_bundle, load_paths
from keten.schema.markings import Tlp
from tests.graph.test_round_trip import build, closing, emptied

AWKWARD = {
    "entities": [
        {
            "id": "org:awkward",
            "kind": "Organisation",
            "name": "  Blanks kept  ",
            "x_text": "a\r\nb <&> ]]> \"quoted\" 'single' \ufffe end",
            "x_empty": "",
            "x_json_like": '["not", "a", "list"]',
            "x_two_types": 7,
            "x_tab": "\tindented\n",
        },
        {"id": "org:other", "kind": "Organisation", "name": "Other", "x_two_types": "seven"},
        {
            "id": "org:hidden@amber",
            "kind": "Organisation",
            "name": "Hidden",
            "marking": "amber",
            "x_only_amber_has_this": True,
        },
    ],
    "relations": [
        {"source": "org:awkward", "target": "org:other", "type": "DEPENDS_ON", "key": "a b  c"},
        {"source": "org:awkward", "target": "org:other", "type": "DEPENDS_ON"},
    ],
}


def graphml(store: Any, clearance: Tlp = Tlp.RED) -> bytes:
    out = io.BytesIO()
    write_graphml(store, out, clearance)
    return out.getvalue()


def json_export(store: Any, clearance: Tlp = Tlp.RED) -> bytes:
    out = io.BytesIO()
    write_json(store, out, clearance)
    return out.getvalue()


def restored(store: Any, tmp_path: Path, data: bytes, name: str) -> Any:
    """`data` loaded as a user restores a file: into an empty store, WriteMode.RESTORE."""
    path = tmp_path / name
    path.write_bytes(data)
    copy = emptied(store, tmp_path)
    load_paths(copy, [path], mode=WriteMode.RESTORE)
    return copy


@pytest.fixture
def built(store: Any) -> Any:
    build(store)
    load_bundle(store, AWKWARD)
    return store


def test_graphml_restores_to_the_same_records_and_bytes(built: Any, tmp_path: Path) -> None:
    first, records = graphml(built), json_export(built)
    copy = restored(built, tmp_path, first, "export.graphml")
    try:
        assert json_export(copy) == records
        assert graphml(copy) == first
    finally:
        closing(built, copy)()


def test_keyed_relations_export_with_unique_edge_ids(built: Any) -> None:
    root = ET.fromstring(graphml(built))
    edges = root.findall(f".//{{{NAMESPACE}}}edge")
    ids = [edge.get("id") for edge in edges]
    assert len(ids) == sum(1 for _ in built.iter_relations()) and len(set(ids)) == len(ids)
    assert "vp:port-logistics DEPENDS_ON vp:electricity-national institute:tno" in ids
    assert (
        "org:awkward DEPENDS_ON org:other a b  c" in ids
        and "org:awkward DEPENDS_ON org:other" in ids
    )


def test_networkx_reads_the_values_with_their_types(built: Any, tmp_path: Path) -> None:
    path = tmp_path / "g.graphml"
    path.write_bytes(graphml(built))
    graph = nx.read_graphml(path, force_multigraph=True)
    port = graph.nodes["vp:port-logistics"]
    assert port["kind"] == "VitalProcess" and port["x_weights"] == "[1,1.0,2.5,-0.0]"
    assert graph.nodes["org:awkward"]["x_two_types"] == 7
    assert graph.nodes["org:other"]["x_two_types"] == "seven"
    edge = graph.edges["vp:port-logistics", "vp:electricity-national", (
        "vp:port-logistics DEPENDS_ON vp:electricity-national institute:tno"
    )]  # fmt: skip
    assert edge["buffer_hours"] == 12 and edge["strength"] == 0.5 and edge["credibility"] == 3


@pytest.mark.parametrize("clearance", [Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER])
def test_a_clearance_exports_what_a_store_of_only_its_records_exports(
    built: Any, tmp_path: Path, clearance: Tlp
) -> None:
    """The export at C of the mixed store is the full export of a store holding only what
    C may see (made by restoring the JSON export at C), byte for byte: no hidden record, no
    name of a property only hidden records have."""
    seen = graphml(built, clearance)
    assert b"@red" not in seen
    if clearance < Tlp.AMBER:
        assert b"x_only_amber_has_this" not in seen and b"amber" not in seen
    only = restored(built, tmp_path, json_export(built, clearance), "only.json")
    try:
        assert graphml(only) == seen
    finally:
        closing(built, only)()


def test_an_id_xml_cannot_carry_is_refused_before_anything_is_written(store: Any) -> None:
    load_bundle(store, {"entities": [{"id": "org:\uffff", "kind": "Organisation", "name": "B"}]})
    out = io.BytesIO()
    with pytest.raises(GraphmlExportError, match=r"XML 1\.0 cannot carry"):
        write_graphml(store, out)
    assert out.getvalue() == b""
