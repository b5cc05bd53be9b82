"""A request body limit for every endpoint, also for chunked bodies without Content-Length.

The ingest endpoints stream their bodies through ``deps.read_body`` and a reference upload
spools to disk under its own, larger limit; every other endpoint (JSON bodies parsed by
FastAPI) would otherwise read a body of any size into memory. This middleware buffers such a
body up to ``max_body_bytes`` and answers 413 as soon as it grows past it.
"""

from __future__ import annotations

import re

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modeltower.api.responses import send_json

# Endpoints that enforce their own limit while streaming (see the module docstring).
_STREAMING = re.compile(r"^/v1/(events|feedback)$|^/v1/models/[^/]+/reference$")
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def too_large_body(limit: int) -> bytes:
    """The JSON body of a 413 answer."""
    message = f"the body exceeds the limit of {limit} bytes (max_body_bytes)"
    return orjson.dumps({"detail": {"message": message, "limit": limit}})


class BodyLimit:
    """Pure ASGI middleware refusing bodies over ``limit`` bytes with 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body (up to the limit), then hand it to the application in one piece."""
        if (
            scope["type"] != "http"
            or scope["method"] in _NO_BODY
            or _STREAMING.match(scope.get("path", ""))
        ):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _refuse(self, send: Send) -> None:
        # the rest of the body is never read
        await send_json(send, 413, too_large_body(self.limit), [(b"connection", b"close")])


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A receive callable giving ``messages`` first, then the original receive (disconnects)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive
