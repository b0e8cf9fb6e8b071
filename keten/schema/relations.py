"""Relation types, which kinds they may join, and the properties the analyses read.

`ENDPOINTS` is the whitelist that every store and every Cypher statement takes relation types
and labels from; user text never becomes a label or a type.

>>> allowed_endpoints("SAFEGUARDS", "VitalProcess", "Interest")
True
>>> allowed_endpoints("SAFEGUARDS", "Threat", "Interest")
False
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from keten.schema.entities import EntityId, EntityKind
from keten.schema.provenance import Provenance


class RelationType(StrEnum):
    """Relation types (Neo4j relationship types)."""

    DEPENDS_ON = "DEPENDS_ON"
    DISRUPTS = "DISRUPTS"
    THREATENS = "THREATENS"
    SAFEGUARDS = "SAFEGUARDS"
    POSES = "POSES"
    SOURCED_FROM = "SOURCED_FROM"
    INPUT_TO = "INPUT_TO"
    OPERATES = "OPERATES"
    CONTROLS = "CONTROLS"
    LOCATED_IN = "LOCATED_IN"
    CITES = "CITES"
    MEASURES = "MEASURES"
    MEMBER_OF = "MEMBER_OF"


K = EntityKind
ANY: frozenset[str] = frozenset(K)

ENDPOINTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "DEPENDS_ON": (frozenset({K.VITAL_PROCESS, K.ORGANISATION, K.RESOURCE}), ANY),
    "DISRUPTS": (frozenset({K.THREAT}), frozenset({K.VITAL_PROCESS, K.RESOURCE, K.ORGANISATION})),
    "THREATENS": (frozenset({K.THREAT}), frozenset({K.INTEREST})),
    "SAFEGUARDS": (frozenset({K.VITAL_PROCESS}), frozenset({K.INTEREST})),
    "POSES": (frozenset({K.ACTOR}), frozenset({K.THREAT})),
    "SOURCED_FROM": (frozenset({K.RESOURCE}), frozenset({K.COUNTRY})),
    "INPUT_TO": (frozenset({K.RESOURCE}), frozenset({K.RESOURCE})),
    "OPERATES": (
        frozenset({K.ORGANISATION, K.ACTOR, K.COUNTRY}),
        frozenset({K.VITAL_PROCESS, K.RESOURCE, K.ORGANISATION}),
    ),
    "CONTROLS": (
        frozenset({K.ACTOR, K.COUNTRY, K.ORGANISATION}),
        frozenset({K.ORGANISATION, K.RESOURCE, K.ACTOR}),
    ),
    "LOCATED_IN": (
        ANY - {K.COUNTRY, K.INTEREST, K.IMPACT_CRITERION, K.SOURCE},
        frozenset({K.COUNTRY}),
    ),
    "CITES": (ANY, frozenset({K.SOURCE})),
    "MEASURES": (frozenset({K.IMPACT_CRITERION}), frozenset({K.INTEREST})),
    "MEMBER_OF": (
        frozenset({K.INSTITUTE, K.ORGANISATION}),
        frozenset({K.INSTITUTE, K.ORGANISATION}),
    ),
}
"""Relation type -> (allowed source kinds, allowed target kinds)."""


def allowed_endpoints(rel_type: str, source_kind: str, target_kind: str) -> bool:
    """True when a relation of `rel_type` may join these two kinds."""
    sources, targets = ENDPOINTS[rel_type]
    return source_kind in sources and target_kind in targets


class Relation(Provenance):
    """A directed, typed relation; identified by (source, type, target, key)."""

    source: EntityId
    target: EntityId
    type: RelationType
    key: Annotated[str, Field(max_length=200)] = ""
    strength: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None, description="How strongly the disruption passes on (0 < s <= 1, default 1)."
    )
    buffer_hours: Annotated[float, Field(ge=0, le=1e6)] | None = Field(
        None, description="How long the dependent keeps going without the other (hours, >= 0)."
    )
    redundancy_group: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="Alternatives: the group fails when its last member fails."
    )
    dependency_type: Literal["physical", "cyber", "geographic", "logical"] | None = None
    share: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None, description="SOURCED_FROM: the supplier's share of supply, in [0, 1]."
    )
    year: Annotated[int, Field(ge=1900, le=2100)] | None = None

    @model_validator(mode="after")
    def _type_specific(self) -> Relation:
        if self.type == RelationType.SOURCED_FROM and self.share is None:
            raise ValueError("SOURCED_FROM needs a `share` in [0, 1]")
        if self.source == self.target and self.type != RelationType.CITES:
            raise ValueError(f"a {self.type} relation cannot join {self.source!r} to itself")
        return self


CORE_RELATION_FIELDS = frozenset(
    {"source", "target", "type", "key", "marking", "created_at", "updated_at"}
)
"""Fields the store keeps in columns; everything else goes into the properties document."""


def parse_relation(record: dict[str, Any]) -> Relation:
    """Validate one relation record (raises pydantic.ValidationError naming every bad field)."""
    return Relation.model_validate(record)
