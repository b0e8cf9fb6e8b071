"""Entity kinds of the keten graph and their typed properties.

One TypedDict per kind, joined in a union discriminated on `kind`, so that a record is checked
against the fields its kind has and a wrong kind is named in the error. Unknown extra
properties are kept as they come.

>>> parse_entity({"id": "country:NL", "kind": "Country", "name": "Netherlands",
...               "iso2": "NL", "eu_member": True})["eu_member"]
True
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Required

from pydantic import ConfigDict, Field, TypeAdapter, with_config

from keten.schema.markings import ImpactClass
from keten.schema.provenance import Provenance, RecordId

EntityId = RecordId
Name = Annotated[str, Field(min_length=1, max_length=500)]
OPEN = ConfigDict(extra="allow")


class EntityBase(Provenance, total=False):
    """What every entity has: a stable id, a kind, a name, aliases and a description."""

    id: Required[EntityId]
    name: Required[Name]
    name_nl: Annotated[
        Name | None,
        Field(
            description="The Dutch name, where the official name is Dutch (pages in Dutch show it)."
        ),
    ]
    aliases: list[Name] | None
    description: Annotated[str | None, Field(max_length=20000)]


@with_config(OPEN)
class Interest(EntityBase, total=False):
    """One of the six Dutch national-security interests."""

    kind: Required[Literal["Interest"]]
    number: Annotated[int | None, Field(ge=1, le=20)]


@with_config(OPEN)
class ImpactCriterion(EntityBase, total=False):
    """A criterion that measures harm to an interest (national risk assessment method)."""

    kind: Required[Literal["ImpactCriterion"]]
    code: Annotated[str | None, Field(examples=["2.1"])]
    unit: str | None


@with_config(OPEN)
class Threat(EntityBase, total=False):
    """A threat or hazard: malicious (security) or not (safety), per the all-hazard approach."""

    kind: Required[Literal["Threat"]]
    theme: Annotated[str | None, Field(description="Threat theme of the national risk assessment.")]
    malicious: bool | None
    likelihood: Annotated[ImpactClass | None, Field(description="Likelihood class A-E.")]
    impact: Annotated[
        dict[str, ImpactClass] | None, Field(description="Impact class A-E per interest id.")
    ]


@with_config(OPEN)
class Actor(EntityBase, total=False):
    """Someone behind threats: a state, a group, a criminal network."""

    kind: Required[Literal["Actor"]]
    actor_type: Annotated[str | None, Field(examples=["state", "criminal", "terrorist"])]


@with_config(OPEN)
class VitalProcess(EntityBase, total=False):
    """A vital process whose failure causes societal disruption (NCTV list)."""

    kind: Required[Literal["VitalProcess"]]
    sector: str | None
    category: Annotated[Literal["A", "B"] | None, Field(description="NCTV category A or B.")]
    ministry: str | None


@with_config(OPEN)
class Organisation(EntityBase, total=False):
    """A company, operator or public body."""

    kind: Required[Literal["Organisation"]]
    sector: str | None


@with_config(OPEN)
class Resource(EntityBase, total=False):
    """A good, service, raw material or component that processes and chains depend on."""

    kind: Required[Literal["Resource"]]
    resource_type: Literal["good", "service", "raw_material", "component", "area"] | None
    substitutability: Literal["low", "medium", "high"] | None


@with_config(OPEN)
class Country(EntityBase, total=False):
    """A state, as supplier, location or actor's home."""

    kind: Required[Literal["Country"]]
    iso2: Annotated[str | None, Field(pattern=r"^[A-Z]{2}$")]
    eu_member: bool | None
    flagged: Annotated[
        bool | None, Field(description="Flagged by analysts as geopolitically risky.")
    ]


@with_config(OPEN)
class Source(EntityBase, total=False):
    """A report or data set that records cite."""

    kind: Required[Literal["Source"]]
    url: str | None
    publisher: str | None
    year: Annotated[int | None, Field(ge=1800, le=2100)]


@with_config(OPEN)
class Institute(EntityBase, total=False):
    """A knowledge institute in the network that contributes knowledge."""

    kind: Required[Literal["Institute"]]
    url: str | None


@with_config(OPEN)
class Campaign(EntityBase, total=False):
    """An actor's operation seen over time (a STIX campaign): what happened, not a scored
    national threat, so it takes no part in the integrated risk analysis."""

    kind: Required[Literal["Campaign"]]
    objective: str | None
    first_seen: str | None
    last_seen: str | None


@with_config(OPEN)
class Capability(EntityBase, total=False):
    """What actors use: an attack pattern (an ATT&CK technique), malware or a tool."""

    kind: Required[Literal["Capability"]]
    capability_type: Literal["attack-pattern", "malware", "tool"] | None
    external_ids: Annotated[
        list[str] | None, Field(description="Ids in other catalogues, e.g. ATT&CK T1566.")
    ]


@with_config(OPEN)
class Vulnerability(EntityBase, total=False):
    """A weakness actors exploit, e.g. a CVE."""

    kind: Required[Literal["Vulnerability"]]
    external_ids: Annotated[list[str] | None, Field(examples=[["CVE-2023-4966"]])]


@with_config(OPEN)
class Countermeasure(EntityBase, total=False):
    """What defends against a capability: a mitigation, a detection, or the telemetry it reads."""

    kind: Required[Literal["Countermeasure"]]
    countermeasure_type: Literal["mitigation", "detection", "telemetry"] | None
    external_ids: list[str] | None


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
    | Institute
    | Campaign
    | Capability
    | Vulnerability
    | Countermeasure,
    Field(discriminator="kind"),
]

ENTITY_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyEntity, config=ConfigDict(defer_build=True))

CORE_ENTITY_FIELDS = frozenset({"id", "kind", "name", "marking", "created_at", "updated_at"})
"""Fields the store keeps in columns; everything else goes into the properties document."""


def parse_entity(record: dict[str, Any]) -> dict[str, Any]:
    """Validate one entity record; the validated dict (raises pydantic.ValidationError)."""
    validated: dict[str, Any] = ENTITY_ADAPTER.validate_python(record)
    return validated
