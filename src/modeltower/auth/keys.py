"""API keys: their format, their salted hash, and what each scope grants.

A key looks like ``mtk_3f9a0c12b7de_<43 characters>``. The part before the second underscore is
its *prefix*: random, unique, stored in clear and shown in listings (so a key can be recognised
and revoked without anyone seeing it again). The whole key carries 48 + 256 random bits; only
``HMAC-SHA256(salt, key)`` with a random per-key salt is stored. Keys are random, not chosen by
people, so a slow password hash would add nothing but latency to every cache miss.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from modeltower.store.key_types import ApiKeyRecord

ADMIN = "admin"
READ = "read"
INGEST = "ingest"
SCOPES = (ADMIN, READ, INGEST)

# What a key of each scope may do: admin everything; read queries and the dashboard (not
# ingest: a leaked dashboard key cannot pollute the data); ingest only sending events and
# feedback (safe to embed in a serving process, like a DSN).
GRANTS: dict[str, frozenset[str]] = {
    ADMIN: frozenset({ADMIN, READ, INGEST}),
    READ: frozenset({READ}),
    INGEST: frozenset({INGEST}),
}

KEY_PREFIX = "mtk_"
_KEY = re.compile(r"^(mtk_[0-9a-f]{12})_[A-Za-z0-9_-]{43}$")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


def grants(key_scope: str, required: str) -> bool:
    """Whether a key of ``key_scope`` may do what needs ``required``."""
    return required in GRANTS.get(key_scope, frozenset())


def new_key() -> tuple[str, str]:
    """A fresh random key and its prefix."""
    prefix = KEY_PREFIX + secrets.token_hex(6)
    return f"{prefix}_{secrets.token_urlsafe(32)}", prefix


def prefix_of(key: str) -> str | None:
    """The prefix of a well-formed key, None for anything else (no lookup is made for it)."""
    m = _KEY.match(key)
    return m.group(1) if m else None


def key_hash(salt: bytes, key: str) -> bytes:
    """What is stored instead of the key."""
    return hmac.new(salt, key.encode(), hashlib.sha256).digest()


def matches(record: ApiKeyRecord, key: str) -> bool:
    """Whether ``key`` is the key of ``record``; constant-time in the compared hashes."""
    return hmac.compare_digest(key_hash(record.salt, key), record.hash)


def make_record(
    key: str, prefix: str, *, name: str, scope: str, now_us: int, expires_us: int | None
) -> ApiKeyRecord:
    """The stored form of a new key: prefix, fresh salt and hash, never the key."""
    salt = secrets.token_bytes(16)
    return ApiKeyRecord(
        prefix=prefix,
        name=name,
        scope=scope,
        salt=salt,
        hash=key_hash(salt, key),
        created_us=now_us,
        expires_us=expires_us,
        revoked_us=None,
    )


def check_name(name: str) -> str | None:
    """Why ``name`` cannot name a key, or None when it can."""
    if not _NAME.match(name):
        return "1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
    if name.startswith(KEY_PREFIX):
        return f"must not start with {KEY_PREFIX!r} (that is how key prefixes start)"
    return None


def check_scope(scope: str) -> str | None:
    """Why ``scope`` is not a scope, or None."""
    return None if scope in SCOPES else f"must be one of {', '.join(SCOPES)}, got {scope!r}"
