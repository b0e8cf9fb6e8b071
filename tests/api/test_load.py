"""Bounded loopback load: readers in parallel with a writer; no errors and no lost writes."""

from __future__ import annotations

from bench.api_load import reader_requests, run_load
from keten.api.keys import Role
from keten.schema.markings import Tlp
from tests.api.conftest import Api

WRITES = 60


def test_concurrent_readers_and_a_writer_see_no_errors_and_lose_no_writes(api: Api) -> None:
    reader, writer = api.key(Role.READER, Tlp.GREEN), api.key(Role.CONTRIBUTOR, Tlp.GREEN)
    mix = reader_requests("vp:power", "vp:water")
    result = run_load(
        api.url, reader, writer, mix, readers=8, seconds=3, writes=WRITES, target="vp:power"
    )
    assert result.reads.errors == []
    assert result.writes.errors == []
    assert len(result.writes.latencies) == 2 * WRITES
    assert len(result.reads.latencies) > 8 * len(mix)
    assert result.missing == []
    # the writes are there for the analyses too: each new resource depends on vp:power
    reach = api.client(Role.READER, Tlp.GREEN).post(
        "/analysis/cascade", json={"sources": ["vp:power"], "limit": 1000}
    )
    affected = {a["id"] for a in reach.json()["affected"]}
    assert {f"res:load-{i}" for i in range(WRITES)} <= affected
