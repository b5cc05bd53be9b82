"""The tests' PostgreSQL server: found or started, a fresh database per test."""

from __future__ import annotations

import psycopg


def test_each_test_gets_an_empty_database_of_its_own(pg_url: str) -> None:
    with psycopg.connect(pg_url) as con:
        row = con.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert row == (0,)
        con.execute("CREATE TABLE t (x int)")
