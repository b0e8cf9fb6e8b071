"""The bundle document and its JSON Schema, for contributors' editors and API bodies.

>>> schema = bundle_json_schema()
>>> sorted(schema["properties"])
['entities', 'relations']
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, TypeAdapter, with_config
from typing_extensions import TypedDict

from keten.schema.entities import AnyEntity
from keten.schema.relation_record import Relation


@with_config(ConfigDict(extra="forbid"))
class Bundle(TypedDict, total=False):
    """`{"entities": [...], "relations": [...]}`: what `keten load` and `POST /ingest` take."""

    entities: list[AnyEntity]
    relations: list[Relation]


BUNDLE_ADAPTER: TypeAdapter[Bundle] = TypeAdapter(Bundle)


def bundle_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a bundle file, with the entity kinds as alternatives."""
    schema = BUNDLE_ADAPTER.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "keten bundle"
    return schema
