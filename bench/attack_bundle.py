"""An ATT&CK-shaped STIX 2.1 bundle of any size, for benches and tests that cannot download one.

MITRE publishes ATT&CK Enterprise as one STIX bundle; this makes a bundle with the same type
mix, the same relationship mix and the same kinds of properties, scaled to `objects`. The mix
is ATT&CK Enterprise v18.1 (24,771 objects, counted by type and by relationship type, source
and target type): 20,048 relationships, of which 9,836 are malware `uses` attack-pattern;
835 attack patterns (132 revoked), 696 malware, 91 tools, 187 intrusion sets, 52 campaigns,
268 courses of action, ATT&CK's detection objects (analytics, detection strategies, data
components and sources), 14 tactics and a matrix. Like the real bundle, objects carry ATT&CK
ids in ``external_references`` (T1566, T1566.001, S0001, G0001, C0001, M1001), citations,
kill-chain phases, ``x_mitre_*`` properties, a created-by identity and a copyright statement
marking; revoked objects come with their ``revoked-by`` relationships.

>>> bundle = attack_bundle(2_000, seed=1)
>>> len(bundle["objects"])
2000
>>> sum(o["type"] == "relationship" for o in bundle["objects"]) / 2000 > 0.8
True
"""

from __future__ import annotations

import random
import uuid
from typing import Any

OBJECT_MIX = {
    "attack-pattern": 835,
    "malware": 696,
    "tool": 91,
    "intrusion-set": 187,
    "campaign": 52,
    "course-of-action": 268,
    "x-mitre-analytic": 1739,
    "x-mitre-detection-strategy": 691,
    "x-mitre-data-component": 109,
    "x-mitre-data-source": 38,
}
"""ATT&CK Enterprise v18.1 objects by type (besides the relationships and the fixed ones)."""
FIXED = {"x-mitre-tactic": 14, "x-mitre-matrix": 1, "identity": 1, "marking-definition": 1}
RELATIONSHIP_MIX = {
    ("uses", "malware", "attack-pattern"): 9836,
    ("uses", "intrusion-set", "attack-pattern"): 4362,
    ("mitigates", "course-of-action", "attack-pattern"): 1445,
    ("uses", "campaign", "attack-pattern"): 1019,
    ("uses", "tool", "attack-pattern"): 800,
    ("detects", "x-mitre-detection-strategy", "attack-pattern"): 691,
    ("uses", "intrusion-set", "malware"): 647,
    ("subtechnique-of", "attack-pattern", "attack-pattern"): 477,
    ("uses", "intrusion-set", "tool"): 457,
    ("revoked-by", "attack-pattern", "attack-pattern"): 132,
    ("uses", "campaign", "malware"): 84,
    ("uses", "campaign", "tool"): 65,
    ("attributed-to", "campaign", "intrusion-set"): 25,
    ("revoked-by", "intrusion-set", "intrusion-set"): 6,
}
"""ATT&CK Enterprise v18.1 relationships by (type, source type, target type)."""
TOTAL = 24_771
REVOKED_SHARE = {"attack-pattern": 132 / 835, "intrusion-set": 6 / 187}
PREFIX = {
    "attack-pattern": "T",
    "malware": "S",
    "tool": "S",
    "intrusion-set": "G",
    "campaign": "C",
    "course-of-action": "M",
    "x-mitre-data-source": "DS",
    "x-mitre-data-component": "DC",
    "x-mitre-detection-strategy": "DET",
    "x-mitre-analytic": "AN",
}
TACTICS = (
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
)
PLATFORMS = ("Windows", "Linux", "macOS", "Network Devices", "IaaS", "Office Suite")
MITRE = "identity--c78cb6e5-0c4b-4611-8297-d1b8b55e40b5"
STATEMENT = "marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168"
CREATED = "2017-06-01T00:00:00.000Z"


