"""The synthetic generator: exact sizes, hubs, provenance, and bundles that load."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from keten.data import reference_bundle_path
from keten.graph.projection import build_projection
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_paths
from keten.queries.synthetic import SOURCE_ID, SyntheticStore, generate_network
from keten.schema.markings import Tlp


def test_sizes_hubs_and_marking() -> None:
    net = generate_network(2_000, 12_000, seed=3)
    entities = list(net.entity_records())
    relations = list(net.relation_records())
    assert len(entities) == 2_000 and len({e["id"] for e in entities}) == 2_000
    refs = {(r["source"], r["type"], r["target"]) for r in relations}
    assert len(relations) == len(refs) == 12_000
    assert all(r["synthetic"] and r["source_ids"] == [SOURCE_ID] for r in relations)
    assert all(e["synthetic"] and e["source_ids"] == [SOURCE_ID] for e in entities)
    assert any(e["id"] == SOURCE_ID and e["kind"] == "Source" for e in entities)
    # no id can overwrite a record of the reference knowledge base
    reference = {e.id for e in SyntheticStore(net).iter_entities()} & reference_ids()
    assert reference == set()
    needed = Counter(r["target"] for r in relations if r["type"] == "DEPENDS_ON")
    top = [node for node, _ in needed.most_common(6)]
    assert {"res:power", "res:telecom"} <= set(top)
    assert {r["type"] for r in relations} >= {"DEPENDS_ON", "DISRUPTS", "SAFEGUARDS", "POSES"}
    assert any("redundancy_group" in r for r in relations)
    assert generate_network(2_000, 12_000, seed=3).rel_target.tolist() == net.rel_target.tolist()


def reference_ids() -> set[str]:
    """Ids of the reference knowledge base shipped with keten."""
    store = SqliteStore(":memory:")
    load_paths(store, [reference_bundle_path()])
    return {e.id for e in store.iter_entities()}


def test_refuses_impossible_sizes() -> None:
    with pytest.raises(ValueError, match="at least 40"):
        generate_network(10, 100)
    with pytest.raises(ValueError, match="too few"):
        generate_network(1_000, 10)


def test_bundle_passes_validation_and_matches_the_memory_store(
    tmp_path: Path, sqlite_store: SqliteStore
) -> None:
    net = generate_network(300, 2_000, seed=1)
    bundle = tmp_path / "synthetic.jsonl"
    bundle.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in net.records()))
    load_paths(sqlite_store, [bundle])
    stored = build_projection(sqlite_store, Tlp.RED)
    memory = build_projection(SyntheticStore(net), Tlp.RED)
    assert stored.ids == memory.ids
    assert stored.indptr.tolist() == memory.indptr.tolist()
    assert stored.targets.tolist() == memory.targets.tolist()
    assert stored.buffer_hours.tolist() == memory.buffer_hours.tolist()
