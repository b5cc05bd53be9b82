"""Refuse requests whose Host header names a host this server does not answer to.

A server on 127.0.0.1 without API keys (the default start) trusts whoever can reach it, which
is meant to be the local machine. A web page the user visits can still reach it by DNS
rebinding: its own name, re-resolved to 127.0.0.1, makes the browser send the page's requests
(and show it the answers) to the local server, with the page's name in the Host header. Only
answering to the loopback names (and those configured) closes that. Requests without a Host
header (HTTP/1.0 tools) do not come from a browser and pass.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from modeltower.api.responses import send_json
from modeltower.config import Settings

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(header: str) -> str:
    """The host of a Host header, without its port, lower case (``[::1]:8000`` -> ``::1``)."""
    value = header.strip().lower()
    if value.startswith("["):  # an IPv6 literal
        return value[1 : value.find("]")] if "]" in value else value[1:]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def allowlist(settings: Settings) -> frozenset[str] | None:
    """The Host names ``settings`` answer to, or None for any host: ``allowed_hosts`` (with the
    loopback names and public_url's host); else, bound to a loopback address and not behind a
    trusted proxy, the loopback names and public_url's host."""
    extra: set[str] = {settings.host.lower()}
    if settings.public_url:
        extra.add(host_name(settings.public_url.split("://", 1)[1].split("/", 1)[0]))
    if settings.allowed_hosts is not None:
        names = {h.strip() for h in settings.allowed_hosts.split(",") if h.strip()}
        if "*" in names:
            return None
        return frozenset(LOOPBACK_NAMES | extra | {host_name(n) for n in names})
    # Behind a reverse proxy (--trusted-proxy) the proxy chooses the names that reach the server
    # and passes them on in Host; elsewhere than on loopback, keys are required.
    loopback = settings.host in LOOPBACK_NAMES or settings.host.startswith("127.")
    if loopback and not settings.trusted_proxy:
        return frozenset(LOOPBACK_NAMES | extra)
    return None


def refused_body(host: str) -> bytes:
    """The JSON body of the 400 answer to a request for ``host``."""
    return orjson.dumps(
        {
            "detail": {
                "message": (
                    f"this server does not answer to the host {host!r}; add it to "
                    "--allowed-hosts (MODELTOWER_ALLOWED_HOSTS) to reach it by that name"
                ),
                "errors": [{"field": "Host", "reason": "not an allowed host"}],
            }
        }
    )


class AllowedHosts:
    """Pure ASGI middleware answering 400 to HTTP requests for a host not in ``allowed``."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on when its Host is allowed (or absent); else answer 400."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = host_name(value.decode("latin-1"))
                if host not in self.allowed:
                    await _refuse(send, host)
                    return
                break
        await self.app(scope, receive, send)


async def _refuse(send: Send, host: str) -> None:
    await send_json(send, 400, refused_body(host))
