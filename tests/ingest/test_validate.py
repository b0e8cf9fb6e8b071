"""Batch validation: its shortcuts make exactly the rows record-by-record validation makes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from keten.ingest.readers import RawRecord
from keten.ingest.validate import entity_row, entity_rows, relation_row, relation_rows
from keten.queries.synthetic import generate_network

PLAIN_ENTITY = {"id": "org:a", "kind": "Organisation", "name": "A", "source_ids": ["source:x"]}
PLAIN_RELATION = {"source": "org:a", "target": "org:b", "type": "DEPENDS_ON", "strength": 0.5}
UNUSUAL = [
    ({"marking": "amber"}, {"marking": "amber"}),
    ({"created_at": "2026-01-01T00:00:00Z"}, {"updated_at": "2026-01-02T00:00:00Z"}),
    ({"aliases": []}, {"key": "2024"}),
    ({"id": "org:a@amber"}, {"source": "org:a@red"}),
    ({"description": None}, {"redundancy_group": None}),
]


def batch(side: str, records: list[dict[str, Any]]) -> list[RawRecord]:
    return [RawRecord(side, r, "b.jsonl", f"line {i}") for i, r in enumerate(records)]  # type: ignore[arg-type]


def one_by_one(side: str, records: list[dict[str, Any]]) -> list[Any]:
    check = entity_row if side == "entity" else relation_row
    return [check(copy.deepcopy(r), "b.jsonl", f"line {i}") for i, r in enumerate(records)]


def test_a_generated_batch_makes_the_rows_of_one_by_one() -> None:
    net = generate_network(300, 2_000, seed=4)
    entities, relations = list(net.entity_records()), list(net.relation_records())
    passed, rows, problems = entity_rows(batch("entity", copy.deepcopy(entities)))
    assert problems == [] and len(passed) == 300
    assert rows == one_by_one("entity", entities)
    passed, rel_rows, problems = relation_rows(batch("relation", copy.deepcopy(relations)))
    assert problems == [] and len(passed) == 2_000
    assert rel_rows == one_by_one("relation", relations)


@pytest.mark.parametrize(("entity_extra", "relation_extra"), UNUSUAL)
def test_a_batch_with_one_unusual_record_makes_the_rows_of_one_by_one(
    entity_extra: dict[str, Any], relation_extra: dict[str, Any]
) -> None:
    entities = [dict(PLAIN_ENTITY, id=f"org:{i}") for i in range(5)]
    entities[2] = {**entities[2], **entity_extra}
    relations = [dict(PLAIN_RELATION, target=f"org:{i}") for i in range(5)]
    relations[3] = {**relations[3], **relation_extra}
    _, rows, problems = entity_rows(batch("entity", copy.deepcopy(entities)))
    expected = one_by_one("entity", entities)
    assert rows == [r for r in expected if not isinstance(r, list)]
    assert len(problems) == sum(len(r) for r in expected if isinstance(r, list))
    _, rel_rows, rel_problems = relation_rows(batch("relation", copy.deepcopy(relations)))
    expected = one_by_one("relation", relations)
    assert rel_rows == [r for r in expected if not isinstance(r, list)]
    assert len(rel_problems) == sum(len(r) for r in expected if isinstance(r, list))
