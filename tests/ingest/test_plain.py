"""The msgspec check of plain batches says yes only where pydantic accepts and keeps the
records as given, so that the rows of the quick way are the rows of the pydantic way."""

from __future__ import annotations

import copy
from typing import Annotated, Any, TypedDict
from unittest.mock import patch

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field

from keten.ingest import validate
from keten.ingest.plain import ENTITIES, RELATIONS, NotDerivable, derive
from keten.ingest.readers import RawRecord
from keten.ingest.validate import ENTITY_BATCH, RELATION_BATCH, entity_rows, relation_rows
from keten.queries.synthetic import generate_network
from keten.schema import EntityKind, RelationType

GOOD_IDS = ["org:a", "res:000001", "vp:drinking-water", "x" * 200, "é:ü"]
BAD_IDS = ["", "a b", "a/b", "a?b", "a#b", "ab\n", "a\u00a0b", "a\u2003b", "a\x1cb", "x" * 201]
TEXTS = ["A", "keten generate", "line\nbreak", None]
BAD_TEXTS: list[Any] = ["", "x" * 2001, 3]
NUMBERS: list[Any] = [0.5, 1.0, 12.0, None]
BAD_NUMBERS: list[Any] = [0.0, 1e6, 1e7, -1.0, 0, 1, 12, True, False, "0.5"]
INTS: list[Any] = [1, 3, 6, 2024, None]
BAD_INTS: list[Any] = [7, 0, 1900, 2101, 3.0, True, "3"]
ANYTHING = st.sampled_from([True, 1, "x", None, [1], {"a": 1}, 2.5])


