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

from keten.api.pages.i18n import Lang
from keten.graph.store import EntityRow, RelationRow

ENGLISH = Lang("en")

MAX_VALUE = 160
"""Longest value shown in a tooltip line; longer ones end in an ellipsis."""

EDGE_FIELDS = ("buffer_hours", "strength", "redundancy_group", "share", "year", "scope")


def shorten(value: Any, width: int = MAX_VALUE) -> str:
    """`value` as one line of at most `width` characters."""
    text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def provenance_lines(marking: str, props: dict[str, Any], lang: Lang = ENGLISH) -> list[str]:
    """Marking, Admiralty grading, sources and who contributed, as far as they are known."""
    lines = [lang._("marking: {marking}", marking=f"TLP:{marking.upper()}")]
    reliability, credibility = props.get("reliability"), props.get("credibility")
    if reliability or credibility:
        grading = f"{reliability or '?'}{credibility or '?'}"
        lines.append(lang._("grading: {grading}", grading=grading))
    if props.get("source_ids"):
        lines.append(lang._("sources: {ids}", ids=shorten(props["source_ids"])))
    who = [str(props[name]) for name in ("contributor", "institute") if props.get(name)]
    if who:
        lines.append(lang._("by: {who}", who=shorten(" / ".join(who))))
    return lines


def entity_title(
    row: EntityRow, extra: Iterable[str] = (), name: str | None = None, lang: Lang = ENGLISH
) -> str:
    """Tooltip of an entity: name (`name` if given, e.g. its Dutch one), id and kind,
    `extra` lines, then its provenance."""
    head = [shorten(name or row.name), f"{row.id} ({lang._(row.kind)})", *extra]
    return "\n".join(head + provenance_lines(row.marking, row.props, lang))


def relation_title(row: RelationRow, lang: Lang = ENGLISH) -> str:
    """Tooltip of a relation: its type and ends, the figures that matter, its provenance
    (the figures keep their field names: they are the data model's, like the type)."""
    lines = [f"{row.source} -[{row.type}]-> {row.target}"]
    lines += [f"{name}: {shorten(row.props[name])}" for name in EDGE_FIELDS if name in row.props]
    return "\n".join(lines + provenance_lines(row.marking, row.props, lang))
