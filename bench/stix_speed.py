"""How fast keten writes and reads STIX 2.1, against its own JSON bundle in the same process.

Run: `.venv/bin/python -m bench.stix_speed [--entities N] [--relations M] [--attack 5000,20000]`

A synthetic network (as `keten generate` makes) is loaded into a SQLite store. Export: the
baseline is `write_json` of that store, then `write_stix` of the same store. Import: the
baseline loads the JSON export into an empty store, then the STIX export is read with
`read_stix_bundle` and loaded into another empty store. The ratios say what the STIX mapping
costs on top of keten's own format.

ATT&CK-shaped feeds (`--attack`, sizes in STIX objects; `bench.attack_bundle` makes them with
ATT&CK Enterprise's type and relationship mix): each bundle is loaded into an empty store,
timed, and the share of its objects and relationships that became records is counted from
the import's own not-kept report. The baseline loads the same records again from keten's own
JSON export of that store into another empty store, so the ratio is the cost of reading STIX.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from bench.attack_bundle import attack_bundle
from keten.graph.export import write_json
from keten.graph.sqlite import SqliteStore
from keten.graph.stix_export import write_stix
from keten.ingest import load_bundle, load_items
from keten.ingest.stix import read_stix_bundle
from keten.queries.synthetic import generate_network


def timed(run: Callable[[], object]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--relations", type=int, default=60_000)
    parser.add_argument(
        "--attack", default="5000,10000,20000", help="ATT&CK-shaped bundle sizes (objects)"
    )
    args = parser.parse_args()
    synthetic(args.entities, args.relations)
    for size in (int(n) for n in args.attack.split(",") if n):
        attack_feed(size)


def attack_feed(objects: int) -> None:
    """Load an ATT&CK-shaped bundle of `objects` objects; time, ratio and share represented."""
    bundle = attack_bundle(objects, seed=1)
    relationships = sum(o["type"] == "relationship" for o in bundle["objects"])
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        store = SqliteStore(home / "stix.sqlite")
        report = None

        def load_stix() -> None:
            nonlocal report
            report = load_items(store, read_stix_bundle(bundle, "attack.json"))

        stix_read = timed(load_stix)
        out = io.BytesIO()
        write_json(store, out)
        store.close()
        json_doc = orjson.loads(out.getvalue())
        json_read = timed(lambda: load_bundle(SqliteStore(home / "json.sqlite"), json_doc))
    assert report is not None
    lost_relationships = sum(
        r["count"] for r in report.not_kept if r["stix_type"] == "relationship"
    )
    lost_objects = sum(r["count"] for r in report.not_kept) - lost_relationships
    others = objects - relationships
    print(
        f"ATT&CK-shaped {objects:,} objects: STIX load {stix_read:.2f} s, same records from "
        f"keten JSON {json_read:.2f} s, ratio {stix_read / json_read:.2f}; represented "
        f"{1 - lost_objects / others:.1%} of {others:,} objects, "
        f"{1 - lost_relationships / relationships:.1%} of {relationships:,} relationships"
    )


def synthetic(entities: int, relations: int) -> None:
    """Export and import a synthetic network as STIX and as keten JSON."""
    network = generate_network(entities, relations, seed=1)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        store = SqliteStore(home / "source.sqlite")
        bundle = {
            "entities": list(network.entity_records()),
            "relations": list(network.relation_records()),
        }
        load_bundle(store, bundle)
        records = len(bundle["entities"]) + len(bundle["relations"])
        json_out, stix_out = io.BytesIO(), io.BytesIO()
        json_write = timed(lambda: write_json(store, json_out))
        stix_write = timed(lambda: write_stix(store, stix_out))
        json_doc = orjson.loads(json_out.getvalue())
        stix_doc = orjson.loads(stix_out.getvalue())
        json_read = timed(lambda: load_bundle(SqliteStore(home / "json.sqlite"), json_doc))
        stix_read = timed(
            lambda: load_items(SqliteStore(home / "stix.sqlite"), read_stix_bundle(stix_doc, "b"))
        )
        store.close()
    print(
        f"{records:,} records; JSON {len(json_out.getvalue()) / 1e6:.1f} MB, "
        f"STIX {len(stix_out.getvalue()) / 1e6:.1f} MB"
    )
    print(
        f"export  json {json_write:.2f} s  stix {stix_write:.2f} s  "
        f"ratio {stix_write / json_write:.2f}  ({records / stix_write:,.0f} records/s)"
    )
    print(
        f"import  json {json_read:.2f} s  stix {stix_read:.2f} s  "
        f"ratio {stix_read / json_read:.2f}  ({records / stix_read:,.0f} records/s)"
    )


if __name__ == "__main__":
    main()
