"""A cap on request bodies, so one request cannot exhaust the server's memory.

Bodies are parsed in memory (a bundle bigger than this belongs in `keten load`). A declared
`Content-Length` above the cap is refused before anything is read; a chunked body is counted
as it arrives: past the cap the app is told the client left (so it stops reading), its
answer is dropped and a 413 goes out instead. Both answer 413 problem details.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keten.api.problems import problem_response

MAX_BODY_BYTES = 64 * 1024 * 1024


def too_large(limit: int) -> str:
    """The detail of a 413."""
    return f"the request body exceeds {limit:,} bytes; load large bundles with `keten load`"


class BodyLimit:
    """ASGI middleware refusing bodies over `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(413, "body-too-large", too_large(self.max_bytes))
            await response(scope, receive, send)
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, unless_refused)
        if refused:
            response = problem_response(413, "body-too-large", too_large(self.max_bytes))
            await response(scope, receive, send)
