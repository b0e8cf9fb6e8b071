"""Small pure helpers on rows that every store shares: times, canonical JSON, levels.

>>> audit_level(("vp:a", "DEPENDS_ON", "vp:b@red", ""), 0)
4
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from keten.schema.markings import Tlp, namespace_of

MARKINGS = [m.value for m in Tlp]
"""Markings by level: MARKINGS[level] is the marking."""
LEVELS = {m.value: m.level for m in Tlp}
"""Levels by marking."""
NOTHING = len(MARKINGS)
"""A level above every clearance: what a write that changed nothing made visible."""


def now() -> str:
    """UTC time in ISO 8601 with milliseconds, the one format every store writes."""
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    """A time in the store format: `2026-12-02T04:09:53.123Z` (naive times count as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def normalise_time(value: str | datetime) -> str:
    """Any ISO 8601 time (or date) in the store format, for comparisons.

    >>> normalise_time("2026-01-01")
    '2026-01-01T00:00:00.000Z'
    """
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return format_time(moment)


def next_stamp(last: str | None) -> str:
    """The stamp of a new write transaction: now, or 1 ms after `last` if the clock lags.

    Stamps are unique per transaction, which is how a merge tells a row written earlier in
    the same transaction from one stored before it.

    >>> next_stamp("2999-01-01T00:00:00.000Z")
    '2999-01-01T00:00:00.001Z'
    """
    stamp = now()
    if not last or stamp > last:
        return stamp
    after = datetime.fromisoformat(last.replace("Z", "+00:00")) + timedelta(milliseconds=1)
    return format_time(after)


def dump_props(props: dict[str, Any]) -> str:
    """Canonical JSON of a property dict: sorted keys, so equal records compare equal."""
    return orjson.dumps(props, option=orjson.OPT_SORT_KEYS).decode()


def search_text(name: str, props: dict[str, Any]) -> str:
    """What text search matches: the name and the aliases, lower-cased."""
    aliases = props.get("aliases") or []
    return "\n".join([name, *map(str, aliases)]).lower()


def namespace_level(identity: str) -> int:
    """The level of the marking an id or key is reserved for (0 for the plain namespace)."""
    namespace = namespace_of(identity)
    return namespace.level if namespace else 0


def audit_level(ref: tuple[str, str, str, str], level: int) -> int:
    """The least clearance that may read about a relation in the audit trail.

    Its own level, or that of an endpoint in a namespace above it. Endpoints of the plain
    namespace are clear or green, and the audit trail is read only by keys cleared for
    green at least, so no lookup is needed.
    """
    source, _, target, _ = ref
    return max(level, namespace_level(source), namespace_level(target))


def references(props: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, id) of every record a row's properties name: cited sources, the interests
    a Threat's impact rates, the institute."""
    found = []
    cited = props.get("source_ids")
    if isinstance(cited, list):
        found += [(f"source_ids.{i}", c) for i, c in enumerate(cited) if isinstance(c, str)]
    impact = props.get("impact")
    if isinstance(impact, dict):
        found += [(f"impact.{k}", k) for k in impact if isinstance(k, str)]
    institute = props.get("institute")
    if isinstance(institute, str):
        found.append(("institute", institute))
    return found
