"""Provenance carried by every entity and relation: who said it, from where, how sure, how secret.

The fields follow DESIGN.md; reliability grades the source (Admiralty A-F) and credibility the
claim (1-6), kept apart as OpenCTI and NATO doctrine do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from keten.schema.markings import Reliability, Tlp

Text = Annotated[str, Field(min_length=1, max_length=2000)]


class Provenance(BaseModel):
    """Fields shared by entities and relations; extra properties are kept as they come."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True, use_enum_values=True)

    source_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, description="Ids of `Source` entities that support this record."
    )
    contributor: Text | None = Field(None, description="Person or system that contributed it.")
    institute: Text | None = Field(None, description="Id or name of the contributing institute.")
    reliability: Reliability | None = Field(
        None, description="Admiralty source reliability, A (reliable) to F (cannot be judged)."
    )
    credibility: Annotated[int, Field(ge=1, le=6)] | None = Field(
        None,
        description="Admiralty information credibility, 1 (confirmed) to 6 (cannot be judged).",
    )
    marking: Tlp = Field(Tlp.CLEAR, description="TLP 2.0 marking; keys below it never see it.")
    verified: bool | None = Field(
        None, description="False when the contributor could not verify the record against a source."
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None
