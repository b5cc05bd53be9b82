"""The ASGI middleware that checks every request against :mod:`modeltower.auth.policy`.

Credentials, in this order: ``Authorization: Bearer <key>``, ``X-API-Key: <key>``, the dashboard
session cookie. Without a valid one the answer is 401 (with ``WWW-Authenticate``); with a key
whose scope does not cover the route, 403. Both carry a JSON body naming the reason. A browser
opening a dashboard page without a session is sent to the login page instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from modeltower.api.responses import JSON
from modeltower.auth import keys, sessions
from modeltower.auth.policy import OPEN, required_scope
from modeltower.auth.service import (
    BAD_SESSION,
    EXPIRED,
    INVALID,
    MISSING,
    REVOKED,
    Access,
)

if TYPE_CHECKING:
    from modeltower.auth.service import AuthService

_MESSAGES = {
    MISSING: "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
    INVALID: "the API key is not valid",
    REVOKED: "the API key has been revoked",
    EXPIRED: "the API key has expired",
    BAD_SESSION: "the dashboard session is not valid any more: sign in again at /login",
}


def presented_key(headers: Headers) -> str | None:
    """The key sent in ``Authorization: Bearer`` or ``X-API-Key`` (None when neither is)."""
    auth = headers.get("authorization")
    if auth is not None:
        scheme, _, value = auth.strip().partition(" ")
        # Another scheme (Basic ...) is passed on as is and fails as an invalid key.
        return value.strip() if scheme.lower() == "bearer" else auth
    return headers.get("x-api-key")


def _unauthorized(reason: str) -> Response:
    challenge = 'Bearer realm="modeltower"'
    if reason != MISSING:
        challenge += ', error="invalid_token"'
    return JSON(
        {"detail": {"message": _MESSAGES[reason], "reason": reason}},
        status_code=401,
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
    )


def _forbidden(key_scope: str, required: str) -> Response:
    message = f"a key with the {key_scope!r} scope may not do this: it needs {required!r}"
    return JSON(
        {"detail": {"message": message, "reason": "insufficient_scope", "required": required}},
        status_code=403,
        headers={"Cache-Control": "no-store"},
    )


class AuthMiddleware:
    """Pure ASGI middleware; a no-op until the first key exists (then on for good)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 401/403 or a redirect to the login page, or pass the request on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service: AuthService | None = getattr(scope["app"].state, "auth", None)
        required, page = required_scope(scope["method"], scope["path"])
        if service is None or required == OPEN or not await service.enabled():
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = presented_key(headers)
        via_session = False
        if key is not None:
            access = await service.check_key(key)
        else:
            cookie = cookie_parser(headers.get("cookie", "")).get(sessions.COOKIE)
            via_session = cookie is not None
            access = await service.check_session(cookie) if cookie else Access(None, MISSING)
        if access.key is None:
            reason = access.reason or INVALID
            if page and key is None and scope["method"] in ("GET", "HEAD"):
                target = scope["path"] + (
                    "?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""
                )
                response: Response = RedirectResponse(
                    f"/login?next={quote(target, safe='')}", status_code=303
                )
            else:
                response = _unauthorized(reason)
            await response(scope, receive, send)
            return
        if not keys.grants(access.key.scope, required):
            await _forbidden(access.key.scope, required)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["api_key"] = access.key  # who is calling, for handlers that want to know
        state["auth_session"] = via_session  # the dashboard shows a sign-out button then
        await self.app(scope, receive, send)
