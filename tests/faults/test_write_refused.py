"""A database that refuses writes (disk full, read-only): 503 for writes, reads go on, no damage.

Spec: "Disk full or read-only database: writes fail with 503 and a clear log line; reads keep
working; nothing already stored is damaged." The faults are real, without root:

* DuckDB: the server process gets a file-size limit (``RLIMIT_FSIZE`` through ``prlimit``) just
  above its files' size, so the kernel refuses the WAL's growth with EFBIG, as a full disk
  would refuse it with ENOSPC (Python ignores SIGXFSZ, which would otherwise kill it). A
  second test lets the WAL grow but not the database file, so the idle checkpoint fails: DuckDB
  then invalidates the whole database, and the store must reopen it for reads to go on.
* PostgreSQL: the database is made read-only (``default_transaction_read_only``) and its
  sessions are ended, so that the server's new sessions are read-only.

After the fault is lifted, writes succeed again without a restart; after a restart every
acknowledged event is there exactly once.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import pytest
from tests.e2e import export_ids, metrics_count, repeated

from modeltower.testing import ServerProcess

pytestmark = pytest.mark.slow

MODEL = "refused"
PAD = "x" * 1000  # about 1 kB of features per event: the WAL grows quickly


def _batch(start: int, n: int) -> list[dict[str, object]]:
    return [
        {
            "model": MODEL,
            "id": f"e{i:07d}",
            "prediction": "a" if i % 3 else "b",
            "label": "a",
            "latency_ms": float(i % 50),
            "features": {"pad": PAD, "i": i},
        }
        for i in range(start, start + n)
    ]


class _Fault:
    """Make the server's database refuse writes, and lift that again."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    def apply(self) -> None:
        raise NotImplementedError

    def lift(self) -> None:
        raise NotImplementedError


class _FileSizeLimit(_Fault):
    def __init__(self, server: ServerProcess, headroom: int) -> None:
        super().__init__(server)
        self.headroom = headroom

    def apply(self) -> None:
        files = [Path(self.server.db_path), Path(self.server.db_path + ".wal")]
        biggest = max(f.stat().st_size for f in files if f.exists())
        assert self.server.proc is not None
        resource.prlimit(
            self.server.proc.pid,
            resource.RLIMIT_FSIZE,
            (biggest + self.headroom, resource.RLIM_INFINITY),
        )

    def lift(self) -> None:
        assert self.server.proc is not None
        inf = resource.RLIM_INFINITY
        resource.prlimit(self.server.proc.pid, resource.RLIMIT_FSIZE, (inf, inf))


class _ReadOnlyDatabase(_Fault):
    def _admin(self, sql: str) -> None:
        assert self.server.database_url is not None
        with psycopg.connect(self.server.database_url, autocommit=True) as con:
            name = con.execute("SELECT current_database()").fetchone()
            assert name is not None
            con.execute(sql.replace("{db}", psycopg.sql.Identifier(name[0]).as_string(con)))
            # Settings apply to new sessions: end the server's, it reconnects.
            con.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    def apply(self) -> None:
        self._admin("ALTER DATABASE {db} SET default_transaction_read_only = on")

    def lift(self) -> None:
        # No session is ended here: the server's writer must find its way back by itself.
        assert self.server.database_url is not None
        with psycopg.connect(self.server.database_url, autocommit=True) as con:
            name = con.execute("SELECT current_database()").fetchone()
            assert name is not None
            ident = psycopg.sql.Identifier(name[0]).as_string(con)
            con.execute("SET default_transaction_read_only = off")  # this session is read-only too
            con.execute(f"ALTER DATABASE {ident} RESET default_transaction_read_only")


def _post(http: httpx.Client, url: str, batch: list[dict[str, object]]) -> httpx.Response:
    t0 = time.monotonic()
    r = http.post(url + "/v1/events", json=batch)
    assert time.monotonic() - t0 < 10, "a refused write hung"
    assert r.status_code in (200, 503), r.text
    if r.status_code == 503:
        assert int(r.headers["retry-after"]) >= 1
    return r


def _settle_checkpoint(server: ServerProcess) -> None:
    """Wait until the writer's idle checkpoint has moved the WAL into the file."""
    wal = Path(server.db_path + ".wal")
    deadline = time.monotonic() + 15
    while wal.exists() and wal.stat().st_size > 0 and time.monotonic() < deadline:
        time.sleep(0.2)


