"""Access control: API keys with scopes, dashboard sessions, and refusing to serve openly.

* :mod:`.keys` — key format, salted hash, what each scope grants (admin ⊃ read, ingest; read
  and ingest are separate).
* :mod:`.policy` — the scope every route needs (default deny).
* :mod:`.middleware` — checks each request; :mod:`.service` — verification with a short cache.
* :mod:`.sessions` — signed session cookies; :mod:`.routes` — ``/v1/keys``, ``/login``.

``install(app)`` mounts the routes and the middleware; ``start`` (from the app's lifespan, once
the store is open) loads the state and refuses a non-loopback bind without authentication.
"""

from __future__ import annotations

import ipaddress
import logging

from fastapi import FastAPI

from modeltower.auth import openapi
from modeltower.auth.middleware import AuthMiddleware
from modeltower.auth.routes import login_router, router
from modeltower.auth.service import AuthService
from modeltower.config import ConfigError, Settings
from modeltower.ingest.writer import Writer
from modeltower.store.base import Store

__all__ = ["AuthMiddleware", "AuthService", "install", "is_loopback", "refusal", "start"]

log = logging.getLogger("modeltower.auth")


def install(app: FastAPI) -> None:
    """Add the key and login routes and the checking middleware to ``app``."""
    app.include_router(router)
    app.include_router(login_router)
    app.add_middleware(AuthMiddleware)
    openapi.install(app)


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` serves only this machine (names other than localhost are
    not resolved: they count as reachable from elsewhere)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refusal(settings: Settings) -> str | None:
    """Why ``serve`` must not start with ``settings`` (a non-loopback bind, no key in the
    database, no --insecure-no-auth), checked before the server starts; None: it may."""
    if is_loopback(settings.host) or settings.insecure_no_auth:
        return None
    if settings.database_url:
        from modeltower.store.pg_keys import database_has_keys

        has_keys = database_has_keys(settings.database_url)
    else:
        from modeltower.store.duckdb_keys import file_has_keys

        has_keys = file_has_keys(settings.db_path)
    return _refusal_message(settings.host) if has_keys is False else None


def _refusal_message(host: str) -> str:
    return (
        f"refusing to serve on {host} without authentication: anyone who can reach it could "
        "read and change everything. Create an admin key first (modeltower keys create "
        "--scope admin --name NAME --db FILE, or --database-url URL), bind to 127.0.0.1, or "
        "pass --insecure-no-auth to accept the risk"
    )


async def start(store: Store, writer: Writer, settings: Settings) -> AuthService:
    """The process's :class:`AuthService`; raises ConfigError for an open non-loopback bind."""
    service = AuthService(
        store, writer, cache_s=settings.auth_cache_s, session_s=settings.session_ttl_s
    )
    await service.start()
    if is_loopback(settings.host) or await service.enabled():
        return service
    if not settings.insecure_no_auth:
        message = _refusal_message(settings.host)
        log.error(message)
        raise ConfigError(message)
    log.warning(
        "serving on %s WITHOUT authentication (--insecure-no-auth): anyone who can reach this "
        "port can read, send and change everything",
        settings.host,
    )
    return service
