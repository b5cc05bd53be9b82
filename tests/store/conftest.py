"""Fixtures of the DuckDB store tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modeltower.store.duckdb_store import DuckDBStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    """An open DuckDB store on a new file, closed after the test."""
    s = DuckDBStore(str(tmp_path / "store.duckdb"))
    s.open()
    yield s
    s.close()
