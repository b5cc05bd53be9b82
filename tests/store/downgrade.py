"""Make a DuckDB database look like one written by an earlier release."""

from __future__ import annotations

from modeltower.store import duckdb_rollups
from modeltower.store.duckdb_store import DuckDBStore


def before_deltas(store: DuckDBStore) -> None:
    """Schema version 11: the rollup deltas folded in and their tables gone (version 12 is
    applied again at the next open)."""
    con = store._con
    assert con is not None
    store._fold(con)
    for table in duckdb_rollups.TABLES:
        con.execute(f"DROP TABLE {table}_delta")
    con.execute("DELETE FROM schema_migrations WHERE version = 12")
