"""A published buffer range is kept as a range, and must hold the buffer the cascade uses."""

from __future__ import annotations

import pytest

from keten.graph.sqlite import SqliteStore
from keten.ingest import BundleRejected, load_bundle
from keten.schema.relations import parse_relation

EDGE = {"source": "vp:a", "target": "vp:b", "type": "DEPENDS_ON"}


def test_a_range_around_the_buffer_is_kept() -> None:
    edge = parse_relation(
        {**EDGE, "buffer_hours": 0.5, "buffer_hours_min": 0.5, "buffer_hours_max": 3}
    )
    assert (edge["buffer_hours"], edge["buffer_hours_min"], edge["buffer_hours_max"]) == (
        0.5,
        0.5,
        3,
    )
    assert parse_relation({**EDGE, "buffer_hours": 1464, "buffer_hours_min": 1464})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"buffer_hours": 0.25, "buffer_hours_min": 0.5, "buffer_hours_max": 3}, r"\(0.25\)"),
        ({"buffer_hours": 4, "buffer_hours_min": 0.5, "buffer_hours_max": 3}, r"0\.5\.\.3"),
        ({"buffer_hours": 2, "buffer_hours_min": 3, "buffer_hours_max": 1}, "within"),
        ({"buffer_hours_min": 0.5, "buffer_hours_max": 3}, "needs the `buffer_hours`"),
    ],
)
def test_a_buffer_outside_its_range_is_refused(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_relation({**EDGE, **fields})


def test_a_bundle_with_a_bad_range_is_refused_naming_the_field(sqlite_store: SqliteStore) -> None:
    bundle = {
        "entities": [
            {"id": "vp:a", "kind": "VitalProcess", "name": "A"},
            {"id": "vp:b", "kind": "VitalProcess", "name": "B"},
        ],
        "relations": [{**EDGE, "buffer_hours": 5, "buffer_hours_max": 3}],
    }
    with pytest.raises(BundleRejected) as refused:
        load_bundle(sqlite_store, bundle, name="range.yaml")
    assert [(p.where, p.field) for p in refused.value.problems] == [
        ("relations[0]", "buffer_hours")
    ]
    assert sqlite_store.revision() == 0 and list(sqlite_store.iter_entities()) == []
