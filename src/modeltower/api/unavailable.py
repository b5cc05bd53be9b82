"""503 + Retry-After for a database fault raised outside the route handlers.

FastAPI's exception handlers (api/errors.py) cover the routes. Middleware that reads the store
(API-key checks, for one) runs outside them, so a StoreUnavailable raised there would end as a
500 with a stack trace per request. This outermost middleware answers it like a route would.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modeltower.api.responses import send_json
from modeltower.store.availability import RETRY_AFTER_S, StoreUnavailable


class UnavailableGuard:
    """Pure ASGI middleware: StoreUnavailable before the response started becomes 503."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except StoreUnavailable as exc:
            if started:  # too late for a status: the connection is closed by the server
                raise
            body = orjson.dumps(
                {"detail": {"message": f"storage unavailable, retry later: {exc.reason}"}}
            )
            await send_json(send, 503, body, [(b"retry-after", str(RETRY_AFTER_S).encode())])
