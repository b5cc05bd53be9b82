"""The web dashboard: server-rendered page shells (Jinja2) plus static JS that draws with Plotly.

Pages are thin: each template only carries the page's initial state in ``data-*`` attributes
(escaped by Jinja2's autoescaping). The scripts in ``static/`` fetch the public ``/v1`` JSON API
and draw every chart with ``Plotly.react``, polling every few seconds. plotly.js itself is served
from the installed ``plotly`` Python package, so the dashboard works without internet access.

``install(app)`` adds the routes, the static files and :class:`SecurityHeaders`.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modeltower.dashboard.views import STATIC_DIR, STATIC_PREFIX, Thresholds, router

__all__ = ["CSP", "SecurityHeaders", "Thresholds", "install", "router"]

#: No inline script anywhere: scripts only from this origin. Plotly positions and colours SVG
#: elements through ``style`` attributes and injects one stylesheet, hence 'unsafe-inline'
#: for styles only.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# Nothing is exempt: /docs serves Swagger UI from local assets, started by a script file
# (api/docs.py), so it runs under the same policy as the dashboard.
_CSP_EXEMPT: tuple[str, ...] = ()


class SecurityHeaders:
    """Pure ASGI middleware adding CSP and the usual hardening headers to every response."""

    def __init__(self, app: ASGIApp, exempt: Iterable[str] = _CSP_EXEMPT) -> None:
        self.app = app
        self.exempt = tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through, decorating the response start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        with_csp = not (self.exempt and path.startswith(self.exempt))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if with_csp:
                    headers.setdefault("Content-Security-Policy", CSP)
                    headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(
    app: FastAPI, thresholds: Thresholds | None = None, *, security_headers: bool = True
) -> None:
    """Mount the dashboard on ``app``: pages, static files and (unless the application adds it
    itself, outermost) the security-headers middleware.

    ``thresholds`` sets the overview's status rules; by default they come from
    ``MODELTOWER_STATUS_*`` environment variables (see :meth:`Thresholds.from_env`).
    """
    app.state.dashboard_thresholds = thresholds or Thresholds.from_env()
    app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="dashboard-static")
    if security_headers:
        app.add_middleware(SecurityHeaders)
