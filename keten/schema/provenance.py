"""Provenance carried by every entity and relation: who said it, from where, how sure, how secret.

The fields follow DESIGN.md; reliability grades the source (Admiralty A-F) and credibility the
claim (1-6), kept apart as OpenCTI and NATO doctrine do. Records are TypedDicts validated by
pydantic: validation yields plain dicts, about four times faster than model instances, which
is what lets a bundle load at over 100k records per second.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from keten.schema.markings import Reliability

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Marking = Literal["clear", "green", "amber", "amber+strict", "red"]
RecordId = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[^\s/?#]+$", examples=["vp:drinking-water"])
]


class Provenance(TypedDict, total=False):
    """Fields shared by entities and relations; every one may be left out."""

    source_ids: Annotated[
        list[RecordId] | None, Field(description="Ids of `Source` entities that support it.")
    ]
    contributor: Annotated[Text | None, Field(description="Person or system that contributed it.")]
    institute: Annotated[
        Text | None, Field(description="Id or name of the contributing institute.")
    ]
    reliability: Annotated[
        Reliability | None, Field(description="Admiralty source reliability, A to F.")
    ]
    credibility: Annotated[
        int | None, Field(ge=1, le=6, description="Admiralty information credibility, 1 to 6.")
    ]
    marking: Annotated[
        Marking | None,
        Field(description="TLP 2.0 marking (default clear); keys below never see it."),
    ]
    verified: Annotated[
        bool | None,
        Field(description="False when the record could not be checked against a source."),
    ]
    note: Annotated[str | None, Field(max_length=20000)]
    created_at: datetime | None
    updated_at: datetime | None
