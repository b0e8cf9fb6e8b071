"""An export run in a worker thread and handed to the response in chunks, as it is written.

Why: the exports used to be written whole into a spool file before their first byte went
out, which at a national graph (1M entities, 10M relations) took longer than clients wait,
and an export whose client had gone kept running. Here the writer (`write_json`,
`write_stix`, `write_graphml`: any function writing to a binary file) runs in one of
`MAX_EXPORTS` worker threads and writes into a `Handoff`, which passes chunks of about
`CHUNK` bytes to the event loop; at most `DEPTH` chunks wait there, so a slow client slows
the writer down instead of filling memory.

* The response starts only once the first chunk (or the end, or an error) is there, so an
  export that fails at its start (the store unreachable, an id GraphML cannot carry) still
  answers a problem with its status.
* An error after the first byte cannot change the status: the body ends with a line saying
  the export failed, the chunked response is cut off without its last chunk (clients see
  an incomplete body, `curl` exits 18) and the server logs the error.
* When the client goes away, the writer's next write raises `ExportCancelled`, so it stops
  within one record; its store iterator is closed on the way out (for SQLite that ends the
  read statement of the thread's own connection; Neo4j reads each page in a transaction of
  its own, so nothing stays open between pages).
* A writer whose chunks nobody takes for `STALL_SECONDS` stops too (a response that was
  never sent cannot hold a worker for ever).
* Beyond `MAX_EXPORTS` running at once, `start` refuses with 503 and Retry-After: each
  export keeps a core busy for minutes at that size, and the machine has few.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import IO, cast

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from keten.api.problems import ApiProblem
from keten.graph.store import GraphStore
from keten.schema.markings import Tlp

log = logging.getLogger(__name__)

Writer = Callable[[GraphStore, IO[bytes], Tlp], object]
CHUNK = 256 * 1024
"""Bytes gathered before a chunk goes to the response."""
DEPTH = 8
"""Chunks that may wait for the client per export (DEPTH * CHUNK bytes at most)."""
FLUSH_SECONDS = 1.0
"""A slow writer's gathered bytes go out at least this often, even short of a chunk."""
MAX_EXPORTS = 2
"""Exports running at once; one more is refused with 503."""
RETRY_AFTER_SECONDS = 60
STALL_SECONDS = 600.0
"""A writer whose chunks nobody took for this long stops (a response that was never sent)."""
WAIT_POLL_SECONDS = 1.0
"""How often the wait for the first chunk checks whether the client is still there."""
BROKEN = b"\n\n!!! keten: the export failed here; this file is incomplete\n"

_slots = threading.BoundedSemaphore(MAX_EXPORTS)
_workers = ThreadPoolExecutor(max_workers=MAX_EXPORTS, thread_name_prefix="keten-export")
_running = 0
_running_lock = threading.Lock()


class ExportCancelled(Exception):
    """Raised inside the writer when the response no longer wants its bytes."""


class ExportFailed(Exception):
    """An export that failed after its first bytes were sent (the server cuts it off)."""


