"""`WriteBook`: which audit entries each reader gets, decided per clearance at the end."""

from __future__ import annotations

from keten.graph.history import AUDIT_EACH_UP_TO
from keten.graph.rows import LEVELS, MARKINGS, NOTHING
from keten.graph.store import WriteMode
from keten.graph.write_book import ENTITY, RELATION, WriteBook

RED = LEVELS["red"]
GREEN = LEVELS["green"]


def test_a_reader_who_sees_few_records_gets_them_one_by_one_beside_a_bulk_it_cannot_see() -> None:
    book = WriteBook(WriteMode.MERGE)
    book.audit(ENTITY, "create", "vp:clear", None, None, 0)
    for i in range(AUDIT_EACH_UP_TO + 1):
        book.audit(ENTITY, "create", f"vp:{i}@red", None, None, RED)
    entries, bulk = book.audit_entries()
    assert [(e.entity, e.level, e.level_max) for e in entries] == [("vp:clear", 0, RED)]
    assert bulk is not None and bulk.level == RED
    assert bulk.detail == {"by_clearance": {"red": {"entities_created": AUDIT_EACH_UP_TO + 2}}}


def test_every_reader_over_the_limit_gets_only_the_counts_of_what_it_sees() -> None:
    book = WriteBook(WriteMode.MERGE)
    levels = [0] * AUDIT_EACH_UP_TO + [GREEN] * 5
    book.audit_created(ENTITY, levels, lambda i: (f"e:{i}", None))
    book.audit_created(ENTITY, [0] * 3, lambda i: (f"late:{i}", None))  # counted in one go
    entries, bulk = book.audit_entries()
    assert entries == []
    assert bulk is not None and bulk.level == 0
    counts = bulk.detail["by_clearance"] if bulk.detail else {}
    assert counts["clear"] == {"entities_created": AUDIT_EACH_UP_TO + 3}
    for marking in MARKINGS[GREEN:NOTHING]:
        assert counts[marking] == {"entities_created": AUDIT_EACH_UP_TO + 8}


def test_updates_in_replace_mode_say_so_and_name_their_fields() -> None:
    book = WriteBook(WriteMode.REPLACE)
    ref = ("a", "DEPENDS_ON", "b", "")
    book.audit(RELATION, "update", None, ref, ["buffer_hours"], GREEN)
    entries, bulk = book.audit_entries()
    assert bulk is None
    assert [(e.action, e.relation, e.detail) for e in entries] == [
        ("update", ref, {"fields": ["buffer_hours"], "mode": "replace"})
    ]
    assert book.counts.relations_updated == 0  # counts come from merged batches (`tally`)


def test_a_change_is_seen_from_the_least_level_that_sees_any_part() -> None:
    book = WriteBook(WriteMode.MERGE)
    assert not book.changed
    book.seen_level(RED)
    book.seen_relations([(("a", "DEPENDS_ON", "b", ""), 0)], lambda ids: dict.fromkeys(ids, 0))
    assert book.least_level == 0 and book.changed
    other = WriteBook(WriteMode.MERGE)
    other.seen_relations([(("a", "DEPENDS_ON", "b", ""), 0)], lambda ids: {"a": 0, "b": GREEN})
    assert other.least_level == GREEN  # a clear relation to a green end is news from green up
