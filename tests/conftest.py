"""Fixtures shared by every test package: the real app in-process (see tests/inprocess.py), on
each store backend.

Every test that runs the application (in-process through ``make_api``, or as a server process
through ``ServerProcess``) runs twice: on DuckDB and on PostgreSQL (tests/pg.py finds or starts
the server; without one these tests fail, they are never skipped). ``backend`` is a
session-scoped parameter, so pytest runs all DuckDB cases, then all PostgreSQL ones; fixtures of
any scope that build on ``tmp_path_factory`` are built anew for each backend.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from tests import pg
from tests.inprocess import MakeApi, api_factory

from modeltower.testing import ServerProcess

BACKENDS = ["duckdb", "postgres"]
# What a test module (or one of its fixtures' modules) names when it runs the application.
_APP_MARKERS = ("make_api", "ServerProcess", "create_app")
# Tests that are about DuckDB itself: they open the .duckdb file or a DuckDBStore directly.
DUCKDB_ONLY = (
    "tests/health/test_snapshots.py::test_migration_2_adds_snapshots_to_an_existing_database",
    "tests/store_pg/",
    "tests/store/test_deltas.py",
    "tests/store/test_feedback_time.py",
    "tests/store/test_feature_reads.py",
    "tests/faults/test_write_refused.py::test_duckdb_reopens_a_database_invalidated_by",
)
# Tests that run once: they start a PostgreSQL cluster of their own (to stop and restart it),
# or are about the SDK, not about the server's backend.
RUN_ONCE = (
    "tests/faults/test_pg_restart.py",
    "tests/faults/test_sdk_outage.py",
    "tests/store/test_class_values.py::test_the_rule_is_the_same_in_pyarrow_duckdb_and_postgres",
)


@cache
def _source_mentions_app(path: str) -> bool:
    try:
        text = Path(path).read_text()
    except OSError:
        return False
    return any(m in text for m in _APP_MARKERS)


def _runs_the_app(metafunc: pytest.Metafunc) -> bool:
    files = {str(metafunc.definition.path)}
    for defs in metafunc._arg2fixturedefs.values():
        for d in defs:
            with_file = inspect.getsourcefile(d.func)
            if with_file and "/tests/" in with_file:
                files.add(with_file)
    return any(_source_mentions_app(f) for f in files)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    nodeid = metafunc.definition.nodeid
    if any(nodeid.startswith(p) for p in DUCKDB_ONLY + RUN_ONCE):
        return
    if "backend" in metafunc.fixturenames and _runs_the_app(metafunc):
        metafunc.parametrize("backend", BACKENDS, indirect=True, scope="session")


class _Databases:
    """PostgreSQL databases standing for DuckDB file paths, for one backend phase."""

    def __init__(self, server: pg.Server) -> None:
        self.server = server
        self.by_path: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        url = self.by_path.get(path)
        if url is None:
            url = self.by_path[path] = self.server.create_database()
        return url

    def drop(self, paths: list[str]) -> None:
        for path in paths:
            url = self.by_path.pop(path, None)
            if url is not None:
                self.server.drop_database(url)


_databases: _Databases | None = None


@pytest.fixture(scope="session", autouse=True)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The store backend of this test: ``duckdb`` (also for tests that run no application) or
    ``postgres`` (then every ServerProcess and make_api app stores in a fresh database)."""
    global _databases
    name = str(getattr(request, "param", "duckdb"))
    if name != "postgres":
        yield name
        return
    _databases = _Databases(pg.server())
    ServerProcess.database_for = _databases
    try:
        yield name
    finally:
        ServerProcess.database_for = None
        _databases.drop(list(_databases.by_path))
        _databases = None


@pytest.fixture(scope="session")
def tmp_path_factory(
    tmp_path_factory: pytest.TempPathFactory, backend: str
) -> pytest.TempPathFactory:
    """The built-in factory, tied to ``backend``: servers of module and session fixtures are
    started anew on each backend."""
    return tmp_path_factory


@pytest.fixture(autouse=True)
def _drop_test_databases(backend: str) -> Iterator[None]:
    """PostgreSQL databases created during a test are dropped after it (those of module and
    session fixtures, created before, live as long as their fixture)."""
    before = set(_databases.by_path) if _databases is not None else set()
    yield
    if _databases is not None:
        _databases.drop([p for p in _databases.by_path if p not in before])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_api(tmp_path: Path, backend: str) -> MakeApi:
    """``async with make_api(max_body_bytes=2048) as api:``; a fresh database each time."""
    return api_factory(tmp_path, _databases if backend == "postgres" else None)
