"""Entity kinds of the keten graph and their typed properties.

One pydantic model per kind, joined in a union discriminated on `kind`, so that a record is
checked against the fields its kind has and a wrong kind is named in the error.

>>> parse_entity({"id": "country:NL", "kind": "Country", "name": "Netherlands",
...               "iso2": "NL", "eu_member": True}).eu_member
True
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from keten.schema.markings import ImpactClass
from keten.schema.provenance import Provenance

EntityId = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[^\s/?#]+$", examples=["vp:drinking-water"])
]


class EntityKind(StrEnum):
    """The kinds of things keten knows about (Neo4j labels)."""

    INTEREST = "Interest"
    IMPACT_CRITERION = "ImpactCriterion"
    THREAT = "Threat"
    ACTOR = "Actor"
    VITAL_PROCESS = "VitalProcess"
    ORGANISATION = "Organisation"
    RESOURCE = "Resource"
    COUNTRY = "Country"
    SOURCE = "Source"
    INSTITUTE = "Institute"


class EntityBase(Provenance):
    """What every entity has: a stable id, a kind, a name, aliases and a description."""

    id: EntityId
    name: Annotated[str, Field(min_length=1, max_length=500)]
    aliases: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(default_factory=list)
    description: Annotated[str, Field(max_length=20000)] | None = None


class Interest(EntityBase):
    """One of the six Dutch national-security interests."""

    kind: Literal["Interest"] = "Interest"
    number: Annotated[int, Field(ge=1, le=20)] | None = None


class ImpactCriterion(EntityBase):
    """A criterion that measures harm to an interest (national risk assessment method)."""

    kind: Literal["ImpactCriterion"] = "ImpactCriterion"
    code: str | None = Field(None, examples=["2.1"])
    unit: str | None = None


class Threat(EntityBase):
    """A threat or hazard: malicious (security) or not (safety), per the all-hazard approach."""

    kind: Literal["Threat"] = "Threat"
    theme: str | None = Field(None, description="Threat theme of the national risk assessment.")
    malicious: bool | None = None
    likelihood: ImpactClass | None = Field(None, description="Likelihood class A-E.")
    impact: dict[str, ImpactClass] = Field(
        default_factory=dict, description="Impact class A-E per interest id."
    )


class Actor(EntityBase):
    """Someone behind threats: a state, a group, a criminal network."""

    kind: Literal["Actor"] = "Actor"
    actor_type: str | None = Field(None, examples=["state", "criminal", "terrorist", "hacktivist"])


class VitalProcess(EntityBase):
    """A vital process whose failure causes societal disruption (NCTV list)."""

    kind: Literal["VitalProcess"] = "VitalProcess"
    sector: str | None = None
    category: Literal["A", "B"] | None = Field(None, description="NCTV category A or B.")
    ministry: str | None = None


class Organisation(EntityBase):
    """A company, operator or public body."""

    kind: Literal["Organisation"] = "Organisation"
    sector: str | None = None


class Resource(EntityBase):
    """A good, service, raw material or component that processes and chains depend on."""

    kind: Literal["Resource"] = "Resource"
    resource_type: Literal["good", "service", "raw_material", "component", "area"] | None = None
    substitutability: Literal["low", "medium", "high"] | None = None


class Country(EntityBase):
    """A state, as supplier, location or actor's home."""

    kind: Literal["Country"] = "Country"
    iso2: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    eu_member: bool | None = None
    flagged: bool | None = Field(None, description="Flagged by analysts as geopolitically risky.")


class Source(EntityBase):
    """A report or data set that records cite."""

    kind: Literal["Source"] = "Source"
    url: str | None = None
    publisher: str | None = None
    year: Annotated[int, Field(ge=1800, le=2100)] | None = None


class Institute(EntityBase):
    """A knowledge institute in the network that contributes knowledge."""

    kind: Literal["Institute"] = "Institute"
    url: str | None = None


AnyEntity = Annotated[
    Interest
    | ImpactCriterion
    | Threat
    | Actor
    | VitalProcess
    | Organisation
    | Resource
    | Country
    | Source
    | Institute,
    Field(discriminator="kind"),
]

ENTITY_ADAPTER: TypeAdapter[AnyEntity] = TypeAdapter(AnyEntity)

CORE_ENTITY_FIELDS = frozenset({"id", "kind", "name", "marking", "created_at", "updated_at"})
"""Fields the store keeps in columns; everything else goes into the properties document."""


def parse_entity(record: dict[str, Any]) -> EntityBase:
    """Validate one entity record (raises pydantic.ValidationError naming every bad field)."""
    return ENTITY_ADAPTER.validate_python(record)
