"""Reading GraphML for `keten load`: records from keten's files and other tools', and every
kind of bad input refused with the line and the element, nothing written."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from keten.graph.sqlite import SqliteStore
from keten.ingest import BundleRejected, load_paths
from keten.ingest.graphml import read_graphml
from keten.ingest.problems import Problem
from keten.ingest.readers import RawRecord

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key id="k" for="node" attr.name="kind" attr.type="string"/>
  <key id="n" for="node" attr.name="name" attr.type="string"/>
  <key id="t" for="edge" attr.name="type" attr.type="string"/>
  <key id="b" for="edge" attr.name="buffer_hours" attr.type="double"/>
  <key id="s" for="all" attr.name="source_ids" attr.type="string"><desc>keten:json</desc></key>
  <graph edgedefault="directed">
"""
NODES = """    <node id="vp:a"><data key="k">VitalProcess</data><data key="n">A</data></node>
    <node id="vp:b"><data key="k">VitalProcess</data><data key="n">B</data></node>
"""
TAIL = "  </graph>\n</graphml>\n"


def graphml_file(tmp_path: Path, body: str, head: str = HEAD, name: str = "g.graphml") -> Path:
    path = tmp_path / name
    path.write_text(head + body + TAIL, encoding="utf-8")
    return path


def problems(path: Path) -> list[Problem]:
    return [item for item in read_graphml(path) if isinstance(item, Problem)]


def test_records_keep_their_types_and_lines(tmp_path: Path) -> None:
    edge = """    <edge source="vp:a" target="vp:b"><data key="t">DEPENDS_ON</data>
      <data key="b">12</data><data key="s">["source:x"]</data></edge>
"""
    items = list(read_graphml(graphml_file(tmp_path, NODES + edge)))
    assert all(isinstance(item, RawRecord) for item in items)
    relation = items[-1]
    assert isinstance(relation, RawRecord) and relation.where == "line 11"
    assert relation.data == {
        "source": "vp:a",
        "target": "vp:b",
        "type": "DEPENDS_ON",
        "buffer_hours": 12.0,
        "source_ids": ["source:x"],
    }


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ('    <node id="vp:c"><data key="zz">x</data></node>\n', 9, "no such <key>"),
        ('    <edge source="vp:a" target="vp:b"><data key="b">soon</data></edge>\n', 9,
         "is not a double"),
        ('    <edge source="vp:a" target="vp:b"><data key="s">[1,</data></edge>\n', 9,
         "is not JSON"),
        ('    <node id="vp:c"><data key="t">DEPENDS_ON</data></node>\n', 9,
         "declared for edges, not <node>s"),
        ('    <edge source="vp:a" target="vp:b" directed="false"/>\n', 9, "undirected"),
        ('    <edge source="vp:a"/>\n', 9, "needs a target"),
        ("    <node/>\n", 9, "needs an id"),
        ('    <node id="vp:c"><graph/></node>\n', 9, "<graph> inside <node>"),
        ('    <hyperedge><endpoint node="vp:a"/></hyperedge>\n', 9, "<hyperedge> inside <graph>"),
        ('    <data key="s">["x"]</data>\n', 9, "on the graph"),
        ('    <node id="vp:c"><data key="n">C</data><data key="n">D</data></node>\n', 9,
         "gives name twice"),
    ],
)  # fmt: skip
def test_what_keten_cannot_hold_is_named_with_line_and_element(
    tmp_path: Path, body: str, line: int, words: str
) -> None:
    found = problems(graphml_file(tmp_path, body))
    assert found, "no problem reported"
    assert found[0].where == f"line {line}" and words in found[0].why, found


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("", "line 1", "invalid XML: no element found"),
        ("<graphml><graph>\n<node id='a'>\n</graph></graphml>", "line 3", "mismatched tag"),
        ('<?xml version="1.0"?>\n<nodes/>', "line 2", "not GraphML: the root element is <nodes>"),
        (
            '<?xml version="1.0"?>\n<!DOCTYPE graphml [<!ENTITY a "aaaa">'
            '<!ENTITY b "&a;&a;&a;&a;">]>\n<graphml>&b;</graphml>',
            "line 2",
            "DOCTYPE",
        ),
    ],
)
def test_broken_or_dangerous_xml_is_refused_with_its_line(
    tmp_path: Path, text: str, where: str, words: str
) -> None:
    path = tmp_path / "bad.graphml"
    path.write_text(text, encoding="utf-8")
    (problem,) = list(read_graphml(path))
    assert isinstance(problem, Problem)
    assert problem.where == where and words in problem.why, problem


def test_a_refused_file_writes_nothing(sqlite_store: SqliteStore, tmp_path: Path) -> None:
    bad = NODES + '    <edge source="vp:a" target="vp:b"><data key="b">x</data></edge>\n'
    with pytest.raises(BundleRejected) as refused:
        load_paths(sqlite_store, [graphml_file(tmp_path, bad)])
    assert [p.where for p in refused.value.problems] == ["line 11"]
    assert sqlite_store.revision() == 0 and sqlite_store.is_empty()


def test_yed_drawing_data_and_descriptions_are_left_out(tmp_path: Path) -> None:
    head = HEAD.replace(
        "  <graph",
        '  <key id="g" for="node" yfiles.type="nodegraphics"/>\n  <desc>made in yEd</desc>\n'
        "  <graph",
    ).replace("<graphml ", '<graphml xmlns:y="http://www.yworks.com/xml/graphml" ')
    node = (
        '    <node id="vp:c"><desc>note</desc><data key="g"><y:ShapeNode><y:Fill color="#FF0"/>'
        '</y:ShapeNode></data><data key="k">VitalProcess</data><data key="n">C</data></node>\n'
    )
    (item,) = list(read_graphml(graphml_file(tmp_path, node, head)))
    assert isinstance(item, RawRecord)
    assert item.data == {"id": "vp:c", "kind": "VitalProcess", "name": "C"}


def test_key_defaults_fill_what_a_node_leaves_out(tmp_path: Path) -> None:
    head = HEAD.replace(
        '<key id="k" for="node" attr.name="kind" attr.type="string"/>',
        '<key id="k" for="node" attr.name="kind" attr.type="string">'
        "<default>Organisation</default></key>",
    )
    body = '    <node id="org:a"><data key="n">A</data></node>\n'
    (item,) = list(read_graphml(graphml_file(tmp_path, body, head)))
    assert isinstance(item, RawRecord) and item.data["kind"] == "Organisation"


def test_a_graph_networkx_wrote_loads(sqlite_store: SqliteStore, tmp_path: Path) -> None:
    graph = nx.DiGraph()
    graph.add_node("vp:a", kind="VitalProcess", name="A", reliability="B", credibility=2)
    graph.add_node("vp:b", kind="VitalProcess", name="B")
    graph.add_edge("vp:a", "vp:b", type="DEPENDS_ON", buffer_hours=6.0, strength=0.5)
    path = tmp_path / "nx.graphml"
    nx.write_graphml(graph, path)
    report = load_paths(sqlite_store, [path])
    assert report.counts.entities_created == 2 and report.counts.relations_created == 1
    (relation,) = sqlite_store.iter_relations()
    assert relation.props == {"buffer_hours": 6.0, "strength": 0.5}
    stored = sqlite_store.get_entity("vp:a")
    assert stored is not None and stored.props == {"reliability": "B", "credibility": 2}
