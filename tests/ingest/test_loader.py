"""Loading bundles of every format: all-or-nothing, idempotent, with complete reports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import yaml

from keten.data import reference_bundle_path
from keten.graph.sqlite import SqliteStore
from keten.graph.store import WriteMode
from keten.ingest import BundleRejected, load_bundle, load_paths
from keten.ingest.checker import BATCH
from keten.queries.synthetic import generate_network

BUNDLE = {
    "entities": [
        {"id": "vp:power", "kind": "VitalProcess", "name": "Electricity", "category": "A"},
        {"id": "vp:water", "kind": "VitalProcess", "name": "Drinking water", "category": "B"},
        {"id": "interest:physical", "kind": "Interest", "name": "Physical security"},
    ],
    "relations": [
        {"source": "vp:water", "target": "vp:power", "type": "DEPENDS_ON", "buffer_hours": 4},
        {"source": "vp:water", "target": "interest:physical", "type": "SAFEGUARDS"},
    ],
}


def write_formats(folder: Path) -> dict[str, Path]:
    """The same bundle as JSON, YAML, JSONL and a CSV folder."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "b.json", "yaml": folder / "b.yaml", "jsonl": folder / "b.jsonl"}
    paths["json"].write_text(json.dumps(BUNDLE))
    paths["yaml"].write_text(yaml.safe_dump(BUNDLE))
    lines = [{"entity": e} for e in BUNDLE["entities"]]
    lines += [{"relation": r} for r in BUNDLE["relations"]]
    paths["jsonl"].write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    csv_dir = folder / "csv"
    csv_dir.mkdir(exist_ok=True)
    (csv_dir / "entities.csv").write_text(
        "id,kind,name,category\n"
        "vp:power,VitalProcess,Electricity,A\n"
        "vp:water,VitalProcess,Drinking water,B\n"
        "interest:physical,Interest,Physical security,\n"
    )
    (csv_dir / "relations.csv").write_text(
        "source,target,type,buffer_hours\n"
        "vp:water,vp:power,DEPENDS_ON,4\n"
        "vp:water,interest:physical,SAFEGUARDS,\n"
    )
    paths["csv"] = csv_dir
    return paths


