"""Who is calling: API keys and dashboard sessions verified against the store, with a short cache.

Authentication is *on* once any key has been created, on any process of the database; keys are
never deleted (revoked ones keep their row), so revoking the last key leaves the server locked
rather than open. Verified credentials are cached in memory for ``cache_s`` seconds, keyed by the
SHA-256 of what was presented (never the raw key), so ingestion does not pay a database lookup per
request; after that the store is asked again, which is how a revocation or an expiry made on
another replica takes effect within seconds.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread

from modeltower.auth import keys, sessions
from modeltower.ingest.writer import Writer
from modeltower.store.base import Store
from modeltower.store.key_types import (
    ApiKeyRecord,
    CreateApiKey,
    EndSession,
    EnsureAuthSecret,
    RevokeApiKey,
)

# Why a credential was refused (the ``reason`` of a 401 answer).
MISSING = "missing_credentials"
INVALID = "invalid_key"
REVOKED = "revoked_key"
EXPIRED = "expired_key"
BAD_SESSION = "invalid_session"

log = logging.getLogger("modeltower.auth")

_CACHE_MAX = 10_000  # distinct credentials remembered; beyond that the cache starts over


@dataclass(frozen=True)
class Access:
    """The outcome of checking one credential: the key it stands for, or why it is refused."""

    key: ApiKeyRecord | None
    reason: str | None = None


def _now_us() -> int:
    return int(time.time() * 1_000_000)


class AuthService:
    """API keys and sessions of one process; state shared with other processes via the store."""

    def __init__(
        self, store: Store, writer: Writer, *, cache_s: float = 5.0, session_s: float = 43200.0
    ) -> None:
        self.store = store
        self.writer = writer
        self.cache_s = cache_s
        self.session_s = session_s
        self._enabled = False
        self._enabled_checked = -1e18
        self._secret = b""
        # sha256(presented credential) -> (record or None when unknown, monotonic time checked)
        self._cache: dict[bytes, tuple[ApiKeyRecord | None, float]] = {}

    async def start(self) -> None:
        """Load (or create, on a fresh database) the session secret and whether auth is on."""
        try:
            secret = await self.writer.write(EnsureAuthSecret(secrets.token_urlsafe(32)))
        except Exception as exc:  # a full disk or a read-only database must not stop the start
            secret = await anyio.to_thread.run_sync(self.store.auth_secret)
            if secret is None:
                log.warning("session secret not stored (%s): sessions last until restart", exc)
                secret = secrets.token_urlsafe(32)
        self._secret = str(secret).encode()
        await self.enabled()

    # ---- state -----------------------------------------------------------------------------
    async def enabled(self) -> bool:
        """Whether credentials are required: some key was ever created (rechecked every
        ``cache_s`` while off, so a key created on another replica turns it on there too)."""
        if self._enabled:
            return True
        now = time.monotonic()
        if now - self._enabled_checked >= self.cache_s:
            self._enabled_checked = now
            try:
                self._enabled = bool(await anyio.to_thread.run_sync(self.store.api_keys))
            except Exception as exc:
                # The database is unreachable: no key can have been created meanwhile, so the
                # state stays as it was; the route itself answers for the outage.
                log.debug("could not check for API keys: %s", exc)
        return self._enabled

    # ---- verification ----------------------------------------------------------------------
    async def check_key(self, presented: str) -> Access:
        """The key ``presented`` (from a header) stands for, or why it is refused."""
        record = await self._cached(presented, self._lookup_key)
        if record is None:
            return Access(None, INVALID)
        return self._usable(record)

    async def check_session(self, cookie: str) -> Access:
        """The key a session cookie was issued for, or why it is refused."""
        prefix = sessions.verify(self._secret, cookie, _now_us())
        if prefix is None:
            return Access(None, BAD_SESSION)
        record = await self._cached(cookie, lambda _: self._session_key(cookie, prefix))
        if record is None:
            return Access(None, BAD_SESSION)
        return self._usable(record)

    def _session_key(self, cookie: str, prefix: str) -> ApiKeyRecord | None:
        """The key of a session that was not signed out (on any process)."""
        if self.store.session_ended(hashlib.sha256(cookie.encode()).hexdigest()):
            return None
        return self.store.api_key(prefix)

    def _usable(self, record: ApiKeyRecord) -> Access:
        if record.revoked_us is not None:
            return Access(None, REVOKED)
        if record.expires_us is not None and _now_us() >= record.expires_us:
            return Access(None, EXPIRED)
        return Access(record)

    def _lookup_key(self, presented: str) -> ApiKeyRecord | None:
        prefix = keys.prefix_of(presented)
        if prefix is None:
            return None  # not even shaped like a key: no database lookup
        record = self.store.api_key(prefix)
        if record is None or not keys.matches(record, presented):
            return None
        return record

    async def _cached(
        self, presented: str, lookup: Callable[[str], ApiKeyRecord | None]
    ) -> ApiKeyRecord | None:
        digest = hashlib.sha256(presented.encode()).digest()
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and now - hit[1] < self.cache_s:
            return hit[0]
        record = await anyio.to_thread.run_sync(lookup, presented)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (record, now)
        return record

    # ---- sessions --------------------------------------------------------------------------
    def new_session(self, record: ApiKeyRecord) -> tuple[str, int]:
        """A signed session cookie value for ``record`` and its lifetime in seconds (never past
        the key's own expiry)."""
        now = _now_us()
        until = now + int(self.session_s * 1_000_000)
        if record.expires_us is not None:
            until = min(until, record.expires_us)
        return sessions.issue(self._secret, record.prefix, until), max(0, (until - now) // 10**6)

    async def end_session(self, cookie: str) -> None:
        """Sign a session out everywhere: its cookie is refused from now on, also where it was
        copied (at once on this process, within ``cache_s`` on the others)."""
        until = sessions.expiry(self._secret, cookie, _now_us())
        if until is None:
            return  # not a live session of ours: nothing to end
        digest = hashlib.sha256(cookie.encode())
        await self.writer.write(EndSession(digest.hexdigest(), until, _now_us()))
        self._cache[digest.digest()] = (None, time.monotonic())

    # ---- management ------------------------------------------------------------------------
    async def create(
        self, name: str, scope: str, expires_us: int | None
    ) -> tuple[str, ApiKeyRecord] | None:
        """A new key (returned once, in clear) and its record; None when ``name`` is in use."""
        key, prefix = keys.new_key()
        now = _now_us()
        record = keys.make_record(
            key, prefix, name=name, scope=scope, now_us=now, expires_us=expires_us
        )
        stored = await self.writer.write(CreateApiKey(record))
        if stored is None:
            return None
        self._enabled = True
        return key, record

    async def revoke(self, name_or_prefix: str) -> ApiKeyRecord | None:
        """Revoke an active key by name or prefix; None when there is none."""
        record = await self.writer.write(RevokeApiKey(name_or_prefix, _now_us()))
        self._cache.clear()  # takes effect at once here; elsewhere within ``cache_s``
        return record

    async def list(self) -> list[ApiKeyRecord]:
        """Every key, revoked and expired ones too."""
        return await anyio.to_thread.run_sync(self.store.api_keys)
