"""The differential clearance harness: one history of writes, two stores, the same questions.

The rule under test (DESIGN.md, `keten.graph.store`): an answer to a key of clearance C is
what a store holding only the records at or below C would give. So the harness builds that
second store for real and asks both the same thing:

* `HISTORY` is a sequence of write steps (the reference knowledge base, a fixture with
  records at every marking, updates, a replace, deletes, submissions and their review).
  The *mixed* store gets every step whole. The *filtered* store of clearance C gets each
  step restricted to what C may see (`Step.part_for`): hidden entities and the relations
  that are hidden or touch a hidden end are dropped, and references to hidden records
  (`source_ids`, the keys of a Threat's `impact`, an `institute` naming one) are left out
  of the records kept. A step with no visible part is skipped there, so both stores see
  the same number of visible writes and their clearance-scoped revisions must agree.
* Both stores run behind real uvicorn servers on loopback (`Fleet`), with keys of every
  role at the clearances compared and a few above. A filtered side holds the keys and
  submissions at or below its clearance (and, below green, the green writers whose clear
  records it must hold); a submission whose contributor's key it does not hold is queued
  as made by that key.
* `Side.ask` sends one `Call` and returns the answer normalised (`Answer`): status, the
  headers that carry meaning and the body, with only what legitimately differs between
  two stores written at different moments written off. Store times become the label of
  the history step (or test write) they were stamped in, so an `updated_at` moved by a
  hidden write still shows; key and submission ids become their labels; an `ETag` that
  hashes the answer becomes a mark saying so; cursors are followed to the end.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from keten.api.app import create_app
from keten.api.keys import KeyStore, Role
from keten.api.server import background_server
from keten.config import Settings
from keten.data import reference_bundle_path
from keten.graph.rows import now
from keten.graph.sqlite import SqliteStore
from keten.graph.store import Ref, WriteMode, etag
from keten.ingest import Attribution, load_bundle
from keten.ingest.readers import RawRecord, read_paths
from keten.ingest.submissions import SubmissionQueue
from keten.schema.markings import Tlp, namespace_of

Bundle = dict[str, list[dict[str, Any]]]
ROLES = (Role.READER, Role.CONTRIBUTOR, Role.REVIEWER, Role.ADMIN)
WRITER = Tlp.GREEN


# -- the history ----------------------------------------------------------------------------


def entity(id_: str, kind: str, name: str, marking: str | None = None, **props: Any) -> dict:
    """An entity record (marking left out for clear, as most records do)."""
    record: dict[str, Any] = {"id": id_, "kind": kind, "name": name, **props}
    if marking:
        record["marking"] = marking
    return record


def relation(
    source: str, type_: str, target: str, key: str = "", marking: str | None = None, **props: Any
) -> dict:
    """A relation record."""
    record: dict[str, Any] = {"source": source, "type": type_, "target": target, **props}
    if key:
        record["key"] = key
    if marking:
        record["marking"] = marking
    return record


BASE: Bundle = {
    "entities": [
        entity("interest:dx-open", "Interest", "Open interest", number=11),
        entity("interest:dx-green", "Interest", "Green interest", "green"),
        entity("interest:dx-amber@amber", "Interest", "Amber interest", "amber"),
        entity("interest:dx-red@red", "Interest", "Red interest", "red"),
        entity("ic:dx-open", "ImpactCriterion", "Open criterion", code="9.1"),
        entity("ic:dx-strict@amber+strict", "ImpactCriterion", "Strict criterion", "amber+strict"),
        entity("source:dx-open", "Source", "Open report", year=2024),
        entity("source:dx-green", "Source", "Green report", "green", year=2024),
        entity("source:dx-withdrawn", "Source", "Withdrawn green report", "green"),
        entity("source:dx-amber@amber", "Source", "Amber report", "amber"),
        entity("source:dx-strict@amber+strict", "Source", "Strict report", "amber+strict"),
        entity("source:dx-red@red", "Source", "Red report", "red"),
        entity("institute:dx-a", "Institute", "Institute A"),
        entity("institute:dx-b", "Institute", "Institute B", "green"),
        entity("institute:dx-c@amber", "Institute", "Institute C", "amber"),
        entity(
            "threat:dx-flood",
            "Threat",
            "Dx flood",
            theme="Climate and natural disasters",
            malicious=False,
            likelihood="C",
            impact={"interest:dx-open": "C", "interest:dx-green": "D"},
            source_ids=["source:dx-open", "source:dx-green"],
            institute="institute:dx-a",
            reliability="B",
            credibility=2,
        ),
        entity(
            "threat:dx-cyber",
            "Threat",
            "Dx cyber attack",
            "green",
            malicious=True,
            likelihood="D",
            impact={"interest:dx-open": "B", "interest:dx-green": "C"},
        ),
        entity(
            "threat:dx-sabotage@amber",
            "Threat",
            "Dx sabotage",
            "amber",
            malicious=True,
            likelihood="B",
            impact={"interest:dx-open": "E", "interest:dx-amber@amber": "C"},
        ),
        entity("threat:dx-leak@red", "Threat", "Dx leak", "red", likelihood="E"),
        entity("actor:dx-state", "Actor", "Dx state", actor_type="state"),
        # threat intelligence: a technique, its sub-technique, malware, a campaign
        entity("capability:dx-phish", "Capability", "Dx phishing", external_ids=["T1566"]),
        entity("capability:dx-attach", "Capability", "Dx attachment", "green"),
        entity("capability:dx-implant@amber", "Capability", "Dx implant", "amber"),
        entity("campaign:dx-harbour@amber", "Campaign", "Dx harbour", "amber"),
        entity("vulnerability:dx-cve", "Vulnerability", "Dx CVE", external_ids=["CVE-2099-1"]),
        entity("countermeasure:dx-training", "Countermeasure", "Dx training", "green"),
        entity("actor:dx-crew", "Actor", "Dx crew", "green", actor_type="criminal"),
        entity(
            "actor:dx-apt@amber+strict",
            "Actor",
            "Dx APT",
            "amber+strict",
            actor_type="intrusion-set",
        ),
        entity(
            "vp:dx-power",
            "VitalProcess",
            "Dx power",
            category="A",
            source_ids=["source:dx-open"],
        ),
        entity(
            "vp:dx-water",
            "VitalProcess",
            "Dx water",
            category="A",
            aliases=["Dx drinkwater"],
            source_ids=["source:dx-open", "source:dx-withdrawn"],
        ),
        entity(
            "vp:dx-telecom",
            "VitalProcess",
            "Dx telecom",
            category="B",
            sector="telecom",
            ministry="EZK",
        ),
        entity("vp:dx-hospital", "VitalProcess", "Dx hospital", "green", category="A"),
        entity("vp:dx-old", "VitalProcess", "Dx old process", category="B"),
        entity("vp:dx-lonely", "VitalProcess", "Dx lonely process", category="B"),
        entity("vp:dx-hermit", "VitalProcess", "Dx hermit process", category="B"),
        entity("vp:dx-shadow@amber", "VitalProcess", "Dx shadow process", "amber", category="A"),
        entity("vp:dx-defence@red", "VitalProcess", "Dx defence", "red", category="A"),
        entity("org:dx-grid", "Organisation", "Dx grid operator", source_ids=["source:dx-green"]),
        entity("org:dx-front@amber", "Organisation", "Dx front company", "amber"),
        entity(
            "resource:dx-gallium",
            "Resource",
            "Dx gallium",
            resource_type="raw_material",
            substitutability="low",
        ),
        entity(
            "resource:dx-chips",
            "Resource",
            "Dx chips",
            resource_type="component",
            substitutability="medium",
        ),
        entity(
            "resource:dx-lithium", "Resource", "Dx lithium", "green", resource_type="raw_material"
        ),
        entity("resource:dx-diesel@amber", "Resource", "Dx diesel", "amber", resource_type="good"),
        entity(
            "country:dx-ruritania@amber",
            "Country",
            "Ruritania",
            "amber",
            iso2="XR",
            eu_member=False,
            flagged=True,
        ),
    ],
    "relations": [
        # chains of need that pass through hidden records
        relation("vp:dx-water", "DEPENDS_ON", "vp:dx-shadow@amber", buffer_hours=2),
        relation("vp:dx-shadow@amber", "DEPENDS_ON", "vp:dx-power", buffer_hours=1),
        relation("vp:dx-water", "DEPENDS_ON", "vp:dx-power", buffer_hours=12),
        relation("vp:dx-hospital", "DEPENDS_ON", "vp:dx-water", marking="green", buffer_hours=6),
        relation("vp:dx-hospital", "DEPENDS_ON", "vp:dx-power", "@amber", "amber", buffer_hours=1),
        relation("vp:dx-telecom", "DEPENDS_ON", "vp:dx-power", redundancy_group="energy"),
        relation(
            "vp:dx-telecom",
            "DEPENDS_ON",
            "resource:dx-diesel@amber",
            redundancy_group="energy",
            buffer_hours=48,
        ),
        relation("vp:dx-telecom", "DEPENDS_ON", "resource:dx-chips", strength=0.5, buffer_hours=24),
        relation("vp:dx-water", "DEPENDS_ON", "vp:dx-telecom", "@red", "red", buffer_hours=3),
        relation("vp:dx-defence@red", "DEPENDS_ON", "vp:dx-telecom"),
        relation("vp:dx-shadow@amber", "DEPENDS_ON", "vp:dx-lonely"),
        relation("vp:dx-defence@red", "DEPENDS_ON", "vp:dx-hermit"),
        relation("vp:dx-old", "DEPENDS_ON", "vp:dx-power", buffer_hours=5),
        relation("vp:dx-shadow@amber", "DEPENDS_ON", "vp:dx-old"),
        relation("org:dx-grid", "DEPENDS_ON", "resource:dx-diesel@amber", buffer_hours=24),
        # interests
        relation("vp:dx-water", "SAFEGUARDS", "interest:dx-open"),
        relation("vp:dx-shadow@amber", "SAFEGUARDS", "interest:dx-open"),
        relation("vp:dx-power", "SAFEGUARDS", "interest:dx-green", "@amber", "amber"),
        relation("vp:dx-hospital", "SAFEGUARDS", "interest:dx-green"),
        relation("vp:dx-telecom", "SAFEGUARDS", "interest:dx-open", marking="green"),
        relation("vp:dx-defence@red", "SAFEGUARDS", "interest:dx-red@red"),
        relation("vp:dx-old", "SAFEGUARDS", "interest:dx-open"),
        # threats and actors
        relation("threat:dx-flood", "DISRUPTS", "vp:dx-power"),
        relation("threat:dx-flood", "DISRUPTS", "vp:dx-shadow@amber"),
        relation("threat:dx-sabotage@amber", "DISRUPTS", "vp:dx-water"),
        relation("threat:dx-cyber", "DISRUPTS", "vp:dx-telecom", buffer_hours=1),
        relation(
            "threat:dx-flood", "DISRUPTS", "resource:dx-gallium", "@amber+strict", "amber+strict"
        ),
        relation("threat:dx-flood", "THREATENS", "interest:dx-open"),
        relation("threat:dx-flood", "THREATENS", "interest:dx-amber@amber"),
        relation("threat:dx-cyber", "THREATENS", "interest:dx-green"),
        relation("actor:dx-state", "POSES", "threat:dx-cyber"),
        relation("actor:dx-apt@amber+strict", "POSES", "threat:dx-flood"),
        relation("actor:dx-crew", "POSES", "threat:dx-flood"),
        # supply: shares at several markings
        relation(
            "resource:dx-gallium",
            "SOURCED_FROM",
            "country:CN",
            "y2023",
            share=0.6,
            year=2023,
            scope="world",
        ),
        relation(
            "resource:dx-gallium",
            "SOURCED_FROM",
            "country:DE",
            "y2023",
            "green",
            share=0.1,
            year=2023,
            scope="world",
        ),
        relation(
            "resource:dx-gallium",
            "SOURCED_FROM",
            "country:dx-ruritania@amber",
            "y2023@amber",
            "amber",
            share=0.2,
            year=2023,
            scope="world",
        ),
        relation(
            "resource:dx-gallium",
            "SOURCED_FROM",
            "country:US",
            "y2023@amber+strict",
            "amber+strict",
            share=0.05,
            year=2023,
            scope="world",
        ),
        relation(
            "resource:dx-gallium",
            "SOURCED_FROM",
            "country:CN",
            "y2022",
            share=0.4,
            year=2022,
            scope="world",
        ),
        relation(
            "resource:dx-gallium",
            "SOURCED_FROM",
            "country:CN",
            "y2022@red",
            "red",
            share=0.5,
            year=2022,
            scope="trade",
        ),
        relation(
            "resource:dx-lithium", "SOURCED_FROM", "country:CN", "y2023", share=0.7, year=2023
        ),
        relation("resource:dx-chips", "SOURCED_FROM", "country:US", "y2023", share=0.5, year=2023),
        relation(
            "resource:dx-chips",
            "SOURCED_FROM",
            "country:dx-ruritania@amber",
            "y2023@amber",
            "amber",
            share=0.4,
            year=2023,
        ),
        relation("resource:dx-gallium", "INPUT_TO", "resource:dx-chips"),
        relation("resource:dx-diesel@amber", "INPUT_TO", "resource:dx-chips"),
        relation("resource:dx-lithium", "INPUT_TO", "resource:dx-chips"),
        # organisations, places, sources, institutes
        relation("org:dx-grid", "OPERATES", "vp:dx-power"),
        relation("org:dx-front@amber", "OPERATES", "vp:dx-water"),
        relation("actor:dx-state", "CONTROLS", "org:dx-grid", marking="green"),
        relation("capability:dx-attach", "SUBTECHNIQUE_OF", "capability:dx-phish"),
        relation("capability:dx-implant@amber", "USES", "capability:dx-attach"),
        relation("actor:dx-state", "USES", "capability:dx-phish"),
        relation("actor:dx-crew", "USES", "capability:dx-implant@amber"),
        relation("campaign:dx-harbour@amber", "USES", "capability:dx-attach"),
        relation("campaign:dx-harbour@amber", "ATTRIBUTED_TO", "actor:dx-crew"),
        relation("campaign:dx-harbour@amber", "TARGETS", "org:dx-grid"),
        relation("actor:dx-state", "TARGETS", "vp:dx-water", key="@amber", marking="amber"),
        relation("actor:dx-crew", "TARGETS", "org:dx-front@amber"),
        relation("capability:dx-implant@amber", "EXPLOITS", "vulnerability:dx-cve"),
        relation("countermeasure:dx-training", "MITIGATES", "capability:dx-phish"),
        relation("countermeasure:dx-training", "DETECTS", "capability:dx-attach", marking="green"),
        relation("country:dx-ruritania@amber", "CONTROLS", "org:dx-front@amber"),
        relation("org:dx-grid", "LOCATED_IN", "country:NL"),
        relation("org:dx-front@amber", "LOCATED_IN", "country:dx-ruritania@amber"),
        relation("vp:dx-power", "CITES", "source:dx-open"),
        relation("vp:dx-power", "CITES", "source:dx-amber@amber"),
        relation("threat:dx-flood", "CITES", "source:dx-green", source_ids=["source:dx-open"]),
        # hidden citations of visible records are relations in the namespace of their marking
        relation("threat:dx-flood", "CITES", "source:dx-amber@amber", "@amber", "amber"),
        relation("threat:dx-flood", "CITES", "source:dx-red@red", "@red", "red"),
        relation(
            "threat:dx-cyber",
            "CITES",
            "source:dx-strict@amber+strict",
            "@amber+strict",
            "amber+strict",
        ),
        relation("ic:dx-open", "MEASURES", "interest:dx-open"),
        relation("ic:dx-strict@amber+strict", "MEASURES", "interest:dx-open"),
        relation("institute:dx-b", "MEMBER_OF", "institute:dx-a", marking="green"),
        relation("institute:dx-c@amber", "MEMBER_OF", "institute:dx-a"),
    ],
}
"""Records of every kind and relations of every type at every marking, in their namespaces."""


@dataclass(frozen=True)
class Step:
    """One write of the history: a load (one transaction) or a delete (one transaction), or a
    submission, an acceptance or a rejection through the API."""

    label: str
    load: Bundle | None = None
    mode: WriteMode = WriteMode.MERGE
    delete_entity: str | None = None
    delete_relation: Ref | None = None
    submit: Bundle | None = None
    """A bundle submitted through `POST /submissions` by `key`, marked `marking`."""
    accept: str | None = None
    """The label of a submission accepted through the API by `key`."""
    reject: str | None = None
    key: str = ""
    marking: Tlp = Tlp.CLEAR
    """The marking of a submission (the highest its bundle touches), and of its review."""
    actor: str = "analyst:history"

    def part_for(self, clearance: Tlp | None, marks: Markings) -> Step | None:
        """This step as written to the store of `clearance` (None: the mixed store, whole);
        None when nothing of it is visible there."""
        if clearance is None:
            return self
        if self.load is not None:
            part = marks.restrict(self.load, clearance)
            return replace(self, load=part) if part else None
        if self.delete_entity is not None:
            return None if marks.entity_hidden(self.delete_entity, clearance) else self
        if self.delete_relation is not None:
            return None if marks.relation_hidden(self.delete_relation, clearance) else self
        return self if clearance.allows(self.marking) else None


def reference_bundle() -> Bundle:
    """The reference knowledge base as one in-memory bundle."""
    bundle: Bundle = {"entities": [], "relations": []}
    for item in read_paths([reference_bundle_path()]):
        assert isinstance(item, RawRecord), item
        bundle["entities" if item.side == "entity" else "relations"].append(item.data)
    return bundle


def submission(*records: dict[str, Any]) -> Bundle:
    """A submitted bundle of entity and relation records."""
    return {
        "entities": [r for r in records if "id" in r],
        "relations": [r for r in records if "source" in r],
    }


HISTORY: list[Step] = [
    Step("reference", load=reference_bundle(), actor="cli:reference"),
    Step("base", load=BASE),
    Step(
        "update-visible",
        load={
            "entities": [
                entity("threat:dx-flood", "Threat", "Dx flood", likelihood="D"),
                entity("vp:dx-power", "VitalProcess", "Dx power", description="Transmission"),
                entity("vp:dx-shadow@amber", "VitalProcess", "Dx shadow process v2"),
            ],
            "relations": [
                relation("vp:dx-hospital", "DEPENDS_ON", "vp:dx-water", buffer_hours=8),
                relation("vp:dx-water", "DEPENDS_ON", "vp:dx-shadow@amber", buffer_hours=3),
            ],
        },
    ),
    Step(
        "red-only",
        load={
            "entities": [
                entity("vp:dx-defence@red", "VitalProcess", "Dx defence v2"),
                entity("actor:dx-mole@red", "Actor", "Dx mole", "red"),
            ],
            "relations": [relation("actor:dx-mole@red", "POSES", "threat:dx-leak@red")],
        },
        actor="analyst:red",
    ),
    Step(
        "amber-only",
        load={
            "entities": [entity("vp:dx-shadow@amber", "VitalProcess", "Dx shadow process v3")],
            "relations": [
                relation("vp:dx-shadow@amber", "DEPENDS_ON", "resource:dx-chips", buffer_hours=4),
                relation(
                    "vp:dx-water", "DEPENDS_ON", "vp:dx-power", "@amber", "amber", buffer_hours=1
                ),
            ],
        },
        actor="analyst:amber",
    ),
    Step(
        "replace-telecom",
        load={"entities": [entity("vp:dx-telecom", "VitalProcess", "Dx telecom", category="B")]},
        mode=WriteMode.REPLACE,
    ),
    Step("delete-visible-relation", delete_relation=("vp:dx-old", "DEPENDS_ON", "vp:dx-power", "")),
    Step(
        "delete-hidden-relation",
        delete_relation=("vp:dx-hospital", "DEPENDS_ON", "vp:dx-power", "@amber"),
    ),
    Step("delete-entity-with-hidden-relations", delete_entity="vp:dx-old"),
    Step("delete-hidden-entity", delete_entity="actor:dx-apt@amber+strict"),
    Step("withdraw-cited-green-source", delete_entity="source:dx-withdrawn"),
    Step(
        "mixed-shares",
        load={
            "entities": [],
            "relations": [
                relation(
                    "resource:dx-gallium",
                    "SOURCED_FROM",
                    "country:CN",
                    "y2024",
                    share=0.5,
                    year=2024,
                    scope="world",
                ),
                relation(
                    "resource:dx-gallium",
                    "SOURCED_FROM",
                    "country:FR",
                    "y2024",
                    "green",
                    share=0.2,
                    year=2024,
                    scope="world",
                ),
                relation(
                    "resource:dx-gallium",
                    "SOURCED_FROM",
                    "country:dx-ruritania@amber",
                    "y2024@amber",
                    "amber",
                    share=0.25,
                    year=2024,
                    scope="world",
                ),
                relation(
                    "resource:dx-gallium",
                    "SOURCED_FROM",
                    "country:US",
                    "y2024@red",
                    "red",
                    share=0.05,
                    year=2024,
                    scope="world",
                ),
            ],
        },
    ),
    Step(
        "submit-clear",
        submit=submission(
            entity("org:dx-utility", "Organisation", "Dx utility"),
            relation("org:dx-utility", "OPERATES", "vp:dx-water"),
        ),
        key="contributor-green",
    ),
    Step(
        "submit-green",
        submit=submission(entity("org:dx-lab", "Organisation", "Dx lab", "green")),
        key="contributor-green",
        marking=Tlp.GREEN,
    ),
    Step(
        "submit-amber",
        submit=submission(
            entity("org:dx-cell@amber", "Organisation", "Dx cell", "amber"),
            relation("org:dx-cell@amber", "OPERATES", "vp:dx-water"),
        ),
        key="contributor-amber",
        marking=Tlp.AMBER,
    ),
    Step(
        "submit-red",
        submit=submission(entity("org:dx-ring@red", "Organisation", "Dx ring", "red")),
        key="contributor-red",
        marking=Tlp.RED,
    ),
    Step(
        "submit-strict-rejected",
        submit=submission(
            entity(
                "org:dx-shell@amber+strict",
                "Organisation",
                "Dx shell",
                "amber+strict",
                source_ids=["source:dx-strict@amber+strict"],
            )
        ),
        key="contributor-amber+strict",
        marking=Tlp.AMBER_STRICT,
    ),
    Step("accept-clear", accept="submit-clear", key="reviewer-green"),
    Step("accept-amber", accept="submit-amber", key="reviewer-amber", marking=Tlp.AMBER),
    Step(
        "reject-strict",
        reject="submit-strict-rejected",
        key="reviewer-red",
        marking=Tlp.AMBER_STRICT,
    ),
]
"""The writes both stores are built from, in order."""


# -- what each clearance may see ----------------------------------------------------------------


@dataclass
class Markings:
    """The marking of every record the history writes (markings never change in it)."""

    entities: dict[str, Tlp] = field(default_factory=dict)
    relations: dict[Ref, Tlp] = field(default_factory=dict)

    @classmethod
    def of(cls, steps: list[Step]) -> Markings:
        """Learn every record's marking from the loads and submissions of `steps`."""
        marks = cls()
        for step in steps:
            for bundle in (step.load, step.submit):
                for record in (bundle or {}).get("entities", []):
                    marks.entities.setdefault(record["id"], marks.marking_of(record, record["id"]))
                for record in (bundle or {}).get("relations", []):
                    ref = ref_of(record)
                    marks.relations.setdefault(ref, marks.marking_of(record, ref[3]))
        return marks

    @staticmethod
    def marking_of(record: dict[str, Any], identity: str) -> Tlp:
        stated = record.get("marking")
        return Tlp(stated) if stated else namespace_of(identity) or Tlp.CLEAR

    def entity_hidden(self, entity_id: str, clearance: Tlp) -> bool:
        """True when a key of `clearance` may not see this entity (or any of that id)."""
        marking = self.entities.get(entity_id) or namespace_of(entity_id) or Tlp.CLEAR
        return not clearance.allows(marking)

    def relation_hidden(self, ref: Ref, clearance: Tlp) -> bool:
        """True when the relation, or one of its ends, is above `clearance`."""
        marking = self.relations.get(ref) or namespace_of(ref[3]) or Tlp.CLEAR
        return (
            not clearance.allows(marking)
            or self.entity_hidden(ref[0], clearance)
            or self.entity_hidden(ref[2], clearance)
        )

    def restrict(self, bundle: Bundle, clearance: Tlp) -> Bundle | None:
        """The part of `bundle` a store of `clearance` holds (None when nothing)."""
        entities = [
            self.redacted(r, clearance)
            for r in bundle.get("entities", [])
            if not self.entity_hidden(r["id"], clearance)
        ]
        relations = [
            self.redacted(r, clearance)
            for r in bundle.get("relations", [])
            if not self.relation_hidden(ref_of(r), clearance)
        ]
        return {"entities": entities, "relations": relations} if entities or relations else None

    def redacted(self, record: dict[str, Any], clearance: Tlp) -> dict[str, Any]:
        """A record without its references to records `clearance` may not see; a reference
        list left empty is given as null, so that a merge removes it as the mixed store's
        reader no longer sees it."""
        out = dict(record)
        hidden = self.entity_hidden
        cited = record.get("source_ids")
        if isinstance(cited, list):
            kept = [i for i in cited if not hidden(i, clearance)]
            if len(kept) != len(cited):
                out["source_ids"] = kept or None
        impact = record.get("impact")
        if isinstance(impact, dict):
            rated = {i: c for i, c in impact.items() if not hidden(i, clearance)}
            if len(rated) != len(impact):
                out["impact"] = rated or None
        institute = record.get("institute")
        if isinstance(institute, str) and hidden(institute, clearance):
            out["institute"] = None
        return out


