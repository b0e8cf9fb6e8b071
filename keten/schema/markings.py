"""Markings and source grading: TLP 2.0 and the NATO Admiralty code.

They live in their own module because both the store (filtering by clearance) and the schema
(validating records) need them, and neither should import the other.

>>> Tlp.AMBER.allows(Tlp.GREEN)
True
>>> Tlp.GREEN.allows(Tlp.RED)
False

Records marked above green live in id namespaces of their own: an entity marked amber has an
id ending in `@amber`, a relation marked red a key ending in `@red`. Clear and green share the
plain namespace, and every key that writes is cleared for green at least, so a writer can
never give a record an identity that a record it may not see already holds: a write answers
alike whether or not such a record exists.

>>> namespace_of("actor:apt-x@red"), namespace_of("vp:drinking-water")
(<Tlp.RED: 'red'>, None)
>>> marking_problem("vp:x@amber", "red")
'an id or key ending in @amber holds only amber records, not red ones'
>>> marking_problem("vp:x", "amber")
'a record marked amber needs an id (a relation: a key) ending in @amber'
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

Reliability = Literal["A", "B", "C", "D", "E", "F"]
"""Admiralty source reliability: A completely reliable ... E unreliable, F cannot be judged."""

ImpactClass = Literal["A", "B", "C", "D", "E"]
"""Classes of the Dutch national risk assessment: A limited ... E catastrophic (also likelihood)."""


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0 markings, ordered from open to most restricted."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @property
    def level(self) -> int:
        """Position in the order clear < green < amber < amber+strict < red."""
        return _ORDER[self]

    def allows(self, marking: str | Tlp) -> bool:
        """True when a holder of this clearance may see something marked `marking`."""
        return _ORDER[Tlp(marking)] <= _ORDER[self]

    def visible(self) -> list[str]:
        """Every marking this clearance may see, for `marking IN (...)` filters."""
        return [m.value for m in Tlp if m.level <= self.level]


_ORDER = {m: i for i, m in enumerate(Tlp)}


NAMESPACED = (Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)
"""Markings whose records carry the marking as a suffix of their identity."""
_SUFFIXES = {f"@{m.value}": m for m in NAMESPACED}
WRITER_CLEARANCE = Tlp.GREEN
"""The least clearance of a key that writes: every writer sees the whole plain namespace."""


def namespace_of(identity: str) -> Tlp | None:
    """The marking an entity id or relation key is reserved for, or None for the plain one."""
    if "@" not in identity:  # the common case, checked a million times in a large load
        return None
    return _SUFFIXES.get(identity[identity.rfind("@") :])


def marking_problem(identity: str, marking: str | None) -> str | None:
    """Why `marking` may not go with this id or key, or None when it may (None: not given)."""
    namespace = namespace_of(identity)
    if namespace is not None:
        if marking is None or marking == namespace.value:
            return None
        return (
            f"an id or key ending in @{namespace.value} holds only {namespace.value} records, "
            f"not {marking} ones"
        )
    if marking is None or Tlp(marking).level <= WRITER_CLEARANCE.level:
        return None
    return f"a record marked {marking} needs an id (a relation: a key) ending in @{marking}"


def implied_marking(identity: str) -> str | None:
    """The marking an identity's namespace implies, or None for the plain namespace."""
    namespace = namespace_of(identity)
    return namespace.value if namespace else None


def namespaced(identity: str, marking: str | None) -> str:
    """`identity` moved into the namespace of `marking` if that marking has one.

    For importers whose source ids know nothing of keten's namespaces (STIX, trade data).

    >>> namespaced("actor:stix-1", "amber"), namespaced("actor:stix-1", "green")
    ('actor:stix-1@amber', 'actor:stix-1')
    """
    if marking is None or namespace_of(identity) is not None:
        return identity
    tlp = Tlp(marking)
    return f"{identity}@{tlp.value}" if tlp in NAMESPACED else identity
