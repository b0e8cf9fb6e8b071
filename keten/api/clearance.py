"""Writes under a clearance: nobody writes what they could not read.

Reads are filtered by the store (every query takes the caller's clearance). Writes need
three more checks, made here before anything is written: a record may not be marked above
the key's clearance; a record may not overwrite one the key cannot see; and a relation may
not hang on an entity the key cannot see (reported exactly as an unknown entity, so that
a write reveals no more than a read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from keten.api.bodies import refuse_huge_integers
from keten.api.problems import ApiProblem
from keten.graph.store import GraphStore, RelationFilter
from keten.ingest import BundleRejected, Problem
from keten.ingest.readers import RawRecord, read_bundle
from keten.schema.markings import Tlp

UNKNOWN_ENDPOINT = "no such entity in this bundle or in the store"
MARKINGS = frozenset(m.value for m in Tlp)
MAX_ID = 200


def check_bundle_write(store: GraphStore, clearance: Tlp, bundle: Any, name: str) -> None:
    """Raise a 403 problem or a refusal when a key of `clearance` may not write `bundle`."""
    refuse_huge_integers(bundle, name)
    if clearance == Tlp.RED:
        return
    check = WriteCheck(store, clearance)
    for item in read_bundle(bundle, name):
        if isinstance(item, RawRecord) and isinstance(item.data, dict):
            check.record(item)
    if check.forbidden:
        detail = "the key's clearance does not cover this write"
        raise ApiProblem(403, "above-clearance", detail, check.forbidden)
    if check.unknown:
        raise BundleRejected(check.unknown, len(check.unknown))


@dataclass
class WriteCheck:
    """The records of one write seen so far, and what is wrong with them."""

    store: GraphStore
    clearance: Tlp
    forbidden: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[Problem] = field(default_factory=list)
    defined: set[str] = field(default_factory=set)

    def record(self, item: RawRecord) -> None:
        """Check one entity or relation record (entities come first in a bundle)."""
        data = item.data
        marking = data.get("marking") or "clear"
        if marking in MARKINGS and not self.clearance.allows(marking):
            why = f"marked {marking}, above the key's clearance {self.clearance.value}"
            self._forbid(item, "marking", why)
        if item.side == "entity":
            self._entity(item, data.get("id"))
        else:
            self._relation(item, data)

    def _forbid(self, item: RawRecord, field: str, why: str) -> None:
        self.forbidden.append({"file": item.file, "where": item.where, "field": field, "why": why})

    def _entity(self, item: RawRecord, entity_id: Any) -> None:
        if isinstance(entity_id, str):
            self.defined.add(entity_id)
            if self._hidden(entity_id):
                self._forbid(item, "id", "an existing record the key may not see has this id")

    def _relation(self, item: RawRecord, data: dict[str, Any]) -> None:
        hidden_end = False
        for end in ("source", "target"):
            end_id = data.get(end)
            if isinstance(end_id, str) and end_id not in self.defined and self._hidden(end_id):
                self.unknown.append(Problem(item.file, item.where, end, UNKNOWN_ENDPOINT, end_id))
                hidden_end = True
        ref = (data.get("source"), data.get("type"), data.get("target"), data.get("key") or "")
        if hidden_end or not all(isinstance(part, str) and len(part) <= MAX_ID for part in ref):
            return
        relation_ref = cast(tuple[str, str, str, str], ref)
        if self.store.get_relation(relation_ref) and not self.store.get_relation(
            relation_ref, self.clearance
        ):
            self._forbid(item, "type", "an existing relation the key may not see has this identity")

    def _hidden(self, entity_id: str) -> bool:
        """True when the entity exists but is marked above the clearance."""
        if len(entity_id) > MAX_ID:
            return False
        entity = self.store.get_entity(entity_id)
        return entity is not None and not self.clearance.allows(entity.marking)


def count_relations_of(store: GraphStore, entity_id: str, clearance: Tlp = Tlp.RED) -> int:
    """How many relations touching `entity_id` a key of `clearance` can see."""
    total = 0
    for end in ("source", "target"):
        flt = RelationFilter(clearance=clearance, **{end: entity_id})
        cursor: str | None = None
        while True:
            page = store.list_relations(flt, cursor=cursor, limit=1000)
            # a self-loop shows up on both ends; count it on the source side only
            total += sum(1 for r in page.items if end == "source" or r.source != entity_id)
            cursor = page.next_cursor
            if cursor is None:
                break
    return total