def test_refused_writes_answer_503_reads_go_on_and_nothing_stored_is_damaged(
    tmp_path: Path, backend: str
) -> None:
    db = tmp_path / "db.duckdb"
    server = ServerProcess(db, log_path=tmp_path / "server.log").start()
    acked: list[str] = []
    statuses: Counter[int] = Counter()
    n = 0
    started = time.time()
    try:
        with httpx.Client(timeout=30) as http:
            for _ in range(5):
                r = _post(http, server.url, _batch(n, 50))
                assert r.status_code == 200
                acked += [str(i) for i in r.json()["ids"]]
                n += 50
            if backend == "duckdb":
                _settle_checkpoint(server)
                fault: _Fault = _FileSizeLimit(server, headroom=512 * 1024)
            else:
                fault = _ReadOnlyDatabase(server)
            fault.apply()
            # Write until refused (the WAL fills up on DuckDB), then some more: all refused.
            refused_at = None
            for k in range(200):
                r = _post(http, server.url, _batch(n, 100))
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    acked += [str(i) for i in r.json()["ids"]]
                n += 100
                if r.status_code == 503:
                    refused_at = refused_at if refused_at is not None else k
                    if k - refused_at >= 10:
                        break
            assert refused_at is not None, f"the fault did not refuse any write: {statuses}"
            tail = [_post(http, server.url, _batch(n + 100 * j, 100)) for j in range(5)]
            n += 500
            assert [t.status_code for t in tail] == [503] * 5
            assert "refuses writes" in tail[-1].json()["detail"]["message"]
            # Reads keep working and see exactly what was acknowledged.
            assert metrics_count(server.url, MODEL, started - 3600, time.time() + 60) == len(acked)
            ready = http.get(server.url + "/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "degraded", ready.text
            assert server.proc is not None and server.proc.poll() is None
            fault.lift()
            # Writes resume by themselves (a retry or two at most).
            for _ in range(20):
                r = _post(http, server.url, _batch(n, 10))
                if r.status_code == 200:
                    break
                time.sleep(0.5)
            assert r.status_code == 200, r.text
            acked += [str(i) for i in r.json()["ids"]]
            n += 10
            assert http.get(server.url + "/readyz").json()["status"] == "ready"
    finally:
        with contextlib.suppress(Exception):
            fault.lift()
        server.stop()
    log = server.log_path.read_text(errors="replace")
    # One clear line when the fault began and one when it ended; no stack trace per request.
    assert log.count("refuses writes") == 1, log[-3000:]
    assert log.count("writes work again") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert "write refused" not in log

    with ServerProcess(db, log_path=tmp_path / "server-2.log") as again:
        ids = export_ids(again.url, MODEL)
    assert not repeated(ids)
    assert set(ids) == set(acked), "stored data differs from what was acknowledged"
    print(f"\n{backend}: statuses while the fault lasted {dict(statuses)}; {len(ids)} stored")


def test_duckdb_reopens_a_database_invalidated_by_a_failed_checkpoint(tmp_path: Path) -> None:
    """The WAL may grow, the database file may not: the idle checkpoint fails, DuckDB
    invalidates the database (every connection, readers too), and the store reopens it."""
    db = tmp_path / "db.duckdb"
    server = ServerProcess(db, log_path=tmp_path / "server.log").start()
    acked: list[str] = []
    started = time.time()
    assert server.proc is not None
    try:
        with httpx.Client(timeout=30) as http:
            _settle_checkpoint(server)
            size = os.path.getsize(db)
            # Not one more byte for the database file; the WAL (empty now) has all of that.
            resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
            n = 0
            for _ in range(5):
                r = _post(http, server.url, _batch(n, 100))
                assert r.status_code == 200, r.text
                acked += [str(i) for i in r.json()["ids"]]
                n += 100
            # The writer checkpoints after 2 s idle; the checkpoint needs a bigger file.
            time.sleep(4.0)
            # Reads work (at most one is refused while the database is reopened).
            codes = []
            for _ in range(3):
                r = http.get(
                    f"{server.url}/v1/models/{MODEL}/metrics",
                    params={"start": str(int(started - 3600)), "end": str(int(time.time() + 60))},
                )
                codes.append(r.status_code)
                if r.status_code == 200:
                    assert r.json()["count"] == len(acked)
                    break
            assert codes[-1] == 200, codes
            assert server.proc.poll() is None
            inf = resource.RLIM_INFINITY
            resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (inf, inf))
            r = _post(http, server.url, _batch(n, 10))
            assert r.status_code == 200, r.text
            acked += [str(i) for i in r.json()["ids"]]
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    assert "reopened: DuckDB had invalidated it" in log, log[-3000:]
    with ServerProcess(db, log_path=tmp_path / "server-2.log") as again:
        ids = export_ids(again.url, MODEL)
    assert not repeated(ids)
    assert set(ids) == set(acked)
