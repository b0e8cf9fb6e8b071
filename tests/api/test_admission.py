"""The analysis gate on a real server on loopback over a real SQLite store.

A slot is held the way a running analysis holds it: the gate's own semaphore, taken on the
server's event loop (found by a pass-through ASGI layer that notes the loop), so the tests
decide when the "analysis" ends instead of guessing how long a real one takes. What is
checked is what the server does meanwhile: cheap reads answer, a second heavy analysis waits
or gets 503, and a waiting client that leaves never has its analysis run (the risk cache
counts its computations).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from keten.api.admission import AnalysisGate
from keten.api.app import create_app
from keten.api.keys import KeyStore, Role
from keten.api.server import background_server
from keten.config import Settings
from keten.queries.riskpages import RiskCache
from keten.schema.markings import Tlp
from tests.api.conftest import open_seeded


class LoopProbe:
    """Pass-through ASGI layer that notes the server's event loop in `seen`."""

    def __init__(self, app: ASGIApp, seen: list[asyncio.AbstractEventLoop]) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.seen:
            self.seen.append(asyncio.get_running_loop())
        await self.app(scope, receive, send)


@dataclass
class Gated:
    """A served app whose one analysis slot the test can hold."""

    url: str
    gate: AnalysisGate
    risks: RiskCache
    keys: KeyStore
    loop: asyncio.AbstractEventLoop
    releases: list[asyncio.Event] = field(default_factory=list)

    def client(self, clearance: Tlp = Tlp.RED, timeout: float = 30) -> httpx.Client:
        """A client with a new reader key of `clearance`."""
        key = self.keys.create(Role.READER, clearance, label="gate").secret
        return httpx.Client(base_url=self.url, headers={"X-API-Key": key}, timeout=timeout)

    def hold(self) -> None:
        """Take a slot on the server's loop, as a running analysis holds it, until `release`."""
        taken = threading.Event()

        async def occupy(release: asyncio.Event) -> None:
            async with self.gate.semaphore:
                taken.set()
                await release.wait()

        def start() -> None:
            release = asyncio.Event()
            self.releases.append(release)
            self.loop.create_task(occupy(release))

        self.loop.call_soon_threadsafe(start)
        assert taken.wait(10), "the slot was not taken"

    def release(self) -> None:
        """End the held "analysis"."""
        release = self.releases.pop()
        self.loop.call_soon_threadsafe(release.set)


@contextmanager
def gated(folder: Path, wait_seconds: float) -> Iterator[Gated]:
    """The seeded API (tests.api.conftest.SEED) with one analysis slot, on loopback."""
    store = open_seeded(folder, "sqlite")
    settings = Settings(home=folder, analysis_slots=1, analysis_wait_seconds=wait_seconds)
    app = create_app(store, settings)
    seen: list[asyncio.AbstractEventLoop] = []
    app.add_middleware(LoopProbe, seen=seen)
    with background_server(app) as url:
        httpx.get(url + "/health", timeout=30).raise_for_status()
        served = Gated(url, app.state.analysis_gate, app.state.risks, app.state.keys, seen[0])
        try:
            yield served
        finally:
            while served.releases:
                served.release()
    store.close()


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[Gated]:
    """A server whose requests wait at most half a second for a slot."""
    with gated(tmp_path, wait_seconds=0.5) as served:
        yield served


@pytest.fixture
def patient(tmp_path: Path) -> Iterator[Gated]:
    """A server whose requests wait up to a minute for a slot."""
    with gated(tmp_path, wait_seconds=60) as served:
        yield served


def test_a_busy_server_answers_503_with_retry_after_and_runs_nothing(quick: Gated) -> None:
    quick.hold()
    with quick.client() as client:
        answer = client.get("/analysis/risk")
        posted = client.post("/analysis/propagation", json={"sources": ["threat:storm"]})
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "1"
    problem = answer.json()
    assert problem["type"].endswith("/analysis-busy") and problem["status"] == 503
    assert "0.5 s" in problem["detail"]
    assert posted.status_code == 503
    assert quick.risks.computed == 0 and quick.gate.started == 0
    quick.release()
    with quick.client() as client:
        assert client.get("/analysis/risk").status_code == 200
    assert quick.risks.computed == 1 and quick.gate.started == 1


