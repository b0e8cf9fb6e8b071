"""Answer bodies of the API (request bodies are the schema's own entity and relation types)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from keten.api.keys import Role
from keten.schema.markings import Tlp

ENTITY_EXAMPLE = {
    "id": "vp:drinking-water",
    "kind": "VitalProcess",
    "name": "Drinking water supply",
    "sector": "water",
    "category": "A",
    "marking": "clear",
}
RELATION_EXAMPLE = {
    "source": "vp:drinking-water",
    "target": "vp:electricity-transmission",
    "type": "DEPENDS_ON",
    "buffer_hours": 8,
    "strength": 1,
    "marking": "clear",
}

Record = dict[str, Any]


class Health(BaseModel):
    """Liveness, the store in use and its revision."""

    status: str = Field(examples=["ok"])
    store: str = Field(examples=["sqlite"])
    revision: int = Field(examples=[42])


class EntityPage(BaseModel):
    """One page of entities; pass `next_cursor` back as `cursor` for the next page."""

    items: list[Record] = Field(examples=[[ENTITY_EXAMPLE]])
    next_cursor: str | None = None


class RelationPage(BaseModel):
    """One page of relations; pass `next_cursor` back as `cursor` for the next page."""

    items: list[Record] = Field(examples=[[RELATION_EXAMPLE]])
    next_cursor: str | None = None


class Neighbourhood(BaseModel):
    """Entities within `depth` hops of `center`, and the relations among them."""

    center: str = Field(examples=["vp:drinking-water"])
    depth: int = Field(examples=[1])
    entities: list[Record]
    relations: list[Record]


class EntityDeleted(BaseModel):
    """A deleted entity and the relations that went with it."""

    deleted: str = Field(examples=["vp:drinking-water"])
    relations_removed: list[Record] = Field(examples=[[RELATION_EXAMPLE]])


class RelationDeleted(BaseModel):
    """A deleted relation."""

    deleted: Record = Field(examples=[RELATION_EXAMPLE])


class IngestReport(BaseModel):
    """What an ingest wrote, or for a dry run would write; `changes` lists the stored records
    it changed (up to 1,000) with the fields that changed."""

    records: int
    dry_run: bool
    revision: int
    mode: str = Field(examples=["merge"])
    changes: list[dict[str, Any]] = Field(
        default_factory=list, examples=[[{"entity": "vp:gas-national", "fields": ["sector"]}]]
    )
    entities_created: int
    entities_updated: int
    entities_unchanged: int
    relations_created: int
    relations_updated: int
    relations_unchanged: int
    not_kept: list[dict[str, Any]] = Field(
        default_factory=list,
        description="What a STIX import left out, by STIX type and reason, with counts.",
        examples=[
            [
                {
                    "file": "body",
                    "stix_type": "x-mitre-tactic",
                    "reason": "keten has no kind for it",
                    "count": 14,
                }
            ]
        ],
    )


class KeyRequest(BaseModel):
    """A key to make: its role, its clearance (at most the caller's) and a label."""

    role: Role = Field(examples=["reader"])
    clearance: Tlp = Field(default=Tlp.CLEAR, examples=["green"])
    label: str = Field(default="", max_length=200, examples=["RIVM analysts"])


class KeyOut(BaseModel):
    """A stored key, without its secret."""

    key_id: str = Field(examples=["3f9a0c1b2d4e"])
    role: Role
    clearance: Tlp
    label: str
    created_at: str
    revoked_at: str | None = None


class KeyCreated(KeyOut):
    """A new key; `key` is shown this once and cannot be recovered."""

    key: str = Field(examples=["kt_3f9a0c1b2d4e_..."])
