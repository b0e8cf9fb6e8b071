"""Request bodies the store could not hold, refused up front with a report like a bundle's.

JSON allows integers of any size, but stored properties are JSON of 64-bit numbers; a
larger integer would otherwise fail deep inside a write. The walk names each one.

>>> find_huge_integers({"entities": [{"id": "a", "count": 2**70}]}, "body")[0].where
'entities[0]'
"""

from __future__ import annotations

from typing import Any

from keten.ingest import BundleRejected, Problem

INT_MIN = -(2**63)
INT_MAX = 2**64 - 1


def find_huge_integers(bundle: Any, name: str) -> list[Problem]:
    """Problems for integers outside the 64-bit range in the records of `bundle`."""
    problems: list[Problem] = []
    if not isinstance(bundle, dict):
        return problems
    for key in ("entities", "relations"):
        records = bundle.get(key)
        if not isinstance(records, list):
            continue
        for index, record in enumerate(records):
            for path in _huge_paths(record, ""):
                why = "integer outside the 64-bit range the store holds"
                problems.append(Problem(name, f"{key}[{index}]", path.lstrip("."), why))
    return problems


def _huge_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [path] if not INT_MIN <= value <= INT_MAX else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _huge_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _huge_paths(v, f"{path}[{i}]")]
    return []


def refuse_huge_integers(bundle: Any, name: str) -> None:
    """Raise BundleRejected when `bundle` holds an integer the store cannot keep."""
    problems = find_huge_integers(bundle, name)
    if problems:
        raise BundleRejected(problems, len(problems))