def ref_of(record: dict[str, Any]) -> Ref:
    """The identity of a relation record."""
    return (record["source"], record["type"], record["target"], record.get("key") or "")


# -- one side: a store behind a server ------------------------------------------------------


STORE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
ANY_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?")
"""A time in any form an answer gives (a report says when it was made to the minute)."""
PLACEHOLDER = re.compile(r"<<(\w+):([^>]+)>>")
REVISION_TAG = re.compile(r'^"rev-\d+"$')
HEADERS = ("content-type", "etag", "location", "content-disposition", "retry-after")
"""Response headers compared (the rest are the server's: date, length, CSP...)."""


@dataclass
class Answer:
    """One normalised answer: what the two sides must agree on."""

    status: int
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Call:
    """One request, the same on both sides: placeholders `<<kind:label>>` in the path,
    parameters, body or headers are filled in per side (`Side.fill`)."""

    method: str
    path: str
    params: Any = None
    json: Any = None
    role: Role | None = Role.READER
    """The role of the key sent (None: no key); its clearance is the case's."""
    headers: dict[str, str] = field(default_factory=dict)
    operation: str = ""
    """`METHOD /template` of the operation this call exercises (default: method and path)."""
    name: str = ""
    only: tuple[Tlp, ...] = ()
    """The clearances this call is asked at (all when empty)."""

    @property
    def covers(self) -> str:
        return self.operation or f"{self.method} {self.path}"

    @property
    def id(self) -> str:
        text = self.name or f"{self.method} {self.path}" + (
            f"?{self.params}" if self.params else ""
        )
        return text.replace(" ", "_")


