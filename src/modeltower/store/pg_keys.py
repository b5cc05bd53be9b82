"""Access-control tables of the PostgreSQL store (their statements: store/key_sql.py)."""

from __future__ import annotations

import psycopg

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

# Schema version 14: dashboard sessions ended by signing out, until they would have expired.
ENDED_SESSIONS = """
CREATE TABLE IF NOT EXISTS ended_sessions (
    digest   TEXT COLLATE "C" PRIMARY KEY,  -- hex SHA-256 of the cookie value (not the value itself)
    until_us BIGINT NOT NULL      -- the session's own expiry: the row is dropped after it
)
"""


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