def maybe(values: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


def mostly(good: list[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    """Good values four times as likely as bad ones, so that whole batches often pass."""
    return st.sampled_from(good * 4 + bad)


def fields(options: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A random subset of optional fields with drawn values."""
    return st.fixed_dictionaries({}, optional=options)


PROVENANCE = {
    "source_ids": st.one_of(
        st.lists(mostly(GOOD_IDS, BAD_IDS), max_size=3), maybe(["source:x", None, 5])
    ),
    "contributor": mostly(TEXTS, BAD_TEXTS),
    "reliability": mostly(["A", "F", None], ["G", "a"]),
    "credibility": mostly(INTS, BAD_INTS),
    "verified": mostly([True, False, None], [1, "true"]),
    "note": mostly(TEXTS, [3]),
    "synthetic": ANYTHING,
    "extra_field": ANYTHING,
}


@st.composite
def relations(draw: st.DrawFn) -> dict[str, Any]:
    record = {
        "source": draw(mostly(GOOD_IDS, BAD_IDS)),
        "target": draw(mostly(GOOD_IDS, BAD_IDS)),
        "type": draw(mostly([t.value for t in RelationType], ["RELATED_TO", "depends_on"])),
    }
    number = mostly(NUMBERS, BAD_NUMBERS)
    options = {
        "strength": number,
        "buffer_hours": number,
        "buffer_hours_min": number,
        "buffer_hours_max": number,
        "share": number,
        "year": mostly(INTS, BAD_INTS),
        "redundancy_group": mostly(TEXTS, BAD_TEXTS),
        "dependency_type": mostly(["physical", "cyber", None], ["social"]),
        **PROVENANCE,
    }
    record |= draw(fields(options))
    if draw(st.booleans()):
        record.pop(draw(maybe(["source", "target", "type"])))
    return record


@st.composite
def entities(draw: st.DrawFn) -> dict[str, Any]:
    record = {
        "id": draw(mostly(GOOD_IDS, BAD_IDS)),
        "kind": draw(mostly([k.value for k in EntityKind], ["Person", "country"])),
        "name": draw(mostly(["A", "Name"], ["", "x" * 501, None])),
    }
    options = {
        "aliases": st.one_of(st.lists(mostly(["a", "B"], ["", 1]), max_size=2), maybe([None, "a"])),
        "description": mostly(TEXTS, [3, "x" * 20001]),
        "iso2": mostly(["NL", None], ["nl", "NLD", "N", 3, "NL\n"]),
        "eu_member": mostly([True, False, None], [1]),
        "number": mostly([1, 20, None], [0, 21, 2.0]),
        "year": mostly(INTS, BAD_INTS),
        "likelihood": mostly(["A", "E", None], ["F"]),
        "impact": mostly([{"interest:x": "A"}, {}, None], [{"interest:x": "Z"}, "A"]),
        "category": mostly(["A", "B", None], ["C"]),
        "capability_type": mostly(["malware", None], ["virus"]),
        "external_ids": mostly([["T1566"], None], [[1], "T1566"]),
        **PROVENANCE,
    }
    record |= draw(fields(options))
    if draw(st.booleans()):
        record.pop(draw(maybe(["id", "kind", "name"])))
    return record


def as_json(records: list[Any]) -> list[bytes]:
    """Records as stored JSON (tells 12 from 12.0 and True from 1)."""
    return [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records]


def pydantic_keeps(adapter: Any, batch: list[dict[str, Any]]) -> bool:
    """True when pydantic accepts the batch and gives back every record as it was."""
    try:
        validated = adapter.validate_python(copy.deepcopy(batch))
    except ValueError:
        return False
    return as_json(validated) == as_json(batch)


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(relations(), min_size=1, max_size=4))
def test_a_relation_batch_msgspec_accepts_is_one_pydantic_keeps(
    batch: list[dict[str, Any]],
) -> None:
    if RELATIONS.accepts(copy.deepcopy(batch)):
        assert pydantic_keeps(RELATION_BATCH, batch)


@SETTINGS
@given(st.lists(entities(), min_size=1, max_size=4))
def test_an_entity_batch_msgspec_accepts_is_one_pydantic_keeps(batch: list[dict[str, Any]]) -> None:
    if ENTITIES.accepts(copy.deepcopy(batch)):
        assert pydantic_keeps(ENTITY_BATCH, batch)


class Declines:
    """Stands in for a derived check that says "ask pydantic" to everything."""

    def accepts(self, data: list[Any]) -> bool:
        return False

    def fields_of(self, data: list[Any]) -> None:
        return None


def both_ways(rows_of: Any, side: str, records: list[dict[str, Any]]) -> tuple[Any, Any]:
    """(the batch function's answer, its answer when only pydantic validates)."""

    def items() -> list[RawRecord]:
        return [RawRecord(side, copy.deepcopy(r), "b", f"line {i}") for i, r in enumerate(records)]  # type: ignore[arg-type]

    quick = rows_of(items())
    with (
        patch.object(validate, "ENTITIES", Declines()),
        patch.object(validate, "RELATIONS", Declines()),
    ):
        return quick, rows_of(items())


@SETTINGS
@given(st.lists(relations(), min_size=1, max_size=4), st.lists(entities(), min_size=1, max_size=4))
def test_both_ways_make_the_same_rows_and_problems(
    rels: list[dict[str, Any]], ents: list[dict[str, Any]]
) -> None:
    for rows_of, side, records in (
        (relation_rows, "relation", rels),
        (entity_rows, "entity", ents),
    ):
        quick, slow = both_ways(rows_of, side, records)
        assert quick[1] == slow[1] and quick[2] == slow[2]
        assert [as_json([r.props]) for r in quick[1]] == [as_json([r.props]) for r in slow[1]]


def test_generated_batches_take_the_quick_way() -> None:
    net = generate_network(300, 2_000, seed=4)
    assert ENTITIES.accepts(list(net.entity_records()))
    assert RELATIONS.accepts(list(net.relation_records()))


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ({"buffer_hours": 12}, "pydantic stores 12.0"),
        ({"strength": True}, "pydantic stores 1.0"),
        ({"source": "res:1\n"}, "Python's $ allows a final line break; pydantic's does not"),
        ({"source": "res:\u00a01"}, "a space"),
        ({"credibility": 3.0}, "pydantic stores 3"),
        ({"year": "2020"}, "pydantic stores 2020"),
    ],
)
def test_what_pydantic_would_change_goes_to_pydantic(record: dict[str, Any], why: str) -> None:
    base = {"source": "res:1", "target": "res:2", "type": "DEPENDS_ON"}
    assert not RELATIONS.accepts([base | record]), why


class Odd(TypedDict, total=False):
    """A field msgspec would read differently: floats inside a list."""

    when: Annotated[list[float], Field(min_length=1)]


def test_a_schema_it_cannot_carry_over_is_refused() -> None:
    with pytest.raises(NotDerivable):
        derive(Odd)


PLAIN_RELATION = {"source": "res:1", "target": "res:2", "type": "DEPENDS_ON", "strength": 0.5}


@pytest.mark.parametrize(
    "extra",
    [
        {"marking": "amber"},
        {"marking": None},
        {"created_at": "2026-01-01T00:00:00Z"},
        {"updated_at": None},
        {"key": "k1"},
        {"source_ids": []},
        {"source_ids": ["source:x@red"]},
        {"note": "mail a@b"},
    ],
)
def test_a_batch_giving_an_unusual_field_goes_the_pydantic_way(extra: dict[str, Any]) -> None:
    """Markings, times and keys (looked up among the batch's top-level fields), an empty
    list or an @ anywhere take the whole batch off the quick way, and both ways agree."""
    records = [dict(PLAIN_RELATION), PLAIN_RELATION | extra]
    data = copy.deepcopy(records)
    text = validate.clean(data)
    assert text is not None
    assert validate.quick(RELATIONS, text, data, validate.RELATION_UNUSUAL) is None
    quick, slow = both_ways(relation_rows, "relation", records)
    assert quick[1] == slow[1] and quick[2] == slow[2]


def test_a_plain_batch_gives_its_fields() -> None:
    data = [dict(PLAIN_RELATION), {**PLAIN_RELATION, "target": "res:3", "year": 2024}]
    text = validate.clean(data)
    assert text is not None
    given = validate.quick(RELATIONS, text, data, validate.RELATION_UNUSUAL)
    assert given == {"source", "target", "type", "strength", "year"}
