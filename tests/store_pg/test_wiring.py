"""Choosing the PostgreSQL store: setting, environment variable, command line."""

from __future__ import annotations

import pytest

from modeltower.app import make_store
from modeltower.cli import build_parser
from modeltower.config import ConfigError, Settings, from_env
from modeltower.store.duckdb_store import DuckDBStore
from modeltower.store.pg_store import PostgresStore


def test_the_database_url_picks_postgres_and_duckdb_stays_the_default(pg_url: str) -> None:
    assert isinstance(make_store(Settings()), DuckDBStore)
    store = make_store(Settings(database_url=pg_url))
    assert isinstance(store, PostgresStore)
    store.open()
    store.close()
    assert from_env({"MODELTOWER_DATABASE_URL": pg_url}).database_url == pg_url
    args = build_parser().parse_args(["serve", "--database-url", pg_url])
    assert args.database_url == pg_url


@pytest.mark.parametrize("url", ["mysql://u:secret@h/db", "sqlite:///x.db", "host=x dbname=y"])
def test_other_urls_are_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(ConfigError, match="PostgreSQL URL") as info:
        Settings(database_url=url).validate()
    assert "secret" not in str(info.value)
    with pytest.raises(ConfigError):
        make_store(Settings(database_url=url))
