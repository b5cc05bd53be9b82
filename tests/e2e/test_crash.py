"""A killed or stopped server never loses an acknowledged event, and retries never store twice.

Spec: "Data that was acknowledged is never lost, also under concurrent clients and a killed
process." Both tests run on DuckDB (WAL replay after the kill) and on PostgreSQL
(the server process dies, the database does not). Clients post small batches; the server is SIGKILLed (a crash) or SIGTERMed (a clean
stop) while they do. A batch counts as acknowledged only when its 2xx answer arrived; a connection
error leaves it unacknowledged, and the client retries it against the restarted server.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from modeltower.testing import ServerProcess

from . import RawConn, export_ids, metrics_count, repeated

pytestmark = pytest.mark.slow

CLIENTS = 16
MODEL = "crash"

Batch = list[dict[str, object]]


def _ids(batch: Batch) -> list[str]:
    return [str(e["id"]) for e in batch]


class _Client:
    """One client's state across server lifetimes: its acknowledged ids and its open batches."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.rng = random.Random(1000 + index)
        self.n = 0
        self.acked: list[str] = []
        self.sent: set[str] = set()
        self.pending: list[Batch] = []  # sent, no 2xx seen: to be retried
        self.expect_dups: dict[str, int] = {}  # first id of a pending batch -> already stored
        self.statuses: Counter[int] = Counter()
        self.conn_errors = 0
        self.problems: list[str] = []
        self.retried = 0
        self.retry_dups = 0
        self.last_ack_at = 0.0  # time.monotonic() of the latest 2xx

    def new_batch(self) -> Batch:
        batch: Batch = []
        for _ in range(self.rng.randint(1, 20)):
            self.n += 1
            batch.append(
                {
                    "model": MODEL,
                    "id": f"k{self.index:02d}-{self.n:06d}",
                    "prediction": self.rng.choice(["a", "b"]),
                    "label": self.rng.choice(["a", "b"]),
                    "latency_ms": round(self.rng.uniform(1, 50), 2),
                    "tags": {"client": str(self.index)},
                }
            )
        self.sent.update(_ids(batch))
        return batch

    def run(self, port: int, stop: threading.Event, drain: bool) -> None:
        """Retry the pending batches first, then post new ones until ``stop`` (with ``drain``,
        until the pending ones are all acknowledged too) or until the connection fails."""
        conn = RawConn(port, timeout=20)
        todo, self.pending = self.pending, []
        try:
            while todo or not stop.is_set():
                retry = bool(todo)
                batch = todo.pop(0) if todo else self.new_batch()
                ids = _ids(batch)
                try:
                    status, body = conn.post_json("/v1/events", batch)
                except OSError:
                    self.conn_errors += 1
                    self.pending = [batch, *todo]
                    if drain:
                        self.problems.append(f"connection error during the final round ({ids[0]})")
                    return
                self.statuses[status] += 1
                if status == 503:  # refused: nothing stored, retry it later
                    todo.insert(0, batch)
                    time.sleep(0.05)
                    continue
                if not 200 <= status < 300:
                    self.problems.append(f"{ids[0]}: HTTP {status} {body}")
                    self.pending = [batch, *todo]
                    return
                dups = self.expect_dups.pop(ids[0], 0)
                want = {"accepted": len(ids) - dups, "duplicates": dups, "ids": ids}
                if body != want:
                    self.problems.append(f"{ids[0]}: got {body}, expected {want}")
                if retry:
                    self.retried += 1
                    self.retry_dups += dups
                self.acked.extend(ids)
                self.last_ack_at = time.monotonic()
        finally:
            conn.close()


def _run_clients(clients: list[_Client], port: int, drain: bool) -> tuple[threading.Event, list]:
    stop = threading.Event()
    threads = [
        threading.Thread(target=c.run, args=(port, stop, drain), name=f"client-{c.index}")
        for c in clients
    ]
    for t in threads:
        t.daemon = True
        t.start()
    return stop, threads


