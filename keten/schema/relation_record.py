"""The relation record's schema: a TypedDict validated by pydantic, and its parser.

Apart from keten.schema.relations (types, endpoints, rules), which the store and the
projection import without pydantic.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Required

from pydantic import ConfigDict, Field, TypeAdapter, with_config

from keten.schema.entities import EntityId
from keten.schema.provenance import Provenance
from keten.schema.relations import RelationTypeName, relation_rule_errors


@with_config(ConfigDict(extra="allow", defer_build=True))
class Relation(Provenance, total=False):
    """A directed, typed relation; identified by (source, type, target, key)."""

    source: Required[EntityId]
    target: Required[EntityId]
    type: Required[RelationTypeName]
    key: Annotated[str | None, Field(max_length=200)]
    strength: Annotated[
        float | None,
        Field(gt=0, le=1, description="How strongly a disruption passes on (default 1)."),
    ]
    buffer_hours: Annotated[
        float | None,
        Field(
            ge=0,
            le=1e6,
            description=(
                "How long the dependent keeps going without it (hours); the figure the cascade "
                "uses. Where a range is published (`buffer_hours_min`/`_max`), keten's convention "
                "is the minimum: the earliest the dependent can fail."
            ),
        ),
    ]
    buffer_hours_min: Annotated[
        float | None,
        Field(ge=0, le=1e6, description="Low end of a published buffer range (hours)."),
    ]
    buffer_hours_max: Annotated[
        float | None,
        Field(ge=0, le=1e6, description="High end of a published buffer range (hours)."),
    ]
    redundancy_group: Annotated[
        str | None,
        Field(
            min_length=1, max_length=200, description="Alternatives: fails with its last member."
        ),
    ]
    dependency_type: Literal["physical", "cyber", "geographic", "logical"] | None
    share: Annotated[
        float | None, Field(ge=0, le=1, description="SOURCED_FROM: the supplier's share in [0, 1].")
    ]
    year: Annotated[int | None, Field(ge=1900, le=2100)]


RELATION_ADAPTER: TypeAdapter[Any] = TypeAdapter(Relation)


def parse_relation(record: dict[str, Any]) -> dict[str, Any]:
    """Validate one relation record; the validated dict (raises ValueError naming the fields)."""
    validated: dict[str, Any] = RELATION_ADAPTER.validate_python(record)
    errors = relation_rule_errors(validated)
    if errors:
        raise ValueError("; ".join(f"{field}: {why}" for field, why in errors))
    return validated
