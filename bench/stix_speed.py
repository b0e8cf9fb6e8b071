"""How fast keten writes and reads STIX 2.1, against its own JSON bundle in the same process.

Run: `.venv/bin/python -m bench.stix_speed [--entities N] [--relations M] [--attack 5000,20000]
[--library] [--home KETEN_HOME]`

A synthetic network (as `keten generate` makes) is loaded into a SQLite store. Export: the
baseline is `write_json` of that store, then `write_stix` of the same store (each object's
JSON written as the `stix2` library writes it); with `--library` also `write_stix` with
`checked_json`, which makes every object as a `stix2` object first (the reference, and how
exports were made before). Import: the baseline loads the JSON export into an empty store,
then the STIX export is read with `read_stix_bundle` and loaded into another empty store.
The ratios say what the STIX mapping costs on top of keten's own format.

Then `keten export --format json` and `--format stix` of that store, each in a process of
its own, with wall time and peak memory (VmHWM, sampled every 50 ms); `--home` runs only
these, on the store of a given KETEN_HOME (copy a prepared one first: an export may write
beside it).

ATT&CK-shaped feeds (`--attack`, sizes in STIX objects; `bench.attack_bundle` makes them with
ATT&CK Enterprise's type and relationship mix): each bundle is loaded into an empty store,
timed, and the share of its objects and relationships that became records is counted from
the import's own not-kept report. The baseline loads the same records again from keten's own
JSON export of that store into another empty store, so the ratio is the cost of reading STIX.
The store is also exported back as STIX and as keten JSON.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from bench.attack_bundle import attack_bundle
from keten.graph.export import write_json
from keten.graph.sqlite import SqliteStore
from keten.graph.stix_export import checked_json, write_stix
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
    parser.add_argument(
        "--library", action="store_true", help="also time the stix2 library's way (slow)"
    )
    parser.add_argument("--home", type=Path, help="only the CLI exports of this KETEN_HOME")
    args = parser.parse_args()
    if args.home:
        cli_exports(args.home)
        return
    synthetic(args.entities, args.relations, args.library)
    for size in (int(n) for n in args.attack.split(",") if n):
        attack_feed(size)


def cli_exports(home: Path) -> None:
    """`keten export` as JSON, then as STIX, of the store in `home`: time and peak memory."""
    results = {fmt: cli_export(home, fmt) for fmt in ("json", "stix")}
    for fmt, (seconds, peak, size) in results.items():
        mb = size / 1e6
        print(f"keten export --format {fmt}: {seconds:.1f} s, peak {peak:,.0f} MB, {mb:,.0f} MB")
    json_s, stix_s = results["json"][0], results["stix"][0]
    print(f"CLI export stix / json = {stix_s / json_s:.2f}")


def cli_export(home: Path, fmt: str) -> tuple[float, float, int]:
    """Seconds, peak MB and bytes of one `keten export --format fmt` in its own process."""
    keten = Path(sys.executable).with_name("keten")
    out = home / f"bench-export.{fmt}"
    env = {**os.environ, "KETEN_HOME": str(home), "KETEN_STORE": "sqlite"}
    env.pop("NEO4J_URI", None)
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(
            [str(keten), "export", "--format", fmt, "--out", str(out)], env=env, stderr=errors
        )
        peak = 0
        while process.poll() is None:
            peak = max(peak, high_water_mark(process.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        if process.returncode:
            errors.seek(0)
            raise SystemExit(f"keten export --format {fmt} failed: {errors.read().decode()}")
    size = out.stat().st_size
    out.unlink()
    return seconds, peak / 1024, size


def high_water_mark(pid: int) -> int:
    """A running process's peak resident memory so far in KiB (VmHWM; 0 once it is gone).

    Sampled, because a child's ``ru_maxrss`` also counts its parent's memory at the fork."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


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
        json_write = timed(lambda: write_json(store, out))
        stix_write = timed(lambda: write_stix(store, io.BytesIO()))
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
        f"{1 - lost_relationships / relationships:.1%} of {relationships:,} relationships; "
        f"exported back as STIX {stix_write:.2f} s, as keten JSON {json_write:.2f} s, "
        f"ratio {stix_write / json_write:.2f}"
    )


def synthetic(entities: int, relations: int, library: bool) -> None:
    """Export and import a synthetic network as STIX and as keten JSON; the CLI's exports."""
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
        if library:
            checked_out = io.BytesIO()
            checked = timed(lambda: write_stix(store, checked_out, encode=checked_json))
            same = checked_out.getvalue() == stix_out.getvalue()
        json_doc = orjson.loads(json_out.getvalue())
        stix_doc = orjson.loads(stix_out.getvalue())
        json_read = timed(lambda: load_bundle(SqliteStore(home / "json.sqlite"), json_doc))
        stix_read = timed(
            lambda: load_items(SqliteStore(home / "stix.sqlite"), read_stix_bundle(stix_doc, "b"))
        )
        store.close()
        cli_home = home / "home"
        cli_home.mkdir()
        (home / "source.sqlite").rename(cli_home / "keten.sqlite")
        print(
            f"{records:,} records; JSON {len(json_out.getvalue()) / 1e6:.1f} MB, "
            f"STIX {len(stix_out.getvalue()) / 1e6:.1f} MB"
        )
        print(
            f"export  json {json_write:.2f} s  stix {stix_write:.2f} s  "
            f"ratio {stix_write / json_write:.2f}  ({records / stix_write:,.0f} records/s)"
        )
        if library:
            print(
                f"export  stix as the stix2 library makes it {checked:.2f} s, "
                f"library / fast {checked / stix_write:.1f}, same bytes: {same}"
            )
        print(
            f"import  json {json_read:.2f} s  stix {stix_read:.2f} s  "
            f"ratio {stix_read / json_read:.2f}  ({records / stix_read:,.0f} records/s)"
        )
        cli_exports(cli_home)


if __name__ == "__main__":
    main()
