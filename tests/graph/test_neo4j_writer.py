"""Bulk writes on Neo4j: bounded transactions that land whole or not at all, against the live
server in NEO4J_URI (wiped). The contract suite covers what every write means; these tests
cover how a write that spans transactions stays invisible until its last step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keten.graph.named_queries import run
from keten.graph.neo4j import Neo4jStore, open_test_store
from keten.graph.store import EntityFilter, EntityRow, RelationRow
from keten.schema.markings import Tlp

pytestmark = pytest.mark.skipif(
    not os.environ.get("NEO4J_URI"),
    reason="needs a throwaway Neo4j server: set NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD)",
)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store() -> Iterator[Neo4jStore]:
    """An empty store whose writes go on in a new transaction every 100 records."""
    neo4j = open_test_store(tx_rows=100)
    yield neo4j
    neo4j.close()


@pytest.fixture
def reader() -> Iterator[Neo4jStore]:
    """A second client of the same server, as another process would be."""
    neo4j = Neo4jStore(
        os.environ["NEO4J_URI"],
        os.environ.get("NEO4J_USER", "neo4j"),
        os.environ.get("NEO4J_PASSWORD", ""),
    )
    yield neo4j
    neo4j.close()


def base(store: Neo4jStore) -> None:
    """Two processes, one dependency."""
    with store.writer() as w:
        w.upsert_entities(
            [
                EntityRow("vp:power", "VitalProcess", "Electricity", props={"sector": "Energy"}),
                EntityRow("vp:water", "VitalProcess", "Water"),
            ]
        )
        w.upsert_relations([RelationRow("vp:water", "DEPENDS_ON", "vp:power")])


def resources(count: int) -> list[EntityRow]:
    return [EntityRow(f"r:{i:05}", "Resource", f"R{i}") for i in range(count)]


def leftovers(store: Neo4jStore) -> int:
    """Records and pending images of any load, hidden or not yet applied."""
    _, rows, _ = store.run_read(
        "MATCH (n) WHERE n.keten_load IS NOT NULL AND NOT n:Entity RETURN count(n) AS n "
        "UNION ALL MATCH (n:Entity) WHERE n.keten_load IN $hidden RETURN count(n) AS n",
        {"hidden": store.hidden_loads()},
        10,
    )
    return sum(row[0] for row in rows)


def snapshot(store: Neo4jStore) -> tuple[Any, ...]:
    """What a reader sees."""
    return (
        [e.as_record() for e in store.iter_entities()],
        sorted(r.ref for r in store.iter_relations()),
        [store.revision(level) for level in Tlp],
        len(store.audit(limit=1000).items),
    )


def test_a_bulk_write_is_invisible_until_its_last_step(
    store: Neo4jStore, reader: Neo4jStore
) -> None:
    base(store)
    before = snapshot(reader)
    with store.writer(actor="loader", action="load") as w:
        w.upsert_entities(resources(1_200))
        w.upsert_relations([RelationRow("r:00001", "INPUT_TO", "r:00002")])
        w.upsert_relations([RelationRow("vp:water", "DEPENDS_ON", "vp:power", "tno")])
        w.upsert_entities([EntityRow("vp:power", "VitalProcess", "Power")])
        assert w.staged and reader.hidden_loads() == [w.load]
        assert snapshot(reader) == before
        assert reader.get_entity("r:00001") is None
        assert reader.list_entities(EntityFilter(text="power")).items == []
        assert reader.get_relation(("vp:water", "DEPENDS_ON", "vp:power", "tno")) is None
        assert run(reader, "dependants", {"id": "vp:power"}, Tlp.RED).rows == [
            {"id": "vp:water", "kind": "VitalProcess", "name": "Water", "hops": 1}
        ]
    assert reader.hidden_loads() == [] and leftovers(reader) == 0
    assert reader.counts() == {"entities": 1_202, "relations": 3}
    power = reader.get_entity("vp:power")
    assert power is not None and (power.name, power.props) == ("Power", {"sector": "Energy"})
    assert reader.revision() == 2
    (entry,) = reader.audit(since=w.stamp).items
    assert entry.action == "bulk-load" and entry.detail == {
        "counts": {"entities_created": 1_200, "entities_updated": 1, "relations_created": 2}
    }


def test_a_failed_bulk_write_leaves_nothing(store: Neo4jStore, reader: Neo4jStore) -> None:
    base(store)
    before = snapshot(reader)
    with pytest.raises(RuntimeError, match="refused"), store.writer() as w:
        w.upsert_entities(resources(450))
        w.upsert_entities([EntityRow("vp:power", "VitalProcess", "Power")])
        assert w.staged
        raise RuntimeError("bundle refused")
    assert snapshot(reader) == before
    assert reader.hidden_loads() == [] and leftovers(reader) == 0


def test_changes_of_a_bulk_write_keep_their_history(store: Neo4jStore) -> None:
    base(store)
    with store.writer() as w:
        w.upsert_entities(resources(250))
    first = store.get_entity("r:00007")
    assert first is not None
    with store.writer() as w:
        w.upsert_entities([EntityRow(r.id, r.kind, "Renamed") for r in resources(250)])
    assert store.get_entity("r:00007").name == "Renamed"  # type: ignore[union-attr]
    then = store.list_entities(EntityFilter(as_of=first.updated_at, kind="Resource"), limit=300)
    assert {e.name for e in then.items} == {f"R{i}" for i in range(250)}


def test_relations_may_come_before_their_entities(store: Neo4jStore) -> None:
    with store.writer() as w:
        w.upsert_relations([RelationRow("r:00001", "INPUT_TO", "r:00002")])
        w.upsert_entities(resources(3))
        assert w.counts.relations_created == 1
    assert store.get_relation(("r:00001", "INPUT_TO", "r:00002", "")) is not None
    with pytest.raises(ValueError, match="r:ghost"), store.writer() as w:
        w.upsert_relations([RelationRow("r:00001", "INPUT_TO", "r:ghost")])
        w.upsert_entities([EntityRow("r:new", "Resource", "New")])
    assert store.get_entity("r:new") is None


def test_other_writers_wait_for_a_running_bulk_write(store: Neo4jStore, reader: Neo4jStore) -> None:
    base(store)
    started, stamps = threading.Event(), {}

    def small_write() -> None:
        started.set()
        with reader.writer() as w:
            w.upsert_entities([EntityRow("vp:late", "VitalProcess", "Late")])
        stamps["small"] = w.stamp

    thread = threading.Thread(target=small_write)
    with store.writer() as w:
        w.upsert_entities(resources(150))
        assert w.staged
        thread.start()
        started.wait()
        time.sleep(1.0)
        assert thread.is_alive() and reader.get_entity("vp:late") is None
        w.upsert_entities(resources(300))
    thread.join(timeout=30)
    assert stamps["small"] > w.stamp
    assert reader.get_entity("vp:late") is not None and reader.counts()["entities"] == 303


def test_a_killed_load_stays_hidden_and_the_next_load_clears_it(
    store: Neo4jStore, tmp_path: Path
) -> None:
    base(store)
    before = snapshot(store)
    big = tmp_path / "big.jsonl"
    with big.open("w") as out:
        for i in range(150_000):
            out.write(json.dumps({"entity": {"id": f"r:{i}", "kind": "Resource", "name": "R"}}))
            out.write("\n")
    env = {**os.environ, "KETEN_HOME": str(tmp_path), "KETEN_STORE": os.environ["NEO4J_URI"]}
    keten = [str(Path(sys.executable).with_name("keten")), "load", str(big)]
    proc = subprocess.Popen(keten, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not store.hidden_loads():
        assert proc.poll() is None, "the load ended before it was staged"
        assert time.monotonic() < deadline, "the load never spanned transactions"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert snapshot(store) == before and store.get_entity("r:1") is None
    assert leftovers(store) > 0
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"entity": {"id": "r:1", "kind": "Resource", "name": "One"}}))
    done = subprocess.run([*keten[:-1], str(small)], env=env, cwd=ROOT, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert store.hidden_loads() == [] and leftovers(store) == 0
    one = store.get_entity("r:1")
    assert store.counts()["entities"] == 3 and one is not None and one.name == "One"
