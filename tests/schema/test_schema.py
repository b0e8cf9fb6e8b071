"""The schema accepts what DESIGN.md allows and refuses the rest, naming the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from keten.schema import ENDPOINTS, EntityKind, RelationType, allowed_endpoints, parse_entity
from keten.schema.bundle import BUNDLE_ADAPTER, bundle_json_schema
from keten.schema.markings import Tlp
from keten.schema.relation_record import parse_relation


def test_every_kind_parses_with_provenance() -> None:
    for kind in EntityKind:
        record = parse_entity(
            {
                "id": f"x:{kind.lower()}",
                "kind": kind.value,
                "name": kind.value,
                "source_ids": ["source:a"],
                "reliability": "B",
                "credibility": 2,
                "marking": "amber+strict",
                "custom_property": [1, 2],
            }
        )
        assert record["kind"] == kind.value and record["custom_property"] == [1, 2]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"reliability": "G"}, "reliability"),
        ({"credibility": 7}, "credibility"),
        ({"marking": "purple"}, "marking"),
        ({"id": "has space"}, "id"),
        ({"id": "x" * 201}, "id"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_provenance_is_named(record: dict[str, object], field: str) -> None:
    base = {"id": "vp:x", "kind": "VitalProcess", "name": "X"}
    with pytest.raises(ValidationError) as error:
        parse_entity({**base, **record})
    assert {e["loc"][-1] for e in error.value.errors()} == {field}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"strength": 0}, "greater than 0"),
        ({"strength": 1.5}, "less than or equal to 1"),
        ({"buffer_hours": -1}, "greater than or equal to 0"),
        ({"share": 1.2}, "less than or equal to 1"),
    ],
)
def test_relation_values_are_bounded(extra: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_relation({"source": "a:1", "target": "b:1", "type": "DEPENDS_ON", **extra})


def test_type_specific_rules() -> None:
    with pytest.raises(ValueError, match="share"):
        parse_relation({"source": "r:1", "target": "country:CN", "type": "SOURCED_FROM"})
    with pytest.raises(ValueError, match="itself"):
        parse_relation({"source": "a:1", "target": "a:1", "type": "DEPENDS_ON"})
    ok = parse_relation(
        {"source": "r:1", "target": "country:CN", "type": "SOURCED_FROM", "share": 0.9}
    )
    assert ok["share"] == 0.9


def test_endpoint_rules_cover_every_type() -> None:
    assert set(ENDPOINTS) == {t.value for t in RelationType}
    assert allowed_endpoints("DISRUPTS", "Threat", "VitalProcess")
    assert not allowed_endpoints("DISRUPTS", "Actor", "VitalProcess")
    assert allowed_endpoints("SOURCED_FROM", "Resource", "Country")
    assert not allowed_endpoints("SOURCED_FROM", "Resource", "Resource")


def test_tlp_order() -> None:
    assert Tlp.AMBER.allows("green") and not Tlp.AMBER.allows("amber+strict")
    assert Tlp.CLEAR.visible() == ["clear"]
    assert Tlp.RED.visible() == [m.value for m in Tlp]


def test_bundle_json_schema_describes_kinds_and_types() -> None:
    schema = bundle_json_schema()
    text = str(schema)
    for kind in EntityKind:
        assert kind.value in text
    assert "DEPENDS_ON" in text and "buffer_hours" in text
    BUNDLE_ADAPTER.validate_python({"entities": [], "relations": []})
    with pytest.raises(ValidationError):
        BUNDLE_ADAPTER.validate_python({"entities": [], "stuff": []})
