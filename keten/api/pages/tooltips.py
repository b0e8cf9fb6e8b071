"""Tooltips: what an analyst needs to judge a node or an edge, as plain text.

vis-network 9 shows a string `title` as text (innerText), never as HTML, so ingested text
cannot inject markup; tooltips are therefore built as plain lines. Long values are cut so
that a tooltip stays on screen.

>>> from keten.graph.store import EntityRow
>>> row = EntityRow("vp:water", "VitalProcess", "Water", "green",
...                 {"source_ids": ["source:a"], "reliability": "B", "credibility": 2})
>>> print(entity_title(row))
Water
vp:water (VitalProcess)
marking: TLP:GREEN
grading: B2
sources: source:a
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from keten.graph.store import EntityRow, RelationRow

MAX_VALUE = 160
"""Longest value shown in a tooltip line; longer ones end in an ellipsis."""

EDGE_FIELDS = ("buffer_hours", "strength", "redundancy_group", "share", "year", "scope")


def shorten(value: Any, width: int = MAX_VALUE) -> str:
    """`value` as one line of at most `width` characters."""
    text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def provenance_lines(marking: str, props: dict[str, Any]) -> list[str]:
    """Marking, Admiralty grading, sources and who contributed, as far as they are known."""
    lines = [f"marking: TLP:{marking.upper()}"]
    reliability, credibility = props.get("reliability"), props.get("credibility")
    if reliability or credibility:
        lines.append(f"grading: {reliability or '?'}{credibility or '?'}")
    if props.get("source_ids"):
        lines.append(f"sources: {shorten(props['source_ids'])}")
    who = [str(props[name]) for name in ("contributor", "institute") if props.get(name)]
    if who:
        lines.append(f"by: {shorten(' / '.join(who))}")
    return lines


def entity_title(row: EntityRow, extra: Iterable[str] = (), name: str | None = None) -> str:
    """Tooltip of an entity: name (`name` if given, e.g. its Dutch one), id and kind,
    `extra` lines, then its provenance."""
    head = [shorten(name or row.name), f"{row.id} ({row.kind})", *extra]
    return "\n".join(head + provenance_lines(row.marking, row.props))


def relation_title(row: RelationRow) -> str:
    """Tooltip of a relation: its type and ends, the figures that matter, its provenance."""
    lines = [f"{row.source} -[{row.type}]-> {row.target}"]
    lines += [f"{name}: {shorten(row.props[name])}" for name in EDGE_FIELDS if name in row.props]
    return "\n".join(lines + provenance_lines(row.marking, row.props))
