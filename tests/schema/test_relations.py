"""A published buffer range is kept as a range, and must hold the buffer the cascade uses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keten.graph.sqlite import SqliteStore
from keten.ingest import BundleRejected, load_bundle
from keten.schema.relation_record import parse_relation
from keten.schema.relations import relation_rule_errors, relation_rules_hold

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


ENDS = st.sampled_from(["vp:a", "vp:b"])
NUMBER = st.sampled_from([None, 0.5, 1.0, 2.0, 4.0])
RULE_RECORD = st.fixed_dictionaries(
    {
        "source": ENDS,
        "target": ENDS,
        "type": st.sampled_from(["DEPENDS_ON", "CITES", "SOURCED_FROM"]),
    },
    optional={
        "share": NUMBER,
        "buffer_hours": NUMBER,
        "buffer_hours_min": NUMBER,
        "buffer_hours_max": NUMBER,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(RULE_RECORD, max_size=5))
def test_the_batch_rule_check_says_what_the_record_check_says(
    records: list[dict[str, Any]],
) -> None:
    given_fields: set[str] = set().union(*records)
    assert relation_rules_hold(records, given_fields) == (
        not any(relation_rule_errors(r) for r in records)
    )