def _join(threads: list[threading.Thread], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a client hung"


def _check_stored(
    server: ServerProcess, clients: list[_Client], started_wall: float
) -> tuple[set[str], int]:
    """The restarted server holds every acknowledged id once, nothing never sent, and each open
    batch whole or not at all. Returns the stored ids and how many open batches were committed."""
    ids = export_ids(server.url, MODEL)
    assert not repeated(ids), f"ids stored twice: {list(repeated(ids).items())[:10]}"
    stored = set(ids)
    acked = {i for c in clients for i in c.acked}
    sent = set().union(*(c.sent for c in clients))
    lost = acked - stored
    assert not lost, f"{len(lost)} acknowledged ids lost, e.g. {sorted(lost)[:10]}"
    assert stored <= sent, f"stored ids never sent: {sorted(stored - sent)[:10]}"
    committed_unacked = 0
    for c in clients:
        for batch in c.pending:
            bids = _ids(batch)
            present = sum(i in stored for i in bids)
            assert present in (0, len(bids)), (
                f"batch {bids[0]} stored in part: {present}/{len(bids)}"
            )
            c.expect_dups[bids[0]] = present
            committed_unacked += present > 0
    count = metrics_count(server.url, MODEL, started_wall - 3600, time.time() + 3600)
    assert count == len(stored)
    return stored, committed_unacked


def test_sigkill_under_load_loses_no_acknowledged_event_and_retries_are_deduplicated(
    tmp_path: Path, backend: str
) -> None:
    db = tmp_path / "db.duckdb"
    # Runs on both backends (tests/conftest.py): on PostgreSQL every server of this test stores
    # in one database standing for ``db``.
    assert (ServerProcess(db).database_url is not None) == (backend == "postgres")
    started_wall = time.time()
    clients = [_Client(i) for i in range(CLIENTS)]
    kills = 2  # two crash rounds, then a final round that retries everything still open
    report: list[str] = []
    for round_no in range(kills + 1):
        final = round_no == kills
        server = ServerProcess(db, log_path=tmp_path / f"server-{round_no}.log")
        try:
            # After a SIGKILL the file must open again (DuckDB replays its WAL): if it does not,
            # that is a finding, and start() raises with the server's log.
            server.start()
            if round_no:
                stored, committed_unacked = _check_stored(server, clients, started_wall)
                report.append(
                    f"restart {round_no}: {len(stored)} stored; "
                    f"{sum(len(c.pending) for c in clients)} open batches, "
                    f"{committed_unacked} of them committed before the kill"
                )
            stop, threads = _run_clients(clients, server.port, drain=final)
            if not final:
                time.sleep(random.uniform(3.0, 5.0))
                acked_before = sum(len(c.acked) for c in clients)
                server.kill()
                _join(threads)
                errors = sum(c.conn_errors for c in clients)
                report.append(
                    f"kill {round_no + 1}: {acked_before} ids acknowledged by then, "
                    f"{errors} connection errors so far"
                )
                assert acked_before > 0
            else:
                time.sleep(2.0)
                stop.set()
                _join(threads)
                problems = [p for c in clients for p in c.problems]
                assert not problems, problems[:20]
                assert not any(c.pending for c in clients), (
                    "open batches left after the final round"
                )
                ids = export_ids(server.url, MODEL)
                assert not repeated(ids), f"ids stored twice: {list(repeated(ids).items())[:10]}"
                acked = [i for c in clients for i in c.acked]
                sent = set().union(*(c.sent for c in clients))
                assert len(set(acked)) == len(acked), "an id was acknowledged twice as new"
                assert set(ids) == sent == set(acked)
                count = metrics_count(server.url, MODEL, started_wall - 3600, time.time() + 3600)
                assert count == len(sent)
                report.append(
                    f"final: {len(ids)} stored = every id sent; "
                    f"{sum(c.retried for c in clients)} batches retried, "
                    f"{sum(c.retry_dups for c in clients)} events reported as duplicates"
                )
            problems = [p for c in clients for p in c.problems]
            assert not problems, problems[:20]
            statuses: Counter[int] = Counter()
            for c in clients:
                statuses.update(c.statuses)
            assert not [s for s in statuses if s >= 500 and s != 503], dict(statuses)
        finally:
            server.kill()
    print("\n" + "\n".join(report))


def test_sigterm_under_load_answers_or_refuses_every_request(tmp_path: Path, backend: str) -> None:
    db = tmp_path / "db.duckdb"
    assert (ServerProcess(db).database_url is not None) == (backend == "postgres")
    started_wall = time.time()
    clients = [_Client(i) for i in range(CLIENTS)]
    server = ServerProcess(db, log_path=tmp_path / "server-0.log")
    try:
        server.start()
        _, threads = _run_clients(clients, server.port, drain=False)
        time.sleep(3.0)
        stopped_at = time.monotonic()
        server.stop()  # SIGTERM, waits for the exit (SIGKILL after 30 s)
        stop_seconds = time.monotonic() - stopped_at
        _join(threads)
        assert server.proc is not None
        code = server.proc.returncode
        log = server.log()
        assert code in (0, -signal.SIGTERM), f"exit code {code}; a SIGKILL means a hung shutdown"
        assert stop_seconds < 25, f"shutdown took {stop_seconds:.1f} s"
        assert "Traceback" not in log, log
    finally:
        server.kill()
    wal = Path(str(db) + ".wal")
    assert not wal.exists() or wal.stat().st_size == 0, "no checkpoint on clean shutdown"

    problems = [p for c in clients for p in c.problems]
    assert not problems, problems[:20]
    statuses: Counter[int] = Counter()
    for c in clients:
        statuses.update(c.statuses)
    assert not [s for s in statuses if s >= 500 and s != 503], dict(statuses)

    with ServerProcess(db, log_path=tmp_path / "server-1.log") as again:
        stored, committed_unanswered = _check_stored(again, clients, started_wall)
    acked = {i for c in clients for i in c.acked}
    open_batches = sum(len(c.pending) for c in clients)
    answered_late = sum(c.last_ack_at > stopped_at for c in clients)
    print(
        f"\nSIGTERM after 3 s: {len(acked)} ids acknowledged, {len(stored)} stored, "
        f"stop took {stop_seconds:.2f} s (exit code {code}); statuses {dict(statuses)}; "
        f"{answered_late} clients got an answer after the SIGTERM; "
        f"{open_batches} requests unanswered (connection closed), "
        f"{committed_unanswered} of them committed anyway"
    )
    # A clean stop answers every request it took on: no batch is committed without its answer.
    assert committed_unanswered == 0
    assert stored == acked