class Done:
    """The end of an export, with its error if it failed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def running() -> int:
    """How many exports hold a worker now (the test of cancellation watches it)."""
    return _running


class Handoff:
    """The binary file the writer writes to: gathers bytes and passes chunks to the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[bytes | Done] = asyncio.Queue()
        self.room = threading.Semaphore(DEPTH)
        self.cancelled = threading.Event()
        self.buffer = bytearray()
        self.flushed = time.monotonic()
        self.handed = 0
        """Chunks handed over: once one has, the response has started."""

    def write(self, data: bytes) -> int:
        """Gather `data`; stops the writer (`ExportCancelled`) once the client has gone."""
        if self.cancelled.is_set():
            raise ExportCancelled
        self.buffer += data
        if len(self.buffer) >= CHUNK or time.monotonic() - self.flushed >= FLUSH_SECONDS:
            self.hand_over()
        return len(data)

    def flush(self) -> None:
        """Stops the writer (`ExportCancelled`) once the client has gone, as a broken pipe
        would; chunks go out as they fill. A writer that reads long before it writes (the
        first pass of GraphML) calls it as it goes."""
        if self.cancelled.is_set():
            raise ExportCancelled

    def writable(self) -> bool:
        return True

    def hand_over(self) -> None:
        """Pass the gathered bytes on, waiting while DEPTH chunks are still unread."""
        if not self.buffer:
            return
        waited = time.monotonic()
        while not self.room.acquire(timeout=0.25):
            if self.cancelled.is_set():
                raise ExportCancelled
            if time.monotonic() - waited > STALL_SECONDS:  # a response that never read on
                self.cancelled.set()
                raise ExportCancelled
        chunk, self.buffer = bytes(self.buffer), bytearray()
        self.loop.call_soon_threadsafe(self.queue.put_nowait, chunk)
        self.handed += 1
        self.flushed = time.monotonic()

    def finish(self, error: BaseException | None) -> None:
        """Hand over the rest and the end (does not wait: the end takes no room)."""
        if error is None:
            self.hand_over()
        self.loop.call_soon_threadsafe(self.queue.put_nowait, Done(error))

    async def next(self) -> bytes | Done:
        """The next chunk or the end."""
        item = await self.queue.get()
        if isinstance(item, bytes):
            self.room.release()
        return item


def start(write: Writer, store: GraphStore, clearance: Tlp) -> Handoff:
    """Start an export in a worker thread, or refuse with 503 when MAX_EXPORTS run."""
    if not _slots.acquire(blocking=False):
        raise ApiProblem(
            503,
            "busy",
            f"{MAX_EXPORTS} exports are running; try again later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    handoff = Handoff(asyncio.get_running_loop())
    try:
        _workers.submit(run, write, store, clearance, handoff)
    except BaseException:
        _slots.release()
        raise
    return handoff


def run(write: Writer, store: GraphStore, clearance: Tlp, handoff: Handoff) -> None:
    """The worker: the export into `handoff`, then its end; always frees its slot."""
    global _running
    with _running_lock:
        _running += 1
    try:
        error: BaseException | None = None
        try:
            write(store, cast(IO[bytes], handoff), clearance)
        except ExportCancelled:
            log.info("export stopped after %d chunks: its client went away", handoff.handed)
            return
        except Exception as exc:  # handed to the response: a problem, or a cut-off body
            if handoff.handed:
                log.error("export failed after its first bytes were sent", exc_info=exc)
            traceback.clear_frames(exc.__traceback__)  # the writer's frames hold store cursors
            error = exc
        with suppress(ExportCancelled, RuntimeError):  # cancelled, or the loop has closed
            handoff.finish(error)
    finally:
        with _running_lock:
            _running -= 1
        _slots.release()


async def first_chunk(handoff: Handoff, request: Request) -> bytes | Done | None:
    """The first chunk or the end; None when the client left while waiting. However this
    wait ends otherwise (the server stopping), the writer is told to stop."""
    getter = asyncio.ensure_future(handoff.next())
    try:
        while True:
            done, _ = await asyncio.wait({getter}, timeout=WAIT_POLL_SECONDS)
            if done:
                return getter.result()
            if await request.is_disconnected():
                handoff.cancelled.set()
                return None
    except BaseException:
        handoff.cancelled.set()
        raise
    finally:
        getter.cancel()


async def chunks(handoff: Handoff, first: bytes) -> AsyncIterator[bytes]:
    """The response body: `first`, then every chunk; a failure ends it with BROKEN and
    raises, so that the server cuts the response off. (However it ends, `ExportResponse`
    tells the writer to stop.)"""
    yield first
    while isinstance(item := await handoff.next(), bytes):
        yield item
    if item.error is not None:
        yield BROKEN
        raise ExportFailed(f"export cut off: {item.error}")


class ExportResponse(StreamingResponse):
    """A streamed export whose writer is told to stop however the response ends."""

    def __init__(
        self, handoff: Handoff, first: bytes, media_type: str, headers: dict[str, str]
    ) -> None:
        super().__init__(chunks(handoff, first), media_type=media_type, headers=headers)
        self.handoff = handoff

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.handoff.cancelled.set()