@dataclass
class Side:
    """A store (mixed, or filtered to a clearance) behind a real server, with its keys."""

    name: str
    clearance: Tlp | None
    home: Path
    store: SqliteStore
    keys: KeyStore
    url: str
    http: httpx.Client
    moments: list[tuple[str, str]] = field(default_factory=list)
    opaque: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    """Opaque ids by label: `key:<label>` and `sub:<label>`."""
    fallback: dict[str, str] = field(default_factory=dict)
    """The mixed side's opaque ids by label: a filtered side sends those it does not hold
    (a hidden key's or submission's id) literally, as one would who had learnt it."""
    stale: bool = False
    """True once a write this side could not take went to the others (never compared again)."""
    _opaque_pattern: re.Pattern[str] | None = None

    def holds_key(self, clearance: Tlp) -> bool:
        """True when this side holds keys of `clearance`: those at or below its own, and
        the writers' green below green (no key of a lower clearance can see a key or a
        submission, and the clear records some of them write must be written here too)."""
        return self.clearance is None or clearance.level <= max(self.clearance.level, WRITER.level)

    # moments: the times writes happen, so that stored times can be named

    def moment(self, label: str) -> None:
        """Mark the start of a write (made or skipped here) named `label`."""
        time.sleep(0.002)
        self.moments.append((now(), label))
        time.sleep(0.002)

    def when(self, stamp: str) -> str:
        """The label of the write a store time belongs to; other times are just times."""
        if not STORE_TIME.fullmatch(stamp):
            return "<time>"
        at = bisect.bisect_right([m[0] for m in self.moments], stamp)
        return f"<at:{self.moments[at - 1][1]}>" if at else "<before>"

    def time_of(self, label: str) -> str:
        """The time of moment `label` (for `as_of` and `since`)."""
        return next(t for t, name in self.moments if name == label)

    # keys and other opaque ids

    def add_key(self, label: str, role: Role, clearance: Tlp) -> None:
        made = self.keys.create(role, clearance, label)
        self.secrets[label] = made.secret
        self.name_opaque(made.info.key_id, f"key:{label}")

    def adopt(self, mixed: Side) -> None:
        """Know the mixed side's opaque ids by name, to send and to recognise them."""
        self.fallback = mixed.ids
        for opaque, name in mixed.opaque.items():
            self.opaque.setdefault(opaque, name)
        self._opaque_pattern = None

    def name_opaque(self, opaque: str, label: str) -> None:
        self.opaque[opaque] = f"<{label}>"
        self.ids[label] = opaque
        self._opaque_pattern = None

    def fill(self, value: Any) -> Any:
        """`value` with its placeholders filled in for this side: `<<as_of:label>>` (the
        time of a moment), `<<key:label>>` and `<<sub:label>>` (opaque ids)."""
        if isinstance(value, str):

            def one(match: re.Match[str]) -> str:
                kind, label = match.groups()
                if kind == "as_of":
                    return self.time_of(label)
                name = f"{kind}:{label}"
                return self.ids.get(name) or self.fallback[name]

            return PLACEHOLDER.sub(one, value)
        if isinstance(value, dict):
            return {self.fill(k): self.fill(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.fill(v) for v in value)
        return value

    # asking

    def request(self, call: Call, clearance: Tlp) -> httpx.Response:
        """Send `call` with a key of its role and `clearance` (a reader's where no writer
        may have so low a clearance)."""
        headers = {k: self.fill(v) for k, v in call.headers.items()}
        if call.role is not None:
            headers["X-API-Key"] = self.secrets[key_label(call.role, clearance)]
        params = as_pairs(self.fill(call.params))
        return self.http.request(
            call.method,
            self.fill(call.path),
            params=params,
            json=self.fill(call.json),
            headers=headers,
        )

    def ask(self, call: Call, clearance: Tlp, reply: httpx.Response | None = None) -> Answer:
        """The normalised answer to `call` (sent now unless its `reply` is given); a listing
        is followed cursor by cursor to its end and answered as its pages (each saying
        whether a cursor followed it)."""
        assert not self.stale, f"{self.name} missed writes: run the differential tests in order"
        reply = reply if reply is not None else self.request(call, clearance)
        answer = self.normalise(reply)
        cursor = next_cursor(reply)
        if cursor is None:
            answer.body = cursorless(answer.body)
            return answer
        pages = [cursorless(answer.body)]
        while cursor is not None:
            assert len(pages) < 500, (self.name, call)
            params = [(k, v) for k, v in as_pairs(call.params) if k != "cursor"]
            following = replace(call, params=[*params, ("cursor", cursor)])
            reply = self.request(following, clearance)
            page = self.normalise(reply)
            assert page.status == 200, (self.name, call, page)
            pages.append(cursorless(page.body))
            cursor = next_cursor(reply)
        answer.body = {"pages": pages}
        return answer

    def normalise(self, reply: httpx.Response) -> Answer:
        """Status, meaningful headers and body of a reply, with opaque ids and times named."""
        content_type = reply.headers.get("content-type", "")
        body: Any
        parsed: Any = None
        if "json" in content_type:
            parsed = reply.json()
            body = self.clean(parsed)
        elif content_type.startswith(("text/", "image/svg")) or "+xml" in content_type:
            body = self.clean(reply.text)
        else:
            body = {"bytes": len(reply.content), "sha": hash_bytes(reply.content)}
        headers = {}
        for name in HEADERS:
            value = reply.headers.get(name)
            if value is None:
                continue
            if name == "etag" and not REVISION_TAG.match(value):
                value = "<etag of the answer>" if value == etag(parsed) else value
            headers[name] = self.clean(value)
        if "set-cookie" in reply.headers:
            headers["set-cookie"] = "<cookie>"
        return Answer(reply.status_code, headers, body)

    def clean(self, value: Any) -> Any:
        """Times named by their write, opaque ids by their label, everywhere in `value`."""
        if isinstance(value, str):
            text = ANY_TIME.sub(lambda m: self.when(m.group()), value)
            if self.opaque:
                if self._opaque_pattern is None:
                    names = sorted(self.opaque, key=len, reverse=True)
                    self._opaque_pattern = re.compile("|".join(map(re.escape, names)))
                text = self._opaque_pattern.sub(lambda m: self.opaque[m.group()], text)
            return text
        if isinstance(value, dict):
            return {self.clean(k): self.clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.clean(v) for v in value]
        return value


def as_pairs(params: Any) -> list[tuple[str, Any]]:
    """Query parameters as (name, value) pairs (a dict, pairs, or None)."""
    if not params:
        return []
    return list(params.items()) if isinstance(params, dict) else [tuple(p) for p in params]


def next_cursor(reply: httpx.Response) -> str | None:
    """The `next_cursor` of a JSON listing, or None."""
    if "json" not in reply.headers.get("content-type", "") or reply.status_code != 200:
        return None
    body = reply.json()
    cursor = body.get("next_cursor") if isinstance(body, dict) else None
    return cursor if isinstance(cursor, str) else None


def cursorless(body: Any) -> Any:
    """A page with its opaque cursor replaced by whether there is one."""
    if isinstance(body, dict) and "next_cursor" in body:
        return {**body, "next_cursor": body["next_cursor"] is not None}
    return body


def hash_bytes(content: bytes) -> str:
    """A short digest of bytes that are not text (a PNG)."""
    return hashlib.sha256(content).hexdigest()[:16]


def key_label(role: Role, clearance: Tlp) -> str:
    """The label of the fleet's key of `role` and `clearance` (a reader's below green)."""
    if role is not Role.READER and clearance.level < WRITER.level:
        role = Role.READER
    return f"{role.value}-{clearance.value}"


@contextmanager
def open_side(folder: Path, name: str, clearance: Tlp | None) -> Iterator[Side]:
    """An empty store in `folder` behind a real server on 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(Settings(home=folder).sqlite_path)
    app = create_app(store, Settings(home=folder))
    try:
        with background_server(app) as url, httpx.Client(base_url=url, timeout=60) as http:
            yield Side(name, clearance, folder, store, app.state.keys, url, http)
    finally:
        store.close()


# -- the fleet: a mixed store and filtered stores -------------------------------------------


@dataclass
class Fleet:
    """The mixed side and one filtered side per clearance, built from the same history."""

    mixed: Side
    filtered: dict[Tlp, Side]
    marks: Markings

    @property
    def sides(self) -> list[Side]:
        return [self.mixed, *self.filtered.values()]

    def key(self, label: str, role: Role, clearance: Tlp) -> None:
        """A key on every side that holds its clearance."""
        for side in self.sides:
            if side.holds_key(clearance):
                side.add_key(label, role, clearance)

    def moment(self, label: str) -> None:
        """A write named `label` is about to happen (on the sides that see it)."""
        for side in self.sides:
            side.moment(label)

    def step(self, step: Step) -> None:
        """Apply one history step: whole to the mixed side, its visible part elsewhere."""
        self.moment(step.label)
        for side in self.sides:
            side.fallback = self.mixed.ids
            part = step.part_for(side.clearance, self.marks)
            if part is not None:
                apply(side, part)

    def writers(self, clearance: Tlp) -> list[Side]:
        """The filtered sides that a write by a key of `clearance` goes to: those holding
        every record such a key may write. The others are stale from then on (a store that
        missed a write can no longer stand for the mixed one)."""
        live = []
        for held, side in self.filtered.items():
            if held.level >= clearance.level:
                live.append(side)
            else:
                side.stale = True
        return live

    def write(
        self,
        call: Call,
        clearance: Tlp,
        learn: Callable[[Side, httpx.Response], None] | None = None,
    ) -> list[Answer]:
        """Send a write to the mixed side and every filtered side that holds what it may
        write, at one moment named after it; `learn` names the opaque ids of each reply
        first; fail unless every answer is the mixed one. The answers, mixed first."""
        sides = [self.mixed, *self.writers(clearance)]
        for side in sides:
            side.moment(call.id)
        replies = [side.request(call, clearance) for side in sides]
        if learn is not None:
            for side, reply in zip(sides, replies, strict=True):
                learn(side, reply)
        answers = [
            side.ask(call, clearance, reply) for side, reply in zip(sides, replies, strict=True)
        ]
        for side, answer in zip(sides[1:], answers[1:], strict=True):
            assert_same(
                answers[0], answer, f"{call.id} by a {clearance.value} key, against {side.name}"
            )
        return answers

    def compare(self, call: Call, clearance: Tlp) -> Answer:
        """Ask the mixed side and the filtered side of `clearance`; fail on any difference."""
        return compare(self.mixed, self.filtered[clearance], call, clearance)


def apply(side: Side, step: Step) -> None:
    """One step on one side: exactly one write transaction (or none for a submission)."""
    store = side.store
    if step.load is not None:
        load_bundle(store, step.load, by=Attribution(step.actor, "load"), mode=step.mode)
    elif step.delete_entity is not None:
        gone = store.delete_entity(step.delete_entity, Tlp.RED, cascade=True, actor=step.actor)
        assert gone is not None, (side.name, step.label)
    elif step.delete_relation is not None:
        assert store.delete_relation(step.delete_relation, Tlp.RED, step.actor), step.label
    elif step.submit is not None and step.key not in side.secrets:
        # a side that does not hold the contributor's key holds the submission as it was
        # made: by that key (named as on the mixed side), checked at its clearance
        queue = SubmissionQueue(side.home / "submissions.sqlite")
        try:
            made = queue.submit(
                store,
                step.submit,
                f"key:{side.fallback[f'key:{step.key}']}",
                "institute:dx-a",
                step.label,
                key_clearance(step.key),
            )
        finally:
            queue.close()
        assert made.marking == step.marking, (side.name, step.label, made.marking)
        side.name_opaque(made.id, f"sub:{step.label}")
    elif step.submit is not None:
        reply = side.http.post(
            "/submissions",
            json={"bundle": step.submit, "institute": "institute:dx-a", "note": step.label},
            headers={"X-API-Key": side.secrets[step.key]},
        )
        assert reply.status_code == 201, (side.name, step.label, reply.text)
        assert reply.json()["marking"] == step.marking.value, reply.text
        side.name_opaque(reply.json()["id"], f"sub:{step.label}")
    else:
        label = step.accept or step.reject
        assert label is not None
        verb = "accept" if step.accept else "reject"
        reply = side.http.post(
            f"/submissions/{side.ids[f'sub:{label}']}/{verb}",
            json=None if step.accept else {"reason": "cites nothing checkable"},
            headers={"X-API-Key": side.secrets[step.key]},
        )
        assert reply.status_code == 200, (side.name, step.label, reply.text)


def key_clearance(label: str) -> Tlp:
    """The clearance in a key's label (`reviewer-amber+strict`: amber+strict)."""
    return Tlp(label.split("-", 1)[1])


FLEET_KEYS: list[tuple[str, Role]] = [
    *[(key_label(Role.READER, c), Role.READER) for c in (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER)],
    *[(key_label(r, c), r) for r in ROLES[1:] for c in (Tlp.GREEN, Tlp.AMBER)],
    ("contributor-amber+strict", Role.CONTRIBUTOR),
    ("contributor-red", Role.CONTRIBUTOR),
    ("reviewer-red", Role.REVIEWER),
    ("revoked-green", Role.READER),
]
"""The keys of a fleet: of every role at the clearances compared, the contributors and a
reviewer above them, and a revoked one."""


@contextmanager
def fleet_of(folder: Path, clearances: list[Tlp], steps: list[Step] = HISTORY) -> Iterator[Fleet]:
    """A mixed side and a filtered side per clearance, every step of `steps` applied."""
    with ExitStack() as stack:
        mixed = stack.enter_context(open_side(folder / "mixed", "mixed", None))
        filtered = {
            c: stack.enter_context(open_side(folder / c.value, f"filtered-{c.value}", c))
            for c in clearances
        }
        fleet = Fleet(mixed, filtered, Markings.of(steps))
        for label, role in FLEET_KEYS:
            fleet.key(label, role, key_clearance(label))
        for side in fleet.sides:
            side.keys.revoke(side.ids["key:revoked-green"])
        for step in steps:
            fleet.step(step)
        fleet.moment("built")
        for side in filtered.values():
            side.adopt(mixed)
        yield fleet


# -- comparing ------------------------------------------------------------------------------


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """Where two normalised answers first differ, and how (None when they agree)."""
    if type(a) is not type(b):
        return f"{where or '.'}: {short(a)} != {short(b)}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                side = "mixed" if k in a else "filtered"
                return f"{where}.{k}: only in the {side} answer: {short(a.get(k, b.get(k)))}"
            found = first_difference(a[k], b[k], f"{where}.{k}")
            if found:
                return found
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            found = first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        if len(a) != len(b):
            longer, side = (a, "mixed") if len(a) > len(b) else (b, "filtered")
            extra = longer[min(len(a), len(b))]
            return f"{where}: {len(a)} != {len(b)} items; first extra ({side}): {short(extra)}"
        return None
    if isinstance(a, str) and a != b:
        at = next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
        )
        around = slice(max(0, at - 80), at + 80)
        return f"{where}: text differs at {at}: {a[around]!r} != {b[around]!r}"
    return None if a == b else f"{where or '.'}: {short(a)} != {short(b)}"


def short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) < 300 else text[:300] + "..."


def assert_same(mixed: Answer, filtered: Answer, what: str) -> None:
    """Fail with the first difference when the two answers differ."""
    for part in ("status", "headers", "body"):
        found = first_difference(getattr(mixed, part), getattr(filtered, part), part)
        if found:
            raise AssertionError(
                f"{what}: the mixed and the filtered store answer differently: {found}"
            )


def compare(mixed: Side, filtered: Side, call: Call, clearance: Tlp) -> Answer:
    """Ask both sides; fail on any difference; the (mixed) answer."""
    a, b = mixed.ask(call, clearance), filtered.ask(call, clearance)
    assert_same(a, b, f"{call.method} {call.path} {call.params or ''} at {clearance.value}")
    return a