class Maker:
    """Deterministic ids, times and text for one bundle."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.serials: dict[str, int] = {}

    def id(self, kind: str) -> str:
        """A STIX id with a random (seeded) UUIDv4."""
        return f"{kind}--{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"

    def time(self) -> str:
        """A STIX timestamp between 2017 and 2025, to the millisecond."""
        year, month, day = (
            self.rng.randint(2017, 2025),
            self.rng.randint(1, 12),
            1 + self.rng.randrange(28),
        )
        hour, minute, second = (self.rng.randrange(n) for n in (24, 60, 60))
        clock = f"{hour:02d}:{minute:02d}:{second:02d}"
        return f"{year}-{month:02d}-{day:02d}T{clock}.{self.rng.randrange(1000):03d}Z"

    def attack_id(self, kind: str) -> str:
        """The next ATT&CK id of a type (T1001, S0001, G0001, ...)."""
        self.serials[kind] = self.serials.get(kind, 0) + 1
        width = 4
        base = 1000 if kind in {"attack-pattern", "course-of-action"} else 0
        return f"{PREFIX[kind]}{base + self.serials[kind]:0{width}d}"

    def citation(self) -> dict[str, Any]:
        """A citation as ATT&CK writes them (a report, its url, a description)."""
        n = self.rng.randrange(6000)
        return {
            "source_name": f"Report {n}",
            "url": f"https://reports.example.org/{n}",
            "description": f"Vendor. (2023, May 4). Threat report {n}. Retrieved June 1, 2024.",
        }

    def text(self, words: int) -> str:
        """Filler prose with a citation marker, as ATT&CK descriptions hold."""
        vocabulary = ("adversaries", "may", "use", "the", "network", "access", "to", "systems")
        body = " ".join(self.rng.choice(vocabulary) for _ in range(words))
        return f"{body.capitalize()}.(Citation: Report {self.rng.randrange(6000)})"


def common(maker: Maker, kind: str) -> dict[str, Any]:
    """What every ATT&CK object has."""
    created = maker.time()
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": maker.id(kind),
        "created": created,
        "modified": max(created, maker.time()),
        "created_by_ref": MITRE,
        "object_marking_refs": [STATEMENT],
        "x_mitre_attack_spec_version": "3.2.0",
        "x_mitre_domains": ["enterprise-attack"],
        "x_mitre_modified_by_ref": MITRE,
        "x_mitre_version": f"{maker.rng.randint(1, 3)}.{maker.rng.randrange(3)}",
    }


def domain_object(maker: Maker, kind: str, parent: str | None = None) -> dict[str, Any]:
    """One ATT&CK object of `kind` (an attack pattern under `parent` is a sub-technique)."""
    obj = common(maker, kind)
    attack_id = maker.attack_id(kind)
    if parent:
        attack_id = f"{parent}.{maker.rng.randint(1, 9):03d}"
    obj["name"] = f"{kind.replace('x-mitre-', '').replace('-', ' ').title()} {attack_id}"
    obj["description"] = maker.text(40)
    reference = {"source_name": "mitre-attack", "external_id": attack_id}
    path = {"attack-pattern": "techniques", "intrusion-set": "groups", "campaign": "campaigns"}
    if kind in path:
        reference["url"] = f"https://attack.mitre.org/{path[kind]}/{attack_id.replace('.', '/')}"
    obj["external_references"] = [
        reference,
        *(maker.citation() for _ in range(maker.rng.randrange(4))),
    ]
    if kind == "attack-pattern":
        obj["kill_chain_phases"] = [
            {"kill_chain_name": "mitre-attack", "phase_name": maker.rng.choice(TACTICS)}
        ]
        obj["x_mitre_platforms"] = maker.rng.sample(PLATFORMS, 2)
        obj["x_mitre_is_subtechnique"] = parent is not None
        obj["x_mitre_detection"] = maker.text(12)
    elif kind in {"malware", "tool"}:
        obj["x_mitre_platforms"] = maker.rng.sample(PLATFORMS, 2)
        obj["x_mitre_aliases"] = [obj["name"]]
        if kind == "malware":
            obj["is_family"] = True
    elif kind in {"intrusion-set", "campaign"}:
        obj["aliases"] = [obj["name"], f"{obj['name']} alias"]
        if kind == "campaign":
            obj["first_seen"], obj["last_seen"] = sorted((maker.time(), maker.time()))
    return obj


def fixed_objects(maker: Maker) -> list[dict[str, Any]]:
    """The identity, the statement marking, the tactics and the matrix."""
    identity = {
        "type": "identity",
        "spec_version": "2.1",
        "id": MITRE,
        "created": CREATED,
        "modified": CREATED,
        "name": "The MITRE Corporation",
        "identity_class": "organization",
        "object_marking_refs": [STATEMENT],
    }
    statement = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": STATEMENT,
        "created": CREATED,
        "created_by_ref": MITRE,
        "definition_type": "statement",
        "definition": {"statement": "Copyright 2015-2025, The MITRE Corporation."},
    }
    tactics = []
    for number, name in enumerate(TACTICS, 1):
        tactic = common(maker, "x-mitre-tactic")
        tactic.update(name=name.replace("-", " ").title(), x_mitre_shortname=name)
        tactic["external_references"] = [
            {"source_name": "mitre-attack", "external_id": f"TA{number:04d}"}
        ]
        tactics.append(tactic)
    matrix = common(maker, "x-mitre-matrix")
    matrix.update(name="Enterprise ATT&CK", tactic_refs=[t["id"] for t in tactics])
    return [identity, statement, *tactics, matrix]


def attack_bundle(objects: int = 20_000, seed: int = 1) -> dict[str, Any]:
    """A STIX 2.1 bundle of `objects` objects with ATT&CK Enterprise's mix (see the module)."""
    maker = Maker(seed)
    scale = objects / TOTAL
    fixed = fixed_objects(maker)
    made: dict[str, list[dict[str, Any]]] = {}
    for kind, count in OBJECT_MIX.items():
        made[kind] = []
        for _ in range(max(2, round(count * scale))):
            parents = [o for o in made[kind][:50] if not o.get("x_mitre_is_subtechnique")]
            parent = None
            if kind == "attack-pattern" and parents and maker.rng.random() < 0.57:
                parent = maker.rng.choice(parents)["external_references"][0]["external_id"]
            made[kind].append(domain_object(maker, kind, parent))
    relationships = relations(maker, made, objects - len(fixed) - sum(map(len, made.values())))
    everything = [*fixed, *(o for group in made.values() for o in group), *relationships]
    return {"type": "bundle", "id": maker.id("bundle"), "objects": everything[:objects]}


