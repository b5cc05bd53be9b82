"""Make a DuckDB database look like one written by an earlier release."""

from __future__ import annotations

from modeltower.store import duckdb_rollups
from modeltower.store.duckdb_store import DuckDBStore


def before_deltas(store: DuckDBStore) -> None:
    """Schema version 11: the rollup deltas folded in and their table gone (versions 12 and 15
    are applied again at the next open)."""
    con = store._con
    assert con is not None
    store._fold(con)
    con.execute("DROP TABLE rollup_delta")
    con.execute("DELETE FROM schema_migrations WHERE version IN (12, 15)")


def before_one_delta_table(store: DuckDBStore) -> None:
    """Schema version 14: a table of deltas per rollup table, holding the deltas not folded in
    yet (version 15 is applied again at the next open)."""
    con = store._con
    assert con is not None
    for table in duckdb_rollups.TABLES:
        cols = ", ".join(duckdb_rollups.columns(table))
        con.execute(
            f"CREATE TABLE {table}_delta AS SELECT {cols} FROM rollup_delta WHERE tbl = ?",
            [table],
        )
    con.execute("DROP TABLE rollup_delta")
    con.execute("DELETE FROM schema_migrations WHERE version = 15")


def before_feedback_times(store: DuckDBStore) -> None:
    """Schema version 15: feedback rows without the time of their event (version 16 is
    applied again at the next open)."""
    con = store._con
    assert con is not None
    con.execute("ALTER TABLE feedback DROP COLUMN ev_ts")
    con.execute("DELETE FROM schema_migrations WHERE version = 16")
