"""Retention in the DuckDB store: raw events expire first, their rollups much later.

The cut-offs are kept in ``retention`` so that reads know which minutes no longer have raw
events (their percentiles then come from the sketch, see store/duckdb_rollups.py).
"""

from __future__ import annotations

import duckdb

from modeltower.store.base import EnforceRetention, RetentionResult

SCHEMA = """
CREATE TABLE retention (
    id INTEGER PRIMARY KEY,           -- always 1
    raw_before_us BIGINT NOT NULL,    -- no raw event before this is kept
    rollups_before_us BIGINT NOT NULL
);
"""

# (table, time column) of everything that lives as long as the rollups
_LONG_LIVED = (
    ("rollup_minute", "minute"),
    ("rollup_confusion", "minute"),
    ("rollup_latency", "minute"),
    ("rollup_hour", "minute"),
    ("rollup_hour_confusion", "minute"),
    ("rollup_score", "minute"),
    ("rollup_score_day", "minute"),
    ("rollup_latency_model", "minute"),
    ("drift_summaries", "hour"),
    ("snapshots", "window_end"),
    ("alert_history", "at_us"),
)


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> int:
    row = con.execute(sql, params).fetchall()
    return int(row[0][0]) if row else 0


def apply(con: duckdb.DuckDBPyConnection, op: EnforceRetention) -> RetentionResult:
    """Delete what has expired (inside the writer's transaction) and record the cut-offs."""
    raw_before, long_before = cutoffs(con)
    raw_before = max(raw_before, op.raw_before_us)
    long_before = max(long_before, op.rollups_before_us)
    events = _count(con, "SELECT count(*) FROM events WHERE ts < ?", [raw_before])
    if events:
        con.execute(
            "DELETE FROM feedback WHERE k IN (SELECT k FROM events WHERE ts < ?)", [raw_before]
        )
        con.execute("DELETE FROM events WHERE ts < ?", [raw_before])
    rows = 0
    for table, column in _LONG_LIVED:
        n = _count(con, f"SELECT count(*) FROM {table} WHERE {column} < ?", [long_before])
        if n:
            con.execute(f"DELETE FROM {table} WHERE {column} < ?", [long_before])
            rows += n
    con.execute("INSERT OR REPLACE INTO retention VALUES (1, ?, ?)", [raw_before, long_before])
    return RetentionResult(events=events, rollup_rows=rows)


def cutoffs(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(raw_before_us, rollups_before_us) in force; (0, 0) when nothing ever expired."""
    rows = con.execute("SELECT raw_before_us, rollups_before_us FROM retention").fetchall()
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
