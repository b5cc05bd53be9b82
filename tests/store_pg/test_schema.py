"""Schema migrations of the PostgreSQL store."""

from __future__ import annotations

import threading

import psycopg

from modeltower.store.pg_schema import MIGRATIONS, migrate


def test_migrations_apply_once_and_concurrently(pg_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(pg_url, autocommit=True) as con:
                assert migrate(con) == MIGRATIONS[-1][0]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with psycopg.connect(pg_url) as con:
        rows = con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [v for v, _ in MIGRATIONS]
