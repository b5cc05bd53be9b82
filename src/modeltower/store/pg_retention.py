"""Retention in the PostgreSQL store: the counterpart of duckdb_retention.py."""

from __future__ import annotations

import psycopg

from modeltower.store import pg_model_rollups
from modeltower.store.base import EnforceRetention, RetentionResult
from modeltower.store.duckdb_retention import _LONG_LIVED
from modeltower.store.rollup_plan import TEN_MINUTES_US

# the tables DuckDB has, and the model-wide sketch rollups only PostgreSQL keeps
_TABLES = (*_LONG_LIVED, *((t, "minute") for t in pg_model_rollups.TABLES))

SCHEMA = """
CREATE TABLE retention (
    id INTEGER PRIMARY KEY,           -- always 1
    raw_before_us BIGINT NOT NULL,    -- no raw event before this is kept
    rollups_before_us BIGINT NOT NULL
);
"""


def apply(con: psycopg.Connection, op: EnforceRetention) -> RetentionResult:
    """Delete what has expired (inside the writer's transaction) and record the cut-offs."""
    raw_before, long_before = cutoffs(con)
    raw_before = max(raw_before, op.raw_before_us)
    long_before = max(long_before, op.rollups_before_us)
    con.execute(
        "DELETE FROM feedback f USING events e "
        "WHERE f.model = e.model AND f.id = e.id AND e.ts < %s::bigint",
        [raw_before],
    )
    events = con.execute("DELETE FROM events WHERE ts < %s::bigint", [raw_before]).rowcount
    rows = 0
    # the ten-minute sketches stand in for raw events: the units wholly before the cut-off
    unit_before = raw_before // TEN_MINUTES_US * TEN_MINUTES_US
    for table in pg_model_rollups.TEN_MINUTE_TABLES:
        rows += con.execute(
            f"DELETE FROM {table} WHERE minute < %s::bigint", [unit_before]
        ).rowcount
    for table, column in _TABLES:
        rows += con.execute(
            f"DELETE FROM {table} WHERE {column} < %s::bigint", [long_before]
        ).rowcount
    con.execute(
        "INSERT INTO retention VALUES (1, %s, %s) ON CONFLICT (id) DO UPDATE SET "
        "raw_before_us = excluded.raw_before_us, rollups_before_us = excluded.rollups_before_us",
        [raw_before, long_before],
    )
    return RetentionResult(events=max(events, 0), rollup_rows=max(rows, 0))


def cutoffs(con: psycopg.Connection) -> tuple[int, int]:
    """(raw_before_us, rollups_before_us) in force; (0, 0) when nothing ever expired."""
    row = con.execute("SELECT raw_before_us, rollups_before_us FROM retention").fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)
