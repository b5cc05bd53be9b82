"""SQL of access control shared by both stores: API keys and the session-signing secret.

The statements are the same on DuckDB and PostgreSQL but for the parameter marker, which each
function takes (``?`` or ``%s``); the tables are in store/duckdb_keys.py and store/pg_keys.py.
"""

from __future__ import annotations

from typing import Any

from modeltower.store.key_types import (
    KEY_COLUMNS,
    ApiKeyRecord,
    CreateApiKey,
    EndSession,
    EnsureAuthSecret,
    KeyOp,
    RevokeApiKey,
    key_from_row,
)

_SELECT = f"SELECT {', '.join(KEY_COLUMNS)} FROM api_keys"
_MARKS = ", ".join("?" for _ in KEY_COLUMNS)


def _marked(sql: str, mark: str) -> str:
    return sql if mark == "?" else sql.replace("?", mark)


def apply(con: Any, op: KeyOp, mark: str) -> Any:
    """Apply one access-control write op inside the writer's transaction."""
    if isinstance(op, CreateApiKey):
        return _create(con, op.record, mark)
    if isinstance(op, RevokeApiKey):
        return _revoke(con, op, mark)
    if isinstance(op, EnsureAuthSecret):
        sql = "INSERT INTO auth_secret VALUES (1, ?) ON CONFLICT (id) DO NOTHING"
        con.execute(_marked(sql, mark), [op.secret])
        return auth_secret(con)
    if isinstance(op, EndSession):
        # a session signed out twice (two tabs) is one row; expired ones are of no use any more
        con.execute(_marked("DELETE FROM ended_sessions WHERE until_us <= ?", mark), [op.now_us])
        sql = "INSERT INTO ended_sessions VALUES (?, ?) ON CONFLICT (digest) DO NOTHING"
        con.execute(_marked(sql, mark), [op.digest, op.until_us])
        return None
    raise TypeError(f"not an access-control op: {op!r}")


def _create(con: Any, r: ApiKeyRecord, mark: str) -> ApiKeyRecord | None:
    taken = con.execute(
        _marked(
            "SELECT count(*) FROM api_keys WHERE prefix = ? OR (name = ? AND revoked_us IS NULL)",
            mark,
        ),
        [r.prefix, r.name],
    ).fetchall()
    if taken[0][0]:
        return None
    con.execute(
        _marked(f"INSERT INTO api_keys ({', '.join(KEY_COLUMNS)}) VALUES ({_MARKS})", mark),
        [r.prefix, r.name, r.scope, r.salt.hex(), r.hash.hex(), r.created_us, r.expires_us, None],
    )
    return r


def _revoke(con: Any, op: RevokeApiKey, mark: str) -> ApiKeyRecord | None:
    rows = con.execute(
        _marked(
            f"{_SELECT} WHERE revoked_us IS NULL AND (name = ? OR prefix = ?) ORDER BY created_us",
            mark,
        ),
        [op.name_or_prefix, op.name_or_prefix],
    ).fetchall()
    if not rows:
        return None
    prefix = str(rows[0][0])
    sql = "UPDATE api_keys SET revoked_us = ? WHERE prefix = ?"
    con.execute(_marked(sql, mark), [op.at_us, prefix])
    found = api_key(con, prefix, mark)
    assert found is not None
    return found


def api_keys(con: Any) -> list[ApiKeyRecord]:
    """Every key, oldest first."""
    return [
        key_from_row(r) for r in con.execute(f"{_SELECT} ORDER BY created_us, prefix").fetchall()
    ]


def api_key(con: Any, prefix: str, mark: str) -> ApiKeyRecord | None:
    """The key with ``prefix``, or None."""
    rows = con.execute(_marked(f"{_SELECT} WHERE prefix = ?", mark), [prefix]).fetchall()
    return key_from_row(rows[0]) if rows else None


def auth_secret(con: Any) -> str | None:
    """The stored session secret, or None."""
    rows = con.execute("SELECT secret FROM auth_secret WHERE id = 1").fetchall()
    return str(rows[0][0]) if rows else None


def session_ended(con: Any, digest: str, mark: str) -> bool:
    """Whether a session with this cookie digest was signed out."""
    sql = "SELECT count(*) FROM ended_sessions WHERE digest = ?"
    return bool(con.execute(_marked(sql, mark), [digest]).fetchall()[0][0])
