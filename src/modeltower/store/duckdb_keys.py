"""Access-control tables of the DuckDB store (their statements: store/key_sql.py)."""

from __future__ import annotations

import duckdb

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

# Schema version 14: dashboard sessions ended by signing out, until they would have expired.
ENDED_SESSIONS = """
CREATE TABLE IF NOT EXISTS ended_sessions (
    digest   VARCHAR PRIMARY KEY,  -- hex SHA-256 of the cookie value (not the value itself)
    until_us BIGINT NOT NULL      -- the session's own expiry: the row is dropped after it
)
"""


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
