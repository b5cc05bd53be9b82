"""Schema version 9 on a database that already holds tagged events: their values are known
from the start, on both stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests import pg

from modeltower.ingest.schema import EventIn, to_columns
from modeltower.store.base import InsertEvents, Store
from modeltower.store.duckdb_store import DuckDBStore

T0 = 1_764_000_000


def _events() -> list[EventIn]:
    tags = [{"region": "eu"}, {"region": "us", "n": "1"}, None, {"region": "eu"}, {}]
    return [
        EventIn(model="m", id=str(i), prediction="a", timestamp=T0 + i, tags=t)
        for i, t in enumerate(tags)
    ]


def _forget_version_9(store: Store, run: Callable[[str], None]) -> None:
    """Back to a version-8 database with events: drop what version 9 made."""
    store.write([InsertEvents(to_columns(_events(), T0 * 1_000_000))])
    store.close()
    for sql in (
        "DROP TABLE tag_values",
        "DROP TABLE tag_overflow",
        "DELETE FROM schema_migrations WHERE version = 9",
    ):
        run(sql)


@pytest.fixture
def pg_url() -> Iterator[str]:
    server = pg.server()
    url = server.create_database()
    yield url
    server.drop_database(url)


def test_duckdb_migration_knows_stored_values(tmp_path: Path) -> None:
    import duckdb

    path = str(tmp_path / "old.duckdb")
    store = DuckDBStore(path)
    store.open()

    def run(sql: str) -> None:
        with duckdb.connect(path) as con:
            con.execute(sql)

    _forget_version_9(store, run)
    store = DuckDBStore(path)
    store.open()
    try:
        assert store.tag_values("m") == {"region": {"eu", "us"}, "n": {"1"}}
    finally:
        store.close()


def test_postgres_migration_knows_stored_values(pg_url: str) -> None:
    import psycopg

    from modeltower.store.pg_store import PostgresStore

    store = PostgresStore(pg_url)
    store.open()

    def run(sql: str) -> None:
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(sql)

    _forget_version_9(store, run)
    store = PostgresStore(pg_url)
    store.open()
    try:
        assert store.tag_values("m") == {"region": {"eu", "us"}, "n": {"1"}}
        stats = {st.key: st.distinct_values for _, st in store.tag_stats("m")}
        assert stats == {"n": 1, "region": 2}
    finally:
        store.close()
