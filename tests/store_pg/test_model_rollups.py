"""The model-wide sketch rollups of the PostgreSQL store (store/pg_model_rollups.py): always
the per-version rollups with version and group summed away, through new events, duplicates and
late feedback, and when built by the migration from a database of schema version 9."""

from __future__ import annotations

import psycopg
import pytest
from tests.store_pg.test_pg_store import _fill

from modeltower.store import pg_model_rollups
from modeltower.store.pg_schema import MIGRATIONS, migrate
from modeltower.store.pg_store import PostgresStore
from modeltower.store.rollup_plan import DAY_US

# each model-wide table, and the per-version table and unit it collapses
SOURCES = {
    pg_model_rollups.LATENCY: ("rollup_latency", 0),
    pg_model_rollups.LATENCY_DAY: ("rollup_latency", DAY_US),
    "rollup_score_model": ("rollup_score", 0),
    "rollup_score_day_model": ("rollup_score_day", 0),
}


def _collapsed(con: psycopg.Connection, table: str, unit: int) -> dict[tuple[object, ...], tuple]:
    minute = f"minute / {unit} * {unit}" if unit else "minute"
    score = "lab" in {r[0] for r in con.execute(f"SELECT * FROM {table} LIMIT 0").description}
    keys = "model, m, lab, bin" if score else "model, m, bin"
    sums = "sum(n), sum(ln_p), sum(ln_1mp)" if score else "sum(n)"
    rows = con.execute(
        f"SELECT {keys}, {sums} FROM (SELECT *, {minute} AS m FROM {table}) t "
        f"GROUP BY {keys} HAVING sum(n) <> 0"
    ).fetchall()
    return {tuple(r[: -3 if score else -1]): tuple(r[-3 if score else -1 :]) for r in rows}


def _stored(con: psycopg.Connection, table: str) -> dict[tuple[object, ...], tuple]:
    return _collapsed(con, table, 0)


def _assert_model_tables_match(url: str) -> int:
    compared = 0
    with psycopg.connect(url) as con:
        for table, (source, unit) in SOURCES.items():
            want, got = _collapsed(con, source, unit), _stored(con, table)
            assert got.keys() == want.keys(), table
            for k, values in want.items():
                assert int(got[k][0]) == int(values[0]), (table, k)
                assert [float(v) for v in got[k][1:]] == pytest.approx(
                    [float(v) for v in values[1:]], rel=1e-12, abs=1e-9
                ), (table, k)
            compared += len(want)
    return compared


def test_model_tables_equal_the_per_version_sums(pg_store: PostgresStore, pg_url: str) -> None:
    _fill(pg_store)  # two models, versions and groups, duplicates, late labels
    assert _assert_model_tables_match(pg_url) > 500


def test_the_migration_builds_them_from_a_version_9_database(
    pg_store: PostgresStore, pg_url: str
) -> None:
    _fill(pg_store)
    with psycopg.connect(pg_url, autocommit=True) as con:
        for table in pg_model_rollups.TABLES:
            con.execute(f"DROP TABLE {table}")
        for index in ("rollup_latency", "rollup_score", "rollup_score_day"):
            con.execute(f"DROP INDEX {index}_model_minute")
        con.execute("DELETE FROM schema_migrations WHERE version IN (10, 13)")
        assert migrate(con) == max(v for v, _ in MIGRATIONS)
    assert _assert_model_tables_match(pg_url) > 500


def test_the_latency_tables_keys_cover_the_counts(pg_store: PostgresStore, pg_url: str) -> None:
    # version 13: (model, minute, bin) INCLUDE (n), so the sketch reads scan the index only
    with psycopg.connect(pg_url, autocommit=True) as con:
        for table in (pg_model_rollups.LATENCY, pg_model_rollups.LATENCY_DAY):
            row = con.execute(
                "SELECT i.indnkeyatts, i.indnatts, i.indisprimary FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indrelid WHERE c.relname = %s",
                [table],
            ).fetchall()
            assert row == [(3, 4, True)], table
