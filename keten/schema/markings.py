"""Markings and source grading: TLP 2.0 and the NATO Admiralty code.

They live in their own module because both the store (filtering by clearance) and the schema
(validating records) need them, and neither should import the other.

>>> Tlp.AMBER.allows(Tlp.GREEN)
True
>>> Tlp.GREEN.allows(Tlp.RED)
False
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
