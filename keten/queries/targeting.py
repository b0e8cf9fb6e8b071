"""Which vital processes are targeted by the actors that use a technique (or malware, a tool).

Threat intelligence says who uses what (USES) and who aims at what (TARGETS); the model says
which organisations operate which vital processes (OPERATES) and which threats disrupt them
(DISRUPTS). This joins the two on the caller's projection, so it answers alike on both
stores and sees only what the clearance may see:

1. the capability, and its sub-techniques (SUBTECHNIQUE_OF);
2. the malware and tools that use them, and every actor, campaign or threat that uses any of
   these (USES): the *users*;
3. a campaign's users count with the actors it is attributed to (ATTRIBUTED_TO), and an
   actor's campaigns target what the actor targets;
4. a vital process is targeted when one of them TARGETS it, TARGETS an organisation that
   OPERATES it, or (an actor) POSES a threat that DISRUPTS it.

Intent is not a disruption: none of these relations runs in the cascade; use the cascade
from a threat for what a disruption sets off.

>>> from keten.graph.store import EntityRow, RelationRow
>>> from keten.graph.projection import build_projection
>>> class Store:
...     def revision(self, clearance): return 1
...     def iter_entities(self, clearance): return iter([EntityRow("actor:x", "Actor", "X"),
...         EntityRow("capability:t1", "Capability", "Phishing"),
...         EntityRow("vp:grid", "VitalProcess", "Grid")])
...     def iter_relations(self, clearance): return iter([
...         RelationRow("actor:x", "USES", "capability:t1"),
...         RelationRow("actor:x", "TARGETS", "vp:grid")])
>>> result = targeted_processes(build_projection(Store(), Tlp.RED), "capability:t1")
>>> [(p.id, p.by) for p in result.processes]
[('vp:grid', ['actor:x'])]
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

import numpy as np
from pydantic import BaseModel, Field

from keten.graph.projection import TYPE_CODE, Projection
from keten.graph.store import GraphStore
from keten.queries.errors import AnalysisInputError, UnknownEntityError
from keten.queries.risk import entities_of_kind
from keten.schema.markings import Tlp

USER_KINDS = frozenset({"Actor", "Campaign", "Threat"})


class TargetedProcess(BaseModel):
    """A vital process some user of the capability aims at, with who and how."""

    id: str
    name: str
    by: Annotated[list[str], Field(description="Actors, campaigns or threats that target it.")]
    how: Annotated[
        list[str],
        Field(description="TARGETS, or the organisation (OPERATES) or threat (DISRUPTS) between."),
    ]


class TargetingResult(BaseModel):
    """The users of a capability and the vital processes they target."""

    capability: str
    techniques: list[str]
    users: Annotated[list[str], Field(description="Actors, campaigns, threats that use it.")]
    processes: list[TargetedProcess]
    revision: int


def edges(projection: Projection, rel_type: str) -> tuple[np.ndarray, np.ndarray]:
    """(sources, targets) of the projection's relations of one type."""
    code = TYPE_CODE[rel_type]
    mask = projection.rel_type == code
    return projection.rel_source[mask], projection.rel_target[mask]


def outgoing(projection: Projection, rel_type: str, sources: set[int]) -> dict[int, set[int]]:
    """Targets of `rel_type` relations from each of `sources`."""
    tails, heads = edges(projection, rel_type)
    found: dict[int, set[int]] = defaultdict(set)
    keep = np.isin(tails, np.fromiter(sources, dtype=np.int64, count=len(sources)))
    for tail, head in zip(tails[keep].tolist(), heads[keep].tolist(), strict=True):
        found[tail].add(head)
    return found


def incoming(projection: Projection, rel_type: str, targets: set[int]) -> set[int]:
    """Sources of `rel_type` relations into any of `targets`."""
    tails, heads = edges(projection, rel_type)
    keep = np.isin(heads, np.fromiter(targets, dtype=np.int64, count=len(targets)))
    return set(tails[keep].tolist())


def targeted_processes(projection: Projection, capability: str) -> TargetingResult:
    """The vital processes targeted by the users of `capability` (a keten id; see
    `resolve_capability` for ATT&CK and STIX ids); see the module for the rule."""
    start = projection.index.get(capability)
    if start is None:
        raise UnknownEntityError([capability])
    if projection.kinds[start] != "Capability":
        raise AnalysisInputError(f"{capability} is a {projection.kinds[start]}, not a Capability")
    kinds = projection.kinds
    techniques = {start} | incoming(projection, "SUBTECHNIQUE_OF", {start})
    used = techniques | {
        i for i in incoming(projection, "USES", techniques) if kinds[i] == "Capability"
    }
    users = {i for i in incoming(projection, "USES", used) if kinds[i] in USER_KINDS}
    campaigns = {i for i in users if kinds[i] == "Campaign"}
    actors = {i for i in users if kinds[i] == "Actor"}
    for targets in outgoing(projection, "ATTRIBUTED_TO", campaigns).values():
        actors |= targets
    campaigns |= incoming(projection, "ATTRIBUTED_TO", actors) if actors else set()
    aimers = users | actors | campaigns
    hits: dict[int, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))

    def hit(process: int, who: int, how: str) -> None:
        hits[process][0].add(projection.ids[who])
        hits[process][1].add(how)

    aimed = outgoing(projection, "TARGETS", aimers) if aimers else {}
    organisations = {t for ts in aimed.values() for t in ts if kinds[t] == "Organisation"}
    operated = outgoing(projection, "OPERATES", organisations) if organisations else {}
    posed = outgoing(projection, "POSES", actors) if actors else {}
    threats = {t for ts in posed.values() for t in ts}
    disrupted = outgoing(projection, "DISRUPTS", threats) if threats else {}
    for who, targets in aimed.items():
        for target in targets:
            if kinds[target] == "VitalProcess":
                hit(target, who, "TARGETS")
            for process in operated.get(target, ()):
                if kinds[process] == "VitalProcess":
                    hit(process, who, f"TARGETS {projection.ids[target]} OPERATES")
    for who, posed_threats in posed.items():
        for threat in posed_threats:
            for process in disrupted.get(threat, ()):
                if kinds[process] == "VitalProcess":
                    hit(process, who, f"POSES {projection.ids[threat]} DISRUPTS")
    processes = [
        TargetedProcess(
            id=projection.ids[p], name=projection.names[p], by=sorted(by), how=sorted(how)
        )
        for p, (by, how) in hits.items()
    ]
    processes.sort(key=lambda p: (-len(p.by), p.id))
    return TargetingResult(
        capability=capability,
        techniques=sorted(projection.ids[i] for i in techniques),
        users=sorted(projection.ids[i] for i in users),
        processes=processes,
        revision=projection.revision,
    )


def resolve_capability(store: GraphStore, clearance: Tlp, name: str) -> str:
    """The keten id of a capability named by its keten id, STIX id or an external id such as
    ATT&CK's ``T1566`` (case aside), among what the clearance may see; `name` itself when
    nothing visible answers (the analysis then says it is unknown)."""
    if ":" in name:
        return name
    wanted = name.strip().lower()
    for row in entities_of_kind(store, "Capability", clearance):
        ids = [row.props.get("stix_id"), *(row.props.get("external_ids") or [])]
        if any(isinstance(i, str) and i.lower() == wanted for i in ids):
            return row.id
    return name