@pytest.mark.parametrize("fmt", ["json", "yaml", "jsonl", "csv"])
def test_every_format_loads_the_same_graph(fmt: str, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    report = load_paths(store, [write_formats(tmp_path / "in")[fmt]])
    assert report.records == 5
    assert report.counts.entities_created == 3 and report.counts.relations_created == 2
    water = store.get_entity("vp:water")
    assert water is not None and water.props == {"category": "B"}
    rel = store.get_relation(("vp:water", "DEPENDS_ON", "vp:power", ""))
    assert rel is not None and rel.props == {"buffer_hours": 4.0}


def test_loading_twice_changes_nothing(sqlite_store: SqliteStore, tmp_path: Path) -> None:
    path = write_formats(tmp_path)["yaml"]
    load_paths(sqlite_store, [path])
    before = list(sqlite_store.iter_entities()), list(sqlite_store.iter_relations())
    report = load_paths(sqlite_store, [path])
    assert report.counts.entities_unchanged == 3 and report.counts.relations_unchanged == 2
    assert report.counts.entities_created == report.counts.entities_updated == 0
    assert sqlite_store.revision() == 1
    assert (list(sqlite_store.iter_entities()), list(sqlite_store.iter_relations())) == before


def test_dry_run_counts_and_writes_nothing(sqlite_store: SqliteStore) -> None:
    report = load_bundle(sqlite_store, BUNDLE, dry_run=True)
    assert report.dry_run and report.counts.entities_created == 3
    assert report.counts.relations_created == 2
    assert sqlite_store.revision() == 0 and list(sqlite_store.iter_entities()) == []


def test_refusal_names_every_bad_record_and_writes_nothing(sqlite_store: SqliteStore) -> None:
    bad = {
        "entities": [
            *BUNDLE["entities"],
            {"id": "vp:gas", "kind": "VitalProcess", "name": "Gas", "category": "Z"},
            {"id": "x", "kind": "Spaceship", "name": "X"},
            {"id": "has space", "kind": "Country", "name": "Y", "iso2": "nl"},
        ],
        "relations": [
            *BUNDLE["relations"],
            {"source": "vp:water", "target": "vp:power", "type": "DEPENDS_ON", "strength": 2},
            {"source": "vp:water", "target": "vp:nowhere", "type": "DEPENDS_ON"},
            {"source": "interest:physical", "target": "vp:water", "type": "SAFEGUARDS"},
            {"source": "vp:water", "target": "vp:power", "type": "LIKES"},
            {"source": "vp:water", "target": "country:CN", "type": "SOURCED_FROM"},
        ],
    }
    with pytest.raises(BundleRejected) as refused:
        load_bundle(sqlite_store, bad, name="bad.json")
    found = {(p.where, p.field) for p in refused.value.problems}
    assert found == {
        ("entities[3]", "category"),
        ("entities[4]", "kind"),
        ("entities[5]", "id"),
        ("entities[5]", "iso2"),
        ("relations[2]", "strength"),
        ("relations[3]", "target"),
        ("relations[4]", "type"),
        ("relations[5]", "type"),
        ("relations[6]", "share"),
    }
    by_place = {(p.where, p.field): p for p in refused.value.problems}
    assert by_place[("relations[3]", "target")].value == "vp:nowhere"
    assert "SAFEGUARDS cannot join a Interest" in by_place[("relations[4]", "type")].why
    assert by_place[("entities[3]", "category")].value == "Z"
    assert all(p.file == "bad.json" for p in refused.value.problems)
    assert sqlite_store.revision() == 0 and list(sqlite_store.iter_entities()) == []


def test_relations_may_point_at_stored_entities(sqlite_store: SqliteStore) -> None:
    load_bundle(sqlite_store, BUNDLE)
    extra = {
        "entities": [{"id": "org:hospital", "kind": "Organisation", "name": "Hospital"}],
        "relations": [{"source": "org:hospital", "target": "vp:water", "type": "DEPENDS_ON"}],
    }
    report = load_bundle(sqlite_store, extra)
    assert report.counts.relations_created == 1


def test_relation_before_its_entities_in_jsonl(sqlite_store: SqliteStore, tmp_path: Path) -> None:
    path = tmp_path / "late.jsonl"
    rel = {"source": "vp:a", "target": "vp:b", "type": "DEPENDS_ON"}
    ents = [{"id": i, "kind": "VitalProcess", "name": i} for i in ("vp:a", "vp:b")]
    path.write_text(
        "\n".join(json.dumps(x) for x in [{"relation": rel}] + [{"entity": e} for e in ents])
    )
    assert load_paths(sqlite_store, [path]).counts.relations_created == 1


def test_broken_files_are_reported_with_their_place(
    sqlite_store: SqliteStore, tmp_path: Path
) -> None:
    (tmp_path / "a.jsonl").write_text('{"entity": {"id": "a"\n{"thing": 1}\n')
    (tmp_path / "b.json").write_text("[1, 2")
    (tmp_path / "c.yaml").write_text("entities: [\n")
    (tmp_path / "notes.csv").write_text("x\n1\n")
    with pytest.raises(BundleRejected) as refused:
        load_paths(sqlite_store, [tmp_path, tmp_path / "missing.json"])
    places = {(Path(p.file).name, p.where) for p in refused.value.problems}
    assert ("a.jsonl", "line 1") in places and ("a.jsonl", "line 2") in places
    assert {"b.json", "c.yaml", "notes.csv", "missing.json"} <= {f for f, _ in places}


LOADER = """
import sys
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_paths
store = SqliteStore(sys.argv[1])
def tell(n):
    if n >= 20000:
        print("loading", flush=True)
load_paths(store, [sys.argv[2]], progress=tell)
print("done", flush=True)
"""


def test_killed_load_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    store = SqliteStore(db)
    load_bundle(store, BUNDLE)
    before = list(store.iter_entities()), list(store.iter_relations()), store.revision()
    store.close()
    big = tmp_path / "big.jsonl"
    with big.open("w") as out:
        for i in range(400_000):
            entity = {"id": f"r:{i}", "kind": "Resource", "name": f"R{i}"}
            out.write(json.dumps({"entity": entity}) + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", LOADER, str(db), str(big)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "loading"
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    after = SqliteStore(db)
    assert (list(after.iter_entities()), list(after.iter_relations()), after.revision()) == before
    after.close()


@pytest.fixture
def two_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every load_paths through the two-process pipeline, however small."""
    import keten.ingest.loader

    monkeypatch.setattr(keten.ingest.loader, "PIPELINE_ABOVE", -1)
    monkeypatch.setattr(keten.ingest.loader, "spare_core", lambda: True)


@pytest.mark.usefixtures("two_processes")
def test_pipeline_loads_like_one_process(tmp_path: Path) -> None:
    paths = write_formats(tmp_path / "in")
    piped = SqliteStore(tmp_path / "piped.sqlite")
    report = load_paths(piped, [paths["jsonl"], paths["yaml"]])
    assert report.records == 10 and report.counts.entities_created == 3
    assert report.counts.entities_unchanged == 3
    direct = SqliteStore(tmp_path / "direct.sqlite")
    load_bundle(direct, BUNDLE)
    strip = lambda rows: [(r.as_record() | {"created_at": 0, "updated_at": 0}) for r in rows]  # noqa: E731
    assert strip(piped.iter_entities()) == strip(direct.iter_entities())
    assert strip(piped.iter_relations()) == strip(direct.iter_relations())


@pytest.mark.usefixtures("two_processes")
def test_pipeline_refuses_and_dry_runs(sqlite_store: SqliteStore, tmp_path: Path) -> None:
    good = write_formats(tmp_path / "in")["jsonl"]
    assert load_paths(sqlite_store, [good], dry_run=True).counts.relations_created == 2
    assert sqlite_store.revision() == 0
    load_bundle(sqlite_store, {"entities": [BUNDLE["entities"][0]]})
    bad = tmp_path / "bad.jsonl"
    rel = {"source": "vp:power", "target": "vp:ghost", "type": "DEPENDS_ON"}
    ent = {"id": "vp:new", "kind": "VitalProcess", "name": "New"}
    bad.write_text(json.dumps({"entity": ent}) + "\n" + json.dumps({"relation": rel}) + "\n")
    with pytest.raises(BundleRejected) as refused:
        load_paths(sqlite_store, [bad])
    assert [(p.where, p.field, p.value) for p in refused.value.problems] == [
        ("line 2", "target", "vp:ghost")
    ]
    assert sqlite_store.get_entity("vp:new") is None and sqlite_store.revision() == 1


def test_integers_too_large_to_store_are_refused(sqlite_store: SqliteStore) -> None:
    bundle = {
        "entities": [
            {"id": "t:1", "kind": "Threat", "name": "T", "sizes": [1, 2**70]},
            {"id": "t:2", "kind": "Threat", "name": "U", "small": -(2**63), "big": 2**63 - 1},
            {"id": "t:3", "kind": "Threat", "name": "V", "unsigned": 2**63},
        ]
    }
    with pytest.raises(BundleRejected) as refused:
        load_bundle(sqlite_store, bundle)
    assert [(p.where, p.field) for p in refused.value.problems] == [
        ("entities[0]", "sizes.1"),
        ("entities[2]", "unsigned"),
    ]
    assert sqlite_store.revision() == 0
    alone = {"entities": [{"id": "t:4", "kind": "Threat", "name": "W", "unsigned": 2**63 + 5}]}
    with pytest.raises(BundleRejected) as refused:
        load_bundle(sqlite_store, alone)  # a batch with no larger integer to give it away
    assert [(p.where, p.field) for p in refused.value.problems] == [("entities[0]", "unsigned")]
    assert sqlite_store.revision() == 0


# -- knowledge is never lost silently ----------------------------------------------------


@pytest.fixture
def reference_store(tmp_path: Path) -> SqliteStore:
    """A store holding the reference knowledge base, as after `keten init`."""
    store = SqliteStore(tmp_path / "reference.sqlite")
    load_paths(store, [reference_bundle_path()])
    return store


def test_a_partial_record_keeps_what_it_does_not_mention(reference_store: SqliteStore) -> None:
    before = reference_store.get_entity("vp:gas-national")
    assert before is not None and {"sector", "category", "source_ids"} <= set(before.props)
    partial = {"id": "vp:gas-national", "kind": "VitalProcess", "name": "Gas"}
    report = load_bundle(reference_store, {"entities": [partial]})
    after = reference_store.get_entity("vp:gas-national")
    assert after is not None and after.name == "Gas" and after.props == before.props
    assert (report.counts.entities_updated, report.changes) == (
        1,
        [{"entity": "vp:gas-national", "fields": ["name"]}],
    )
    removal = {**partial, "ministry": None}
    load_bundle(reference_store, {"entities": [removal]})
    assert "ministry" not in reference_store.get_entity("vp:gas-national").props  # type: ignore[union-attr]


def test_replace_is_an_explicit_mode(reference_store: SqliteStore) -> None:
    partial = {"id": "vp:gas-national", "kind": "VitalProcess", "name": "Gas"}
    report = load_bundle(reference_store, {"entities": [partial]}, mode=WriteMode.REPLACE)
    assert reference_store.get_entity("vp:gas-national").props == {}  # type: ignore[union-attr]
    assert report.as_dict()["mode"] == "replace"
    (entry,) = reference_store.audit(entity="vp:gas-national").items[-1:]
    assert entry.detail is not None and entry.detail["mode"] == "replace"


def test_an_id_keeps_its_kind(reference_store: SqliteStore) -> None:
    wrong = {"id": "vp:drinking-water", "kind": "Resource", "name": "Water"}
    with pytest.raises(BundleRejected) as refused:
        load_bundle(reference_store, {"entities": [wrong]})
    (problem,) = refused.value.problems
    assert (problem.where, problem.field, problem.value) == ("entities[0]", "kind", "Resource")
    assert "vp:drinking-water is a VitalProcess in the store" in problem.why
    assert reference_store.get_entity("vp:drinking-water").kind == "VitalProcess"  # type: ignore[union-attr]


def test_two_different_records_with_one_id_are_refused(sqlite_store: SqliteStore) -> None:
    same = {"id": "vp:a", "kind": "VitalProcess", "name": "A"}
    load_bundle(sqlite_store, {"entities": [same, dict(same)]})  # exact repeats are fine
    other_kind = {**same, "kind": "Resource"}
    with pytest.raises(BundleRejected) as refused:
        load_bundle(
            sqlite_store, {"entities": [{**same, "id": "vp:b"}, {**other_kind, "id": "vp:b"}]}
        )
    assert refused.value.problems[0].where == "entities[1]"
    other_name = {**same, "name": "A2"}
    with pytest.raises(BundleRejected) as refused:
        load_bundle(
            sqlite_store, {"entities": [{**same, "id": "vp:c"}, {**other_name, "id": "vp:c"}]}
        )
    assert "vp:c" in refused.value.problems[0].why and "name" in refused.value.problems[0].why
    rel = {"source": "vp:a", "target": "vp:a", "type": "CITES"}
    with pytest.raises(BundleRejected):
        load_bundle(sqlite_store, {"relations": [{**rel, "note": "x"}, {**rel, "note": "y"}]})
    assert sqlite_store.get_entity("vp:b") is None and sqlite_store.get_entity("vp:c") is None


def test_a_disagreement_names_the_file_it_was_found_in(
    sqlite_store: SqliteStore, tmp_path: Path
) -> None:
    twice = tmp_path / "twice.yaml"
    records = [{"id": "org:v", "kind": "Organisation", "name": "V", "sector": s} for s in "ab"]
    twice.write_text(yaml.safe_dump({"entities": records}))
    with pytest.raises(BundleRejected) as refused:
        load_paths(sqlite_store, [twice])
    (problem,) = refused.value.problems
    assert (problem.file, problem.where, problem.field) == (str(twice), "id org:v", "id")
    assert problem.why.endswith("different values for: sector")
    with pytest.raises(BundleRejected) as refused:
        load_bundle(sqlite_store, {"entities": records}, name="request body")
    assert refused.value.problems[0].file == "request body"
    assert sqlite_store.get_entity("org:v") is None


def test_times_sent_with_records_are_the_servers(sqlite_store: SqliteStore) -> None:
    record = {"id": "vp:a", "kind": "VitalProcess", "name": "A"}
    past = "2001-01-01T00:00:00Z"
    load_bundle(sqlite_store, {"entities": [{**record, "created_at": past, "updated_at": past}]})
    stored = sqlite_store.get_entity("vp:a")
    assert stored is not None and stored.created_at > "2020" and stored.updated_at > "2020"


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"id": "vp:a", "kind": {}, "name": "A"}, "kind"),
        ({"id": "vp:a", "kind": ["VitalProcess"], "name": "A"}, "kind"),
        ({"id": {"x": 1}, "kind": "VitalProcess", "name": "A"}, "id"),
        ({"id": "vp:a", "kind": "VitalProcess", "name": 7}, "name"),
        ({"id": "vp:\x00a", "kind": "VitalProcess", "name": "A"}, "id"),
        ({"id": "vp:a", "kind": "VitalProcess", "name": "A\x1b[31m"}, "name"),
        ({"id": "vp:a", "kind": "VitalProcess", "name": "A", "note": "\ud800"}, "note"),
        ({"id": "vp:a", "kind": "VitalProcess", "name": "A", "marking": "red"}, "marking"),
        ({"id": "vp:a@red", "kind": "VitalProcess", "name": "A", "marking": "amber"}, "marking"),
        (
            {"id": "vp:a", "kind": "VitalProcess", "name": "A", "source_ids": ["s@red"]},
            "source_ids.0",
        ),
        (
            {"id": "vp:a@amber", "kind": "VitalProcess", "name": "A", "institute": "i@red"},
            "institute",
        ),
        (
            {"id": "t:a", "kind": "Threat", "name": "A", "impact": {"i:x@amber": "C"}},
            "impact.i:x@amber",
        ),
    ],
)
def test_bad_values_are_refused_by_name(
    sqlite_store: SqliteStore, record: dict[str, object], field: str
) -> None:
    with pytest.raises(BundleRejected) as refused:
        load_bundle(sqlite_store, {"entities": [record]})
    assert [(p.where, p.field) for p in refused.value.problems] == [("entities[0]", field)]
    assert sqlite_store.revision() == 0


def test_relations_of_the_wrong_type_are_refused_by_name(sqlite_store: SqliteStore) -> None:
    bad = {"source": "vp:a", "target": "vp:b", "type": {"DEPENDS_ON": 1}}
    with pytest.raises(BundleRejected) as refused:
        load_bundle(sqlite_store, {"relations": [bad]})
    assert [(p.where, p.field) for p in refused.value.problems] == [("relations[0]", "type")]


def test_yaml_aliases_cannot_blow_up(tmp_path: Path, sqlite_store: SqliteStore) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join([*lines, "entities: [*a8]"]) + "\n")
    assert bomb.stat().st_size < 1000
    with pytest.raises(BundleRejected) as refused:
        load_paths(sqlite_store, [bomb])
    assert "aliases expand" in refused.value.problems[0].why
    fine = tmp_path / "anchors.yaml"
    fine.write_text(
        "defaults: &d {kind: VitalProcess, sector: Energy}\n"
        "entities:\n  - {<<: *d, id: 'vp:a', name: A}\n  - {<<: *d, id: 'vp:b', name: B}\n"
    )
    with pytest.raises(BundleRejected) as refused:
        load_paths(sqlite_store, [fine])  # `defaults` is no bundle key, but the aliases expand
    assert [(p.field, p.why) for p in refused.value.problems] == [
        ("defaults", "unknown top-level keys")
    ]


def test_a_record_may_name_what_its_readers_may_see(sqlite_store: SqliteStore) -> None:
    red = {"id": "t:a@red", "kind": "Threat", "name": "A", "source_ids": ["s:b@red", "s:c"]}
    ends = [{"id": f"a:{n}@red", "kind": "Actor", "name": n} for n in ("x", "y")]
    cites = {"source": "a:x@red", "target": "a:y@red", "type": "CONTROLS", "source_ids": ["s@red"]}
    report = load_bundle(sqlite_store, {"entities": [red, *ends], "relations": [cites]})
    assert (report.counts.entities_created, report.counts.relations_created) == (3, 1)


def test_a_wrong_end_in_a_later_batch_is_refused_at_its_line(
    sqlite_store: SqliteStore, tmp_path: Path
) -> None:
    """Batches whose endpoint kinds are all known and allowed pass in one set comparison;
    one wrong relation among them is still found, at its line, and nothing is written."""
    net = generate_network(200, 2 * BATCH + 100, seed=1)
    ids = {e["kind"]: e["id"] for e in net.entity_records()}
    lines = [{"entity": e} for e in net.entity_records()]
    lines += [{"relation": r} for r in net.relation_records()]
    wrong = {"source": ids["Interest"], "target": ids["Resource"], "type": "SAFEGUARDS"}
    unknown = {"source": ids["Resource"], "target": "res:nowhere", "type": "DEPENDS_ON"}
    lines[BATCH + 150 :] = [{"relation": wrong}, *lines[BATCH + 150 :], {"relation": unknown}]
    path = tmp_path / "late-wrong.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    with pytest.raises(BundleRejected) as refused:
        load_paths(sqlite_store, [path])
    found = {(p.where, p.field, p.value) for p in refused.value.problems}
    assert found == {
        (f"line {BATCH + 151}", "type", "SAFEGUARDS"),
        (f"line {len(lines)}", "target", "res:nowhere"),
    }
    assert sqlite_store.revision() == 0 and list(sqlite_store.iter_entities()) == []


def test_a_bundle_in_memory_is_left_as_it_was(sqlite_store: SqliteStore) -> None:
    """Rows of a file's records are made of the records themselves; a caller's bundle (an
    API request's) is copied, so that it still says what it said after the load."""
    net = generate_network(100, 500, seed=2)
    bundle = {"entities": list(net.entity_records()), "relations": list(net.relation_records())}
    before = orjson.dumps(bundle)
    load_bundle(sqlite_store, bundle)
    assert orjson.dumps(bundle) == before
    assert len(list(sqlite_store.iter_relations())) == len(bundle["relations"])
