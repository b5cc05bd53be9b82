"""Requests carrying a NUL character (U+0000) are refused with 422, on every backend.

PostgreSQL text and jsonb cannot hold NUL, DuckDB can: without this guard the same event would be
stored on one backend and fail with a 503 ("storage unavailable") on the other. Refusing NUL
everywhere keeps the backends interchangeable and tells the client exactly what is wrong.

The guard is a plain ASGI middleware so that it costs one substring search per body chunk and
never buffers a body: NUL can only reach a JSON string as the escape ``\\u0000`` (a raw 0x00 byte
is invalid JSON anyway), so JSON and NDJSON bodies are scanned for that escape as they stream in.
Other bodies (CSV and Parquet reference uploads) are not JSON text and are not scanned.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modeltower.api.responses import JSON

_ESCAPE = b"\\u0000"
REASON = "must not contain the NUL character (U+0000): it cannot be stored"


class NulInBody(HTTPException):
    """A JSON string of the body holds ``\\u0000``; raised while the body is being read.

    An HTTPException so that FastAPI's own body parsing passes it on unchanged."""

    def __init__(self) -> None:
        super().__init__(422, REASON)


def _escapes_nul(data: bytes) -> bool:
    """Whether ``data`` holds a ``\\u0000`` escape, not an escaped backslash followed by the
    text ``u0000``: the escape counts when an even number of backslashes precede it."""
    start = 0
    while (i := data.find(_ESCAPE, start)) >= 0:
        j = i
        while j > 0 and data[j - 1] == 0x5C:  # backslash
            j -= 1
        if (i - j) % 2 == 0:
            return True
        start = i + 1
    return False


def _tail(data: bytes) -> bytes:
    """The end of a chunk that an escape split across chunks may start in: the last five bytes
    and every backslash right before them (so their count stays known)."""
    cut = max(len(data) - (len(_ESCAPE) - 1), 0)
    while cut > 0 and data[cut - 1] == 0x5C:
        cut -= 1
    return data[cut:]


class NulGuard:
    """ASGI middleware: 422 for NUL in the path, a query parameter or a JSON body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _in_url(scope)
        if problem is not None:
            field, where = problem
            body = {"detail": {"message": f"{where} {REASON}", "field": field}}
            await JSON(body, status_code=422)(scope, receive, send)
            return
        if not _is_json(scope):
            await self.app(scope, receive, send)
            return
        # The last bytes of the previous chunk: an escape may be split between two chunks.
        carry = b""

        async def guarded_receive() -> Message:
            nonlocal carry
            message = await receive()
            if message["type"] == "http.request":
                chunk = carry + message.get("body", b"")
                if _escapes_nul(chunk):
                    raise NulInBody()
                carry = _tail(chunk)
            return message

        await self.app(scope, guarded_receive, send)


def _in_url(scope: Scope) -> tuple[str, str] | None:
    """(field, description) of the first NUL in the path or a query parameter, if any."""
    if "\x00" in scope.get("path", ""):
        return "path", "the path"
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                name = key.replace("\x00", "") or "query"
                return name, f"query parameter {name!r}"
        return "query", "the query string"
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in value.lower()
    return True  # the ingest endpoints read a body without a content type as JSON
