"""SQL of access control (PostgreSQL store): API keys and the session-signing secret."""

from __future__ import annotations

from typing import Any

import psycopg

from modeltower.store.key_types import (
    KEY_COLUMNS,
    ApiKeyRecord,
    CreateApiKey,
    EnsureAuthSecret,
    KeyOp,
    RevokeApiKey,
    key_from_row,
)

# IF NOT EXISTS: a database whose version record was rolled back to before 8 (as the
# rollup tests do to simulate an old release) re-applies it without failing.
SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    prefix     TEXT COLLATE "C" PRIMARY KEY,  -- the key's visible start: listing, lookup
    name       TEXT COLLATE "C" NOT NULL,     -- unique among keys that are not revoked
    scope      TEXT COLLATE "C" NOT NULL,     -- 'admin' | 'read' | 'ingest'
    salt       TEXT COLLATE "C" NOT NULL,     -- hex, random per key
    hash       TEXT COLLATE "C" NOT NULL,     -- hex HMAC-SHA256(salt, key): no key is kept
    created_us BIGINT NOT NULL,
    expires_us BIGINT,
    revoked_us BIGINT                         -- never deleted: auth stays on once a key existed
);
CREATE TABLE IF NOT EXISTS auth_secret (
    id     INTEGER PRIMARY KEY,               -- always 1
    secret TEXT COLLATE "C" NOT NULL          -- signs dashboard sessions; shared by replicas
);
"""

_SELECT = f"SELECT {', '.join(KEY_COLUMNS)} FROM api_keys"


def apply(con: psycopg.Connection, op: KeyOp) -> Any:
    """Apply one access-control write op inside the writer's transaction."""
    if isinstance(op, CreateApiKey):
        return _create(con, op.record)
    if isinstance(op, RevokeApiKey):
        return _revoke(con, op)
    if isinstance(op, EnsureAuthSecret):
        con.execute(
            "INSERT INTO auth_secret VALUES (1, %s) ON CONFLICT (id) DO NOTHING", [op.secret]
        )
        return auth_secret(con)
    raise TypeError(f"not an access-control op: {op!r}")


def _create(con: psycopg.Connection, r: ApiKeyRecord) -> ApiKeyRecord | None:
    taken = con.execute(
        "SELECT count(*) FROM api_keys WHERE prefix = %s OR (name = %s AND revoked_us IS NULL)",
        [r.prefix, r.name],
    ).fetchall()
    if taken[0][0]:
        return None
    con.execute(
        f"INSERT INTO api_keys ({', '.join(KEY_COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        [r.prefix, r.name, r.scope, r.salt.hex(), r.hash.hex(), r.created_us, r.expires_us, None],
    )
    return r


def _revoke(con: psycopg.Connection, op: RevokeApiKey) -> ApiKeyRecord | None:
    rows = con.execute(
        f"{_SELECT} WHERE revoked_us IS NULL AND (name = %s OR prefix = %s) ORDER BY created_us",
        [op.name_or_prefix, op.name_or_prefix],
    ).fetchall()
    if not rows:
        return None
    prefix = str(rows[0][0])
    con.execute("UPDATE api_keys SET revoked_us = %s WHERE prefix = %s", [op.at_us, prefix])
    found = api_key(con, prefix)
    assert found is not None
    return found


def api_keys(con: psycopg.Connection) -> list[ApiKeyRecord]:
    """Every key, oldest first."""
    return [
        key_from_row(r) for r in con.execute(f"{_SELECT} ORDER BY created_us, prefix").fetchall()
    ]


def api_key(con: psycopg.Connection, prefix: str) -> ApiKeyRecord | None:
    """The key with ``prefix``, or None."""
    rows = con.execute(f"{_SELECT} WHERE prefix = %s", [prefix]).fetchall()
    return key_from_row(rows[0]) if rows else None


def auth_secret(con: psycopg.Connection) -> str | None:
    """The stored session secret, or None."""
    rows = con.execute("SELECT secret FROM auth_secret WHERE id = 1").fetchall()
    return str(rows[0][0]) if rows else None


def database_has_keys(url: str) -> bool | None:
    """Whether the database holds any key, read before a server opens it; None when that
    cannot be told (the server's own start then decides)."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as con:
            row = con.execute("SELECT to_regclass('api_keys') IS NOT NULL").fetchone()
            if not row or not row[0]:
                return False
            found = con.execute("SELECT EXISTS (SELECT 1 FROM api_keys)").fetchone()
            return bool(found and found[0])
    except psycopg.Error:
        return None
