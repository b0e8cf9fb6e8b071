"""The kinds of entity keten knows, apart from their record schema.

The store, the projection and the command line name kinds (filters, labels, options) without
validating a record, so the names live here, free of pydantic: a one-shot command such as
`keten cascade` starts without building the record schema (keten.schema.entities), which
took about a fifth of its CPU time.
"""

from __future__ import annotations

from enum import StrEnum


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
    CAMPAIGN = "Campaign"
    CAPABILITY = "Capability"
    VULNERABILITY = "Vulnerability"
    COUNTERMEASURE = "Countermeasure"
