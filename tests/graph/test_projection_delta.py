"""A projection brought forward by the writes since it equals one read afresh, on both stores,
and one saved beside the store is only reused when it still describes that store."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keten.graph.assessments import RULES
from keten.graph.history import AUDIT_EACH_UP_TO
from keten.graph.projection import SAVE_DELAY, Projection, ProjectionCache, build_projection
from keten.graph.projection_files import ARRAYS
from keten.graph.sqlite import SqliteStore
from keten.graph.store import EntityRow, RelationRow
from keten.schema.markings import Tlp

CLEARANCES = (Tlp.CLEAR, Tlp.GREEN, Tlp.RED)


def assert_same(kept: Projection, fresh: Projection) -> None:
    """Every array, id, kind, name and group name of the two projections agree."""
    assert kept.revision == fresh.revision
    assert list(kept.ids) == list(fresh.ids)
    assert dict(kept.index) == dict(fresh.index)
    assert all(kept.index[i] == n for n, i in enumerate(fresh.ids))  # the lookups, not iteration
    assert list(kept.kinds) == list(fresh.kinds)
    assert list(kept.names) == list(fresh.names)
    assert kept.group_names == fresh.group_names
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(kept, name), getattr(fresh, name), err_msg=name)


def entity(rng: random.Random, i: int) -> EntityRow:
    """Entity `i`: plain ids are clear or green, `@amber` ones amber."""
    if i % 7 == 6:
        return EntityRow(f"n:{i:02d}@amber", "Resource", f"Secret {i}", marking="amber")
    kind = ["VitalProcess", "Resource", "Organisation", "Interest", "Threat"][i % 5]
    return EntityRow(f"n:{i:02d}", kind, f"N{i} {rng.randrange(3)}", rng.choice(["clear", "green"]))


def relation(rng: random.Random, ids: list[str]) -> RelationRow:
    """A random relation between stored entities, sometimes red, grouped or weighted."""
    source, target = rng.sample(ids, 2)
    kind = rng.choice(["DEPENDS_ON", "DEPENDS_ON", "DISRUPTS", "SAFEGUARDS", "LOCATED_IN"])
    props: dict[str, Any] = {}
    if rng.random() < 0.6:
        props["buffer_hours"] = rng.choice([0, 1, 6, 24])
    if rng.random() < 0.4:
        props["strength"] = rng.choice([0.3, 0.5, 1.0])
    if kind == "DEPENDS_ON" and rng.random() < 0.4:
        props["redundancy_group"] = rng.choice(["grid", "water", "zz"])
    if rng.random() < 0.4:
        props["reliability"] = rng.choice("ABCF")
    red = rng.random() < 0.15
    key = rng.choice(["", "tno", "rivm"]) + ("@red" if red else "")
    marking = "red" if red else rng.choice(["clear", "green"])
    return RelationRow(source, kind, target, key, marking, props)


def random_write(store: Any, rng: random.Random, step: int) -> None:
    """One small write: entities made, renamed, re-marked or deleted, relations likewise."""
    ids = [e.id for e in store.iter_entities()]
    choice = rng.random()
    if choice < 0.2 or len(ids) < 4:
        with store.writer() as w:
            w.upsert_entities([entity(rng, rng.randrange(40)) for _ in range(rng.randint(1, 3))])
    elif choice < 0.6:
        with store.writer() as w:
            w.upsert_relations([relation(rng, ids) for _ in range(rng.randint(1, 4))])
    elif choice < 0.75:
        rels = list(store.iter_relations())
        if rels:
            store.delete_relation(rng.choice(rels).ref)
    elif choice < 0.85:
        store.delete_entity(rng.choice(ids), cascade=True)
    else:
        target = rng.choice(ids)
        if "@" not in target:
            marking = rng.choice(["clear", "green"])
            with store.writer() as w:
                w.upsert_entities([EntityRow(target, store.get_entity(target).kind, f"R{step}",
                                             marking)])  # fmt: skip


def seeded(store: Any, rng: random.Random) -> None:
    with store.writer() as w:
        w.upsert_entities([entity(rng, i) for i in range(24)])
    ids = [e.id for e in store.iter_entities()]
    with store.writer() as w:
        w.upsert_relations([relation(rng, ids) for _ in range(60)])


def test_writes_followed_equal_a_fresh_read(store: Any, tmp_path: Path) -> None:
    rng = random.Random(19)
    seeded(store, rng)
    cache = ProjectionCache(store, tmp_path / "projection")
    for clearance in CLEARANCES:
        for rule in RULES:
            assert_same(cache.get(clearance, rule), build_projection(store, clearance, rule))
    builds = cache.builds
    for step in range(30):
        random_write(store, rng, step)
        for clearance in CLEARANCES:
            for rule in RULES:
                fresh = build_projection(store, clearance, rule)
                assert_same(cache.get(clearance, rule), fresh)
    assert cache.builds == builds, "small writes are followed, never read afresh"
    assert cache.updates > 30
    # a new process starts from the files saved beside the store
    again = ProjectionCache(store, tmp_path / "projection")
    assert_same(again.get(Tlp.GREEN, "all"), build_projection(store, Tlp.GREEN, "all"))
    assert (again.builds, again.opened) == (0, 1)


def test_several_writes_between_reads_equal_a_fresh_read(store: Any, tmp_path: Path) -> None:
    """A server under writes sees a few at once: entities gone and others made next to them in
    one update, so indices shift both ways while relations land on their neighbours."""
    rng = random.Random(23)
    seeded(store, rng)
    cache = ProjectionCache(store, tmp_path / "projection")
    cache.get(Tlp.RED)
    for step in range(25):
        for _ in range(rng.randint(2, 5)):
            random_write(store, rng, step)
        for clearance in (Tlp.GREEN, Tlp.RED):
            assert_same(cache.get(clearance), build_projection(store, clearance))
    assert cache.updates > 25


def test_a_bulk_write_is_read_afresh(store: Any) -> None:
    seeded(store, random.Random(1))
    cache = ProjectionCache(store)
    cache.get(Tlp.RED)
    with store.writer() as w:
        w.upsert_entities(
            [EntityRow(f"r:{i:05d}", "Resource", "R") for i in range(AUDIT_EACH_UP_TO + 1)]
        )
    assert_same(cache.get(Tlp.RED), build_projection(store, Tlp.RED))
    assert cache.builds == 2


def saved_store(tmp_path: Path) -> tuple[SqliteStore, Path]:
    store = SqliteStore(tmp_path / "keten.sqlite")
    seeded(store, random.Random(7))
    directory = tmp_path / "projection"
    ProjectionCache(store, directory).get(Tlp.RED)
    return store, directory


def only_folder(directory: Path) -> Path:
    (folder,) = [p for p in directory.glob("*/red.all/*") if p.is_dir()]
    return folder


def test_a_damaged_file_is_never_used(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, directory = saved_store(tmp_path)
    targets = only_folder(directory) / "targets.npy"
    data = bytearray(targets.read_bytes())
    data[-1] ^= 0xFF
    targets.write_bytes(bytes(data))
    cache = ProjectionCache(store, directory)
    assert_same(cache.get(Tlp.RED), build_projection(store, Tlp.RED))
    assert (cache.opened, cache.builds) == (0, 1)
    assert "checksum" in caplog.text


def test_an_older_format_is_rebuilt(tmp_path: Path) -> None:
    store, directory = saved_store(tmp_path)
    meta_path = only_folder(directory) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["format"] = 0
    meta_path.write_text(json.dumps(meta))
    cache = ProjectionCache(store, directory)
    cache.get(Tlp.RED)
    assert (cache.opened, cache.builds) == (0, 1)


def test_files_of_a_replaced_store_are_not_trusted(tmp_path: Path) -> None:
    store, directory = saved_store(tmp_path)
    store.close()
    for path in tmp_path.glob("keten.sqlite*"):
        path.unlink()
    other = SqliteStore(tmp_path / "keten.sqlite")  # same path and revision, other records
    seeded(other, random.Random(8))
    cache = ProjectionCache(other, directory)
    assert_same(cache.get(Tlp.RED), build_projection(other, Tlp.RED))
    assert (cache.opened, cache.builds) == (1, 1)


def test_each_clearance_keeps_its_own_files(tmp_path: Path) -> None:
    store, directory = saved_store(tmp_path)
    cache = ProjectionCache(store, directory)
    clear = cache.get(Tlp.CLEAR)
    assert not any("@" in i for i in clear.ids)
    again = ProjectionCache(store, directory).get(Tlp.CLEAR)
    assert again.ids == clear.ids and not any("@" in i for i in again.ids)
    assert sorted(p.name for p in directory.glob("*/*")) == ["clear.all", "red.all"]


def test_a_server_saves_only_the_newest_of_quick_writes(tmp_path: Path) -> None:
    """Writes in quick succession bring the projection forward each time, but only the last
    revision is written to disk, once, after the delay; the reader then gets mapped arrays."""
    store, directory = saved_store(tmp_path)
    cache = ProjectionCache(store, directory, background=True)
    cache.get(Tlp.RED)
    for step in range(3):
        with store.writer() as w:
            w.upsert_entities([EntityRow(f"q:{step}", "Resource", f"Quick {step}")])
        cache.get(Tlp.RED)
    assert cache.updates == 3 and cache.saved == 0, "saves wait for the delay"
    deadline = time.monotonic() + SAVE_DELAY + 30
    while cache.saved == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(SAVE_DELAY + 0.5)  # the older revisions' timers have fired too by now
    assert cache.saved == 1
    newest = cache.get(Tlp.RED)
    assert isinstance(newest.targets, np.memmap), "the saved files serve the reader"
    assert_same(newest, build_projection(store, Tlp.RED))
    assert f"-r{store.revision(Tlp.RED):012d}-" in only_folder(directory).name


def test_a_server_opens_the_kept_projections_before_its_first_request(tmp_path: Path) -> None:
    store, directory = saved_store(tmp_path)
    ProjectionCache(store, directory).get(Tlp.CLEAR, "most_reliable")
    cache = ProjectionCache(store, directory)
    assert cache.open_kept() == 2
    assert cache.open_kept() == 0  # already open
    assert_same(cache.get(Tlp.RED), build_projection(store, Tlp.RED))
    clear = cache.get(Tlp.CLEAR, "most_reliable")
    assert_same(clear, build_projection(store, Tlp.CLEAR, "most_reliable"))
    assert not any("@" in i for i in clear.ids)  # each clearance its own folder
    assert (cache.opened, cache.builds) == (2, 0)
