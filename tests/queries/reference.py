"""An independent, deliberately plain implementation of the cascade contract (DESIGN.md)."""

from __future__ import annotations

import math

from tests.queries.conftest import Edge

Label = tuple[float, int, str]
INF: Label = (math.inf, 0, "")


def reference(
    entities: list[tuple[str, str]],
    relations: list[Edge],
    sources: list[str],
    horizon: float,
    min_strength: float,
) -> dict[str, tuple[float, int]]:
    """(time, depth) of each entity within the horizon, by iterating the contract to a fixpoint.

    Requirements of A: each DISRUPTS edge into A and each DEPENDS_ON edge out of A without a
    group pass on t(B) + buffer; each named group of A's DEPENDS_ON edges passes on the
    latest member (lexicographic max of (time + buffer, depth + 1)). Labels are compared as
    (time, depth, predecessor id), smaller is better.
    """
    ungrouped: dict[str, list[tuple[str, float]]] = {}
    groups: dict[tuple[str, str], list[tuple[str, float, float]]] = {}
    for source, rel_type, target, props in relations:
        buffer = float(props.get("buffer_hours", 0))
        strength = float(props.get("strength", 1.0))
        if rel_type == "DISRUPTS" and strength >= min_strength:
            ungrouped.setdefault(target, []).append((source, buffer))
        elif rel_type == "DEPENDS_ON":
            group = props.get("redundancy_group")
            if group is None:
                if strength >= min_strength:
                    ungrouped.setdefault(source, []).append((target, buffer))
            else:
                groups.setdefault((source, group), []).append((target, buffer, strength))
    label: dict[str, Label] = {e: INF for e, _ in entities}
    for s in sources:
        label[s] = (0.0, 0, "")
    changed = True
    while changed:
        changed = False
        for node, _ in entities:
            if node in sources:
                continue
            options = [
                (label[b][0] + buf, label[b][1] + 1, b)
                for b, buf in ungrouped.get(node, [])
                if label[b][0] < math.inf
            ]
            for (owner, _), members in groups.items():
                if owner != node:
                    continue
                if all(label[b][0] < math.inf and s >= min_strength for b, _, s in members):
                    latest = max((label[b][0] + buf, label[b][1] + 1, b) for b, buf, _ in members)
                    ties = [
                        b
                        for b, buf, _ in members
                        if (label[b][0] + buf, label[b][1] + 1) == latest[:2]
                    ]
                    options.append((latest[0], latest[1], min(ties)))
            best = min(options, default=INF)
            if best[0] > horizon:
                best = INF
            if best < label[node]:
                label[node] = best
                changed = True
    return {n: (t, d) for n, (t, d, _) in label.items() if t <= horizon}
