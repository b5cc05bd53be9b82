"""What the store keeps for access control: API keys (salted hashes only) and the session secret.

A key's secret part is never stored: only a random salt and ``HMAC-SHA256(salt, key)``, next to
the key's visible prefix (which is how keys are listed, revoked and looked up). Rows are never
deleted: a revoked key keeps its row (with ``revoked_us``), so "some key was ever created" —
the condition that turns authentication on — cannot be undone by revoking keys.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass


@dataclass(frozen=True)
class ApiKeyRecord:
    """One API key as stored."""

    prefix: str  # the key's visible start, e.g. ``mtk_3f9a0c12b7de``: unique, shown in listings
    name: str
    scope: str  # "admin" | "read" | "ingest"
    salt: bytes
    hash: bytes  # HMAC-SHA256(salt, whole key)
    created_us: int
    expires_us: int | None
    revoked_us: int | None

    def active(self, now_us: int) -> bool:
        """Neither revoked nor expired at ``now_us``."""
        return self.revoked_us is None and (self.expires_us is None or now_us < self.expires_us)


@dataclass(frozen=True)
class CreateApiKey:
    """Write op: store a new key; result: the record, or None when ``name`` is already used by
    a key that is not revoked (or the prefix exists: a new random prefix is then needed)."""

    record: ApiKeyRecord


@dataclass(frozen=True)
class RevokeApiKey:
    """Write op: revoke the unrevoked key named ``name_or_prefix`` (by name or by prefix);
    result: the revoked record, or None when no such key is active."""

    name_or_prefix: str
    at_us: int


@dataclass(frozen=True)
class EnsureAuthSecret:
    """Write op: keep ``secret`` as the session-signing secret unless one is stored already;
    result: the secret in force (the same for every process on the database)."""

    secret: str


@dataclass(frozen=True)
class EndSession:
    """Write op: end the dashboard session whose cookie value hashes to ``digest`` (hex
    SHA-256; the cookie itself is not kept) for the rest of its life, until ``until_us``; rows
    of sessions past their expiry are dropped on the way (``now_us``). Result: None."""

    digest: str
    until_us: int
    now_us: int


KeyOp = CreateApiKey | RevokeApiKey | EnsureAuthSecret | EndSession
KEY_OPS = (CreateApiKey, RevokeApiKey, EnsureAuthSecret, EndSession)

# Columns of api_keys, in the order the row readers expect.
KEY_COLUMNS = ("prefix", "name", "scope", "salt", "hash", "created_us", "expires_us", "revoked_us")


def key_from_row(row: tuple[object, ...]) -> ApiKeyRecord:
    """A record from a row of ``SELECT <KEY_COLUMNS> FROM api_keys`` (either backend)."""
    prefix, name, scope, salt, hsh, created, expires, revoked = row
    return ApiKeyRecord(
        prefix=str(prefix),
        name=str(name),
        scope=str(scope),
        salt=bytes.fromhex(str(salt)),  # stored as hex text: the same on both backends
        hash=bytes.fromhex(str(hsh)),
        created_us=int(created),  # type: ignore[call-overload]
        expires_us=None if expires is None else int(expires),  # type: ignore[call-overload]
        revoked_us=None if revoked is None else int(revoked),  # type: ignore[call-overload]
    )


class KeyReads(abc.ABC):
    """The store's reads of access-control data (safe from any thread)."""

    @abc.abstractmethod
    def api_keys(self) -> list[ApiKeyRecord]:
        """Every key ever created (revoked ones too), oldest first."""

    @abc.abstractmethod
    def api_key(self, prefix: str) -> ApiKeyRecord | None:
        """The key with this prefix, or None."""

    @abc.abstractmethod
    def auth_secret(self) -> str | None:
        """The session-signing secret, or None before the first server start stored one."""

    @abc.abstractmethod
    def session_ended(self, digest: str) -> bool:
        """Whether the session with this cookie digest was ended (signed out) on any process."""