def test_cheap_requests_do_not_wait_behind_a_held_slot(patient: Gated) -> None:
    """With the slot held for as long as the test likes, a read that queued behind it would
    time out; these must answer (and a small cascade is not a whole-graph analysis)."""
    patient.hold()
    with patient.client(timeout=10) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/entities").status_code == 200
        assert client.get("/entities/vp:power").status_code == 200
        cascade = client.post("/analysis/cascade", json={"sources": ["vp:power"]})
        assert cascade.status_code == 200, cascade.text


def test_a_second_analysis_waits_for_the_slot_then_runs(patient: Gated) -> None:
    patient.hold()
    with patient.client() as client, ThreadPoolExecutor(1) as pool:
        waiting: Future[httpx.Response] = pool.submit(client.get, "/analysis/risk")
        time.sleep(1.0)
        assert not waiting.done() and patient.risks.computed == 0
        patient.release()
        assert waiting.result(timeout=30).status_code == 200
    assert patient.risks.computed == 1 and patient.gate.started == 1


def test_a_client_that_leaves_while_waiting_never_has_its_analysis_run(patient: Gated) -> None:
    patient.hold()
    with patient.client(timeout=1.0) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get("/analysis/risk")
    time.sleep(1.0)  # the server looks for the client every quarter of a second
    patient.release()
    time.sleep(1.0)  # were it still waiting, it would have the slot and run by now
    assert patient.risks.computed == 0 and patient.gate.started == 0
    with patient.client() as client:
        assert client.get("/analysis/risk").status_code == 200
    assert patient.risks.computed == 1 and patient.gate.started == 1


def test_a_503_says_nothing_of_hidden_records(quick: Gated) -> None:
    """A green key asking about an amber process and about an id that does not exist gets
    the same 503 while the server is busy: being busy reveals nothing."""
    quick.hold()
    with quick.client(Tlp.GREEN) as green:
        hidden = green.get(
            "/analysis/paths", params={"source": "vp:secret@amber", "target": "vp:power"}
        )
        unknown = green.get(
            "/analysis/paths", params={"source": "vp:nothing", "target": "vp:power"}
        )
    assert hidden.status_code == unknown.status_code == 503
    assert hidden.json() == unknown.json()
    quick.release()
    with quick.client(Tlp.GREEN) as green:
        after = green.get(
            "/analysis/paths", params={"source": "vp:secret@amber", "target": "vp:power"}
        )
    assert after.status_code == 404


def test_an_unauthenticated_request_is_refused_before_it_waits(quick: Gated) -> None:
    quick.hold()
    answer = httpx.get(quick.url + "/analysis/risk", timeout=10)
    assert answer.status_code == 401


def test_a_busy_analysis_page_is_a_503_page_in_the_readers_language(quick: Gated) -> None:
    quick.hold()
    key = quick.keys.create(Role.READER, Tlp.RED, label="page").secret
    with httpx.Client(base_url=quick.url, timeout=30) as browser:
        assert browser.post("/login", data={"key": key, "next": "/pages"}).status_code == 303
        page = browser.get(
            "/pages/criticality", headers={"Accept": "text/html", "Accept-Language": "nl"}
        )
    assert page.status_code == 503 and page.headers["retry-after"] == "1"
    assert page.headers["content-type"].startswith("text/html")
    assert 'lang="nl"' in page.text and "analysis-busy" not in page.text
    assert "De server is bezig met andere analyses; probeer het over 1 s opnieuw." in page.text
    assert quick.gate.started == 0


def test_the_slots_and_the_wait_come_from_the_environment() -> None:
    settings = Settings.from_env({"KETEN_ANALYSIS_SLOTS": "2", "KETEN_ANALYSIS_WAIT": "7.5"})
    assert (settings.analysis_slots, settings.analysis_wait_seconds) == (2, 7.5)
    assert Settings.from_env({}).analysis_slots == 1
    with pytest.raises(ValueError, match="KETEN_ANALYSIS_SLOTS must be a positive number"):
        Settings.from_env({"KETEN_ANALYSIS_SLOTS": "0"})
    with pytest.raises(ValueError, match="at least 1"):
        AnalysisGate(0, 1.0)
