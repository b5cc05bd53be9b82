"""Make a DuckDB database look like one written by an earlier release."""

from __future__ import annotations

from modeltower.store import duckdb_rollups
from modeltower.store.duckdb_store import DuckDBStore


def before_model_wide_sketch(store: DuckDBStore) -> None:
    """Schema version 16: no model-wide latency sketch, nor its deltas (version 18 is applied
    again at the next open)."""
    con = store._con
    assert con is not None
    for wide in duckdb_rollups.MODEL_WIDE.values():
        con.execute("DELETE FROM rollup_delta WHERE tbl = ?", [wide])
        con.execute(f"DROP TABLE IF EXISTS {wide}")
    con.execute("DELETE FROM schema_migrations WHERE version = 18")
    store._rollups.load(con)


def before_deltas(store: DuckDBStore) -> None:
    """Schema version 11: the rollup deltas folded in and their table gone (versions 12 and 15
    are applied again at the next open)."""
    con = store._con
    assert con is not None
    store._fold(con)
    before_model_wide_sketch(store)
    con.execute("DROP TABLE rollup_delta")
    con.execute("DELETE FROM schema_migrations WHERE version IN (12, 15)")


def before_one_delta_table(store: DuckDBStore) -> None:
    """Schema version 14: a table of deltas per rollup table, holding the deltas not folded in
    yet (version 15 is applied again at the next open)."""
    con = store._con
    assert con is not None
    before_model_wide_sketch(store)
    for table in duckdb_rollups._TABLES_12:
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
