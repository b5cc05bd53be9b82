"""SQL of access control (DuckDB store): API keys and the session-signing secret."""

from __future__ import annotations

from typing import Any

import duckdb

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
    prefix     VARCHAR PRIMARY KEY,   -- the key's visible start: listing, revoking, lookup
    name       VARCHAR NOT NULL,      -- unique among keys that are not revoked
    scope      VARCHAR NOT NULL,      -- 'admin' | 'read' | 'ingest'
    salt       VARCHAR NOT NULL,      -- hex, random per key
    hash       VARCHAR NOT NULL,      -- hex HMAC-SHA256(salt, key): the key itself is not kept
    created_us BIGINT NOT NULL,
    expires_us BIGINT,
    revoked_us BIGINT                 -- rows are never deleted: auth stays on once a key existed
);
CREATE TABLE IF NOT EXISTS auth_secret (
    id     INTEGER PRIMARY KEY,       -- always 1
    secret VARCHAR NOT NULL           -- signs dashboard sessions; shared by every process
);
"""

_SELECT = f"SELECT {', '.join(KEY_COLUMNS)} FROM api_keys"


def apply(con: duckdb.DuckDBPyConnection, op: KeyOp) -> Any:
    """Apply one access-control write op inside the writer's transaction."""
    if isinstance(op, CreateApiKey):
        return _create(con, op.record)
    if isinstance(op, RevokeApiKey):
        return _revoke(con, op)
    if isinstance(op, EnsureAuthSecret):
        con.execute(
            "INSERT INTO auth_secret VALUES (1, ?) ON CONFLICT (id) DO NOTHING", [op.secret]
        )
        return auth_secret(con)
    raise TypeError(f"not an access-control op: {op!r}")


def _create(con: duckdb.DuckDBPyConnection, r: ApiKeyRecord) -> ApiKeyRecord | None:
    taken = con.execute(
        "SELECT count(*) FROM api_keys WHERE prefix = ? OR (name = ? AND revoked_us IS NULL)",
        [r.prefix, r.name],
    ).fetchall()
    if taken[0][0]:
        return None
    con.execute(
        f"INSERT INTO api_keys ({', '.join(KEY_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [r.prefix, r.name, r.scope, r.salt.hex(), r.hash.hex(), r.created_us, r.expires_us, None],
    )
    return r


def _revoke(con: duckdb.DuckDBPyConnection, op: RevokeApiKey) -> ApiKeyRecord | None:
    rows = con.execute(
        f"{_SELECT} WHERE revoked_us IS NULL AND (name = ? OR prefix = ?) ORDER BY created_us",
        [op.name_or_prefix, op.name_or_prefix],
    ).fetchall()
    if not rows:
        return None
    prefix = str(rows[0][0])
    con.execute("UPDATE api_keys SET revoked_us = ? WHERE prefix = ?", [op.at_us, prefix])
    found = api_key(con, prefix)
    assert found is not None
    return found


def api_keys(con: duckdb.DuckDBPyConnection) -> list[ApiKeyRecord]:
    """Every key, oldest first."""
    return [
        key_from_row(r) for r in con.execute(f"{_SELECT} ORDER BY created_us, prefix").fetchall()
    ]


def api_key(con: duckdb.DuckDBPyConnection, prefix: str) -> ApiKeyRecord | None:
    """The key with ``prefix``, or None."""
    rows = con.execute(f"{_SELECT} WHERE prefix = ?", [prefix]).fetchall()
    return key_from_row(rows[0]) if rows else None


def auth_secret(con: duckdb.DuckDBPyConnection) -> str | None:
    """The stored session secret, or None."""
    rows = con.execute("SELECT secret FROM auth_secret WHERE id = 1").fetchall()
    return str(rows[0][0]) if rows else None


def file_has_keys(path: str) -> bool | None:
    """Whether the DuckDB file holds any key, read before a server opens it (``serve`` refuses
    an unauthenticated public bind before starting); None when that cannot be told."""
    import os

    if not os.path.exists(path):
        return False
    try:
        with duckdb.connect(path, read_only=True) as con:
            tables = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'api_keys'"
            ).fetchall()
            if not tables[0][0]:
                return False
            return bool(con.execute("SELECT count(*) FROM api_keys").fetchall()[0][0])
    except duckdb.Error:
        return None
