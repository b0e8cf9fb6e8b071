"""A per-process bound on the whole-graph analyses a server runs at once.

A sync route's work runs in anyio's thread pool and goes on when its client gives up, so a
client that times out and asks again (or several clients at once) stack whole-graph
analyses in one process until its memory runs out (10.3 GB at 1M entities / 10M relations,
issue 19). The heavy routes therefore take a slot of an `AnalysisGate` before their work
starts. The wait happens on the event loop, not in a thread, so reads, small cascades and
/health never queue behind it; a waiting request whose client has gone never starts its
work; one that waits longer than the gate's bound gets a 503 problem with `Retry-After`.

The slot is taken after the key check (a 401 or 403 costs no wait), and a 503 names only
how busy the server is, never anything of the records the request named.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import Depends, Request

from keten.api.deps import ReaderDep
from keten.api.problems import ApiProblem

POLL_SECONDS = 0.25
"""How often a waiting request checks whether its client is still there."""


class ClientGone(ApiProblem):
    """The client of a waiting request disconnected: its work is not started (the answer,
    499 as proxies log it, reaches no one)."""

    def __init__(self) -> None:
        super().__init__(499, "client-gone", "the client left before an analysis slot was free")


def busy(wait_seconds: float, slots: int) -> ApiProblem:
    """The 503 of a request that waited `wait_seconds` for one of `slots` in vain."""
    detail = (
        f"the server is running {slots} whole-graph analys{'i' if slots == 1 else 'e'}s "
        f"already and none finished within {wait_seconds:g} s; try again later"
    )
    retry = str(max(1, math.ceil(wait_seconds)))
    return ApiProblem(503, "analysis-busy", detail, headers={"Retry-After": retry})


class AnalysisGate:
    """At most `slots` heavy analyses at once in this process; others wait up to
    `wait_seconds` (then 503) and are dropped when their client leaves while waiting.

    `started` counts the analyses let through, so a test (or an operator) can see that a
    request whose client left never ran.
    """

    def __init__(self, slots: int, wait_seconds: float) -> None:
        if slots < 1:
            raise ValueError(f"analysis slots must be at least 1, not {slots}")
        self.slots = slots
        self.wait_seconds = wait_seconds
        self.started = 0
        self._semaphore: anyio.Semaphore | None = None

    @property
    def semaphore(self) -> anyio.Semaphore:
        """The slots, made on first use inside the server's event loop."""
        if self._semaphore is None:
            self._semaphore = anyio.Semaphore(self.slots)
        return self._semaphore

    async def acquire(self, request: Request) -> None:
        """Wait for a slot: `ClientGone` if the client leaves first, 503 past the bound."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise busy(self.wait_seconds, self.slots)
            with anyio.move_on_after(min(POLL_SECONDS, left)):
                await self.semaphore.acquire()
                self.started += 1
                return
            if await request.is_disconnected():
                raise ClientGone

    @asynccontextmanager
    async def slot(self, request: Request) -> AsyncIterator[None]:
        """Hold a slot for the work done inside."""
        await self.acquire(request)
        try:
            yield
        finally:
            self.semaphore.release()


def gate_of(request: Request) -> AnalysisGate:
    """The app's gate."""
    gate: AnalysisGate = request.app.state.analysis_gate
    return gate


async def analysis_slot(request: Request, principal: ReaderDep) -> AsyncIterator[None]:
    """Route dependency: the route's work runs holding a slot (taken after the key check,
    which is why it names the reader)."""
    async with gate_of(request).slot(request):
        yield


AnalysisSlot = Depends(analysis_slot)
"""Put in a heavy route's `dependencies=[...]`."""
