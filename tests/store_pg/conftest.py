"""Fixtures of the PostgreSQL store's own tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from tests import pg

if TYPE_CHECKING:
    from modeltower.store.pg_store import PostgresStore


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database on the tests' PostgreSQL server."""
    server = pg.server()
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[PostgresStore]:
    from modeltower.store.pg_store import PostgresStore

    store = PostgresStore(pg_url)
    store.open()
    yield store
    store.close()
