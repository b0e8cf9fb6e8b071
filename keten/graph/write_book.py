"""`WriteBook`: what one write transaction did, kept alike by every store's writer.

A writer records here what it created, changed and left alone, which stored records it
changed (with the fields), which records of one identity disagreed, the least clearance
that can see any change (the revision counters of that clearance and above move), and
which audit entries each reader gets. The stores differ only in how they write; what a
write means for counts, revisions and the audit trail is decided once, here.

The audit rule: a reader who can see at most `AUDIT_EACH_UP_TO` records of a write finds one
entry per record; a reader who can see more finds one bulk entry with the counts of what it
sees. It is decided per clearance when the write ends, so what a reader finds never
depends on records it cannot see; an entry can thus stop at a level (`level_max`) above
which its record is among the bulk counts.

>>> book = WriteBook(WriteMode.MERGE)
>>> book.audit(ENTITY, "create", "vp:a", None, None, 0)
>>> book.audit(ENTITY, "create", "vp:b@red", None, None, 4)
>>> entries, bulk = book.audit_entries()
>>> [(e.entity, e.level, e.level_max) for e in entries], bulk
([('vp:a', 0, 5), ('vp:b@red', 4, 5)], None)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from keten.graph.history import AUDIT_EACH_UP_TO
from keten.graph.merge import Merged
from keten.graph.rows import MARKINGS, NOTHING, audit_level
from keten.graph.store import CHANGES_LISTED, Change, Conflict, Ref, WriteCounts, WriteMode

ENTITY = 0
RELATION = 1


@dataclass(frozen=True, slots=True)
class AuditLine:
    """One audit entry to write: readers of levels `level` to `level_max` (excluded) see it."""

    action: str
    entity: str | None
    relation: Ref | None
    detail: dict[str, Any] | None
    level: int
    level_max: int = NOTHING


class WriteBook:
    """The bookkeeping of one write (see the module doc); writers inherit it."""

    def __init__(self, mode: WriteMode) -> None:
        self.mode = mode
        self.counts = WriteCounts()
        self.changes: list[Change] = []
        self.conflicts: list[Conflict] = []
        self.least_level = NOTHING
        """The least clearance level that can see a change of this write."""
        self.seen_by = [0] * NOTHING
        """Records of this write each clearance level can see."""
        self.level_counts: dict[int, Counter[str]] = {}
        """What this write did, counted per the least level that sees the record."""
        self.kept: list[AuditLine] = []
        """Per-record entries not yet known to be bulk for every reader."""
        self.seen: set[int] = set()
        """Identities written earlier in this write that left no stamp (see keten.graph.merge)."""
        self.latest = ""
        """The latest time a restore wrote (the clock moves up to it at the end)."""
        self.written = 0
        self.bulk = False
        """Past `AUDIT_EACH_UP_TO` records: batches of new records may go the fast way."""

    @property
    def changed(self) -> bool:
        """True when the write created, updated or deleted anything."""
        return self.least_level < NOTHING

    # -- what the write did -----------------------------------------------------------------

    def bulk_with(self, records: int) -> bool:
        """Whether the write is bulk once `records` more are handed to it (see `note_written`)."""
        return self.bulk or self.written + records > AUDIT_EACH_UP_TO

    def note_written(self, records: int) -> None:
        """Count records handed to the writer."""
        self.written += records
        self.bulk = self.bulk or self.written > AUDIT_EACH_UP_TO

    def note_times(self, times: Iterable[str | None]) -> None:
        """In a restore, remember the latest of the times the rows bring."""
        if self.mode is WriteMode.RESTORE:
            self.latest = max([self.latest, *(t for t in times if t)])

    def tally(self, side: int, merged: Merged[Any]) -> None:
        """Add a merged batch to the counts and remember its conflicts."""
        prefix = "entities" if side == ENTITY else "relations"
        for suffix, value in (
            ("created", len(merged.created)),
            ("updated", len(merged.updated)),
            ("unchanged", merged.unchanged),
        ):
            name = f"{prefix}_{suffix}"
            setattr(self.counts, name, getattr(self.counts, name) + value)
        for row, fields in merged.conflicts:
            if side == ENTITY:
                self.conflicts.append(Conflict(row.id, None, fields))
            else:
                self.conflicts.append(Conflict(None, row.ref, fields))

    def add_created(self, side: int, count: int) -> None:
        """Count records created the fast way (never through a merge)."""
        name = "entities_created" if side == ENTITY else "relations_created"
        setattr(self.counts, name, getattr(self.counts, name) + count)

    def note_change(self, change: Change) -> None:
        """List a stored record the write changed (the first `CHANGES_LISTED`)."""
        if len(self.changes) < CHANGES_LISTED:
            self.changes.append(change)

    # -- the audit trail --------------------------------------------------------------------

    def audit(
        self,
        side: int,
        action: str,
        entity: str | None,
        ref: Ref | None,
        fields: list[str] | None,
        level: int,
    ) -> None:
        """Count a changed record; keep its entry while its readers may yet want it."""
        name = f"{'entities' if side == ENTITY else 'relations'}_{action}d"
        self.level_counts.setdefault(level, Counter())[name] += 1
        self._seen_by(level, 1)
        if self.seen_by[level] > AUDIT_EACH_UP_TO:
            return  # every reader of this record sees over the limit: bulk for all
        detail: dict[str, Any] = {}
        if fields:
            detail["fields"] = fields
        if self.mode is not WriteMode.MERGE and action == "update":
            detail["mode"] = self.mode.value
        self.kept.append(AuditLine(action, entity, ref, detail or None, level))

    def audit_created(
        self,
        side: int,
        levels: list[int],
        identity: Callable[[int], tuple[str | None, Ref | None]],
    ) -> None:
        """Audit a batch of new records by their levels: counted in one go once every reader
        who can see any of them sees over the limit, else one by one (`identity(i)` gives
        the i-th record's entity id or relation identity)."""
        counted = Counter(levels)
        if any(self.seen_by[level] < AUDIT_EACH_UP_TO for level in counted):
            for i, level in enumerate(levels):
                entity, ref = identity(i)
                self.audit(side, "create", entity, ref, None, level)
            return
        name = "entities_created" if side == ENTITY else "relations_created"
        for level, count in counted.items():
            self.level_counts.setdefault(level, Counter())[name] += count
            self._seen_by(level, count)

    def _seen_by(self, level: int, records: int) -> None:
        """Records visible from `level` up were written."""
        for reader in range(level, NOTHING):
            self.seen_by[reader] += records

    def audit_entries(self) -> tuple[list[AuditLine], AuditLine | None]:
        """At the end of the write: the per-record entries for the readers who saw few
        records, and the bulk entry (per-clearance counts) for those who saw many."""
        bulk_from = next((r for r in range(NOTHING) if self.seen_by[r] > AUDIT_EACH_UP_TO), NOTHING)
        entries = [
            AuditLine(e.action, e.entity, e.relation, e.detail, e.level, bulk_from)
            for e in self.kept
            if e.level < bulk_from
        ]
        by_clearance: dict[str, dict[str, int]] = {}
        for reader in range(bulk_from, NOTHING):
            total: Counter[str] = Counter()
            for level, counts in self.level_counts.items():
                if level <= reader:
                    total.update(counts)
            if total:
                by_clearance[MARKINGS[reader]] = dict(total)
        if not by_clearance:
            return entries, None
        least = MARKINGS.index(next(iter(by_clearance)))
        return entries, AuditLine("bulk", None, None, {"by_clearance": by_clearance}, least)

    # -- who can see the change -------------------------------------------------------------

    def seen_level(self, level: int) -> None:
        """A change visible from `level` up happened."""
        self.least_level = min(self.least_level, level)

    def seen_relations(
        self, changed: list[tuple[Ref, int]], levels_of: Callable[[set[str]], dict[str, int]]
    ) -> None:
        """Relation changes: visible where the relation and both ends are.

        Only a clear relation between ends of the plain namespace needs the ends looked up
        (`levels_of`: are both clear?); everything else is decided by the identities alone.
        """
        if self.least_level == 0:
            return
        lookup: list[Ref] = []
        for ref, level in changed:
            least = audit_level(ref, level)
            if least == 0:
                lookup.append(ref)
            else:
                self.seen_level(least)
        if lookup:
            levels = levels_of({end for ref in lookup for end in (ref[0], ref[2])})
            both_clear = any(levels.get(r[0]) == 0 and levels.get(r[2]) == 0 for r in lookup)
            self.seen_level(0 if both_clear else 1)
