"""Which assessment of a dependency the analyses use when institutes disagree.

Two institutes may assess the same dependency differently (submissions key their relations by
institute, so both are kept). The analyses then need one rule; keten offers two:

* ``all`` (the default, and the cascade contract of DESIGN.md read literally): every
  assessment is a requirement of its own, so the earliest failure wins (the pessimistic
  reading);
* ``most_reliable``: per (source, type, target), the DEPENDS_ON or DISRUPTS relation with the
  best Admiralty source reliability (A first, ungraded counts as F), then the best
  credibility (1 first, ungraded counts as 6), then the latest `updated_at`, then the
  smallest key.

Other relation types pass through untouched.

>>> from keten.graph.store import RelationRow
>>> tno = RelationRow("vp:w", "DEPENDS_ON", "vp:p", "tno", props={"reliability": "B"})
>>> rivm = RelationRow("vp:w", "DEPENDS_ON", "vp:p", "rivm", props={"reliability": "A"})
>>> [r.key for r in choose_assessments([tno, rivm], "most_reliable")]
['rivm']
>>> [r.key for r in choose_assessments([tno, rivm], "all")]
['tno', 'rivm']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

from keten.graph.store import RelationRow

AssessmentRule = Literal["most_reliable", "all"]
RULES: tuple[AssessmentRule, ...] = ("most_reliable", "all")
COMPARED = frozenset({"DEPENDS_ON", "DISRUPTS"})


def rank(relation: RelationRow) -> tuple[str, int, str, str]:
    """Sort key: smaller is preferred (reliability, credibility, newest first, key)."""
    props = relation.props
    newest_first = "".join(chr(0x10FFFF - ord(c)) for c in (relation.updated_at or ""))
    return (
        str(props.get("reliability") or "F"),
        int(props.get("credibility") or 6),
        newest_first,
        relation.key,
    )


def choose_assessments(
    relations: Iterable[RelationRow], rule: AssessmentRule
) -> Iterator[RelationRow]:
    """The relations the analyses use under `rule` (streams all but the compared types)."""
    if rule == "all":
        yield from relations
        return
    best: dict[tuple[str, str, str], RelationRow] = {}
    for relation in relations:
        if relation.type not in COMPARED:
            yield relation
            continue
        pair = (relation.source, relation.type, relation.target)
        kept = best.get(pair)
        if kept is None or rank(relation) < rank(kept):
            best[pair] = relation
    yield from best.values()