def relations(
    maker: Maker, made: dict[str, list[dict[str, Any]]], room: int
) -> list[dict[str, Any]]:
    """`room` relationships in ATT&CK's mix between the objects made; revoked objects and
    their ``revoked-by`` relationships among them."""
    total = sum(RELATIONSHIP_MIX.values())
    found: list[dict[str, Any]] = []

    def pick(kind: str) -> dict[str, Any]:
        """An object of `kind` that is not revoked (as in ATT&CK, only `revoked-by` leads
        from a revoked object)."""
        while (obj := maker.rng.choice(made[kind])).get("revoked"):
            pass
        return obj

    mix = sorted(RELATIONSHIP_MIX.items(), key=lambda item: item[0][0] != "revoked-by")
    for (rel_type, source_type, target_type), count in mix:
        for _ in range(max(1, round(count * room / total))):
            source, target = pick(source_type), pick(target_type)
            if rel_type == "revoked-by":
                source = revoke(maker, source)
            while target is source:
                target = pick(target_type)
            obj = common(maker, "relationship")
            obj.update(relationship_type=rel_type, source_ref=source["id"], target_ref=target["id"])
            if rel_type == "uses":
                obj["description"] = maker.text(25)
                obj["external_references"] = [maker.citation()]
            found.append(obj)
    return found[:room]


def revoke(maker: Maker, obj: dict[str, Any]) -> dict[str, Any]:
    """Mark an object revoked, as ATT&CK keeps replaced techniques and groups."""
    obj["revoked"] = True
    obj["modified"] = max(obj["modified"], maker.time())
    return obj
