"""Many concurrent clients posting single events: every acknowledged event is stored exactly once.

Spec: "Data that was acknowledged is never lost, also under concurrent clients and a killed
process." This half covers concurrent clients against a real server process and DuckDB file.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from modeltower.testing import ServerProcess

from . import RawConn, export_ids, metrics_count, repeated

pytestmark = pytest.mark.slow

CLIENTS = 32
LOAD_SECONDS = 10.0
RETRY_SHARE = 0.05  # share of requests that re-send an already acknowledged (model, id)
MODEL = "conc"


def _event(client: int, n: int, rng: random.Random) -> dict[str, object]:
    return {
        "model": MODEL,
        "version": f"v{client % 3}",
        "id": f"c{client:02d}-{n:06d}",
        "prediction": rng.choice(["churn", "stay"]),
        "score": round(rng.random(), 4),
        "latency_ms": round(rng.uniform(1, 80), 2),
        "features": {"n": n, "client": client},
        "tags": {"client": str(client)},
    }


class _Client(threading.Thread):
    """Posts one event per request until the deadline; re-sends some acknowledged ones."""

    def __init__(self, index: int, port: int, start_at: float, deadline: float) -> None:
        super().__init__(name=f"load-{index}", daemon=True)
        self.index = index
        self.port = port
        self.start_at = start_at
        self.deadline = deadline
        self.acked: list[str] = []
        self.sent_events: dict[str, dict[str, object]] = {}
        self.statuses: Counter[int] = Counter()
        self.problems: list[str] = []  # unexpected answers, described
        self.transport_errors: list[str] = []
        self.retries = 0
        self.retry_duplicates = 0

    def run(self) -> None:
        rng = random.Random(self.index)
        conn = RawConn(self.port)
        n = 0
        while time.monotonic() < self.start_at:
            time.sleep(0.001)
        try:
            while time.monotonic() < self.deadline:
                retry = bool(self.acked) and rng.random() < RETRY_SHARE
                if retry:
                    event = self.sent_events[rng.choice(self.acked)]
                else:
                    n += 1
                    event = _event(self.index, n, rng)
                try:
                    status, body = conn.post_json("/v1/events", event)
                except OSError as exc:
                    self.transport_errors.append(f"{event['id']}: {exc!r}")
                    continue
                self.statuses[status] += 1
                if not 200 <= status < 300:
                    self.problems.append(f"{event['id']}: HTTP {status} {body}")
                    continue
                eid = str(event["id"])
                if retry:
                    self.retries += 1
                    dups = body.get("duplicates")
                    self.retry_duplicates += dups if isinstance(dups, int) else 0
                    if body != {"accepted": 0, "duplicates": 1, "ids": [eid]}:
                        self.problems.append(f"retry of {eid}: {body}")
                else:
                    if body != {"accepted": 1, "duplicates": 0, "ids": [eid]}:
                        self.problems.append(f"new {eid}: {body}")
                    self.acked.append(eid)
                    self.sent_events[eid] = event
        finally:
            conn.close()


def test_concurrent_single_event_clients_store_every_ack_exactly_once(tmp_path: Path) -> None:
    started_wall = time.time()
    with ServerProcess(tmp_path / "db.duckdb") as server:
        start_at = time.monotonic() + 0.5
        clients = [
            _Client(i, server.port, start_at, start_at + LOAD_SECONDS) for i in range(CLIENTS)
        ]
        for c in clients:
            c.start()
        for c in clients:
            c.join(LOAD_SECONDS + 60)
        elapsed = time.monotonic() - start_at
        assert not any(c.is_alive() for c in clients), "a client hung"

        statuses: Counter[int] = Counter()
        for c in clients:
            statuses.update(c.statuses)
        acked = [eid for c in clients for eid in c.acked]
        retries = sum(c.retries for c in clients)
        retry_dups = sum(c.retry_duplicates for c in clients)
        problems = [p for c in clients for p in c.problems]
        transport = [e for c in clients for e in c.transport_errors]
        total = sum(statuses.values())
        print(
            f"\n{CLIENTS} clients, {elapsed:.1f} s: {total} requests ({total / elapsed:.0f}/s), "
            f"{len(acked)} new events acknowledged ({len(acked) / elapsed:.0f}/s), "
            f"{retries} retries of acknowledged ids -> {retry_dups} duplicates; "
            f"statuses {dict(statuses)}; transport errors {len(transport)}"
        )

        assert not [s for s in statuses if s >= 500], f"5xx answers: {dict(statuses)}"
        assert not problems, problems[:20]
        assert not transport, transport[:20]
        assert all(c.acked for c in clients), "every client got at least one acknowledgement"
        assert len(set(acked)) == len(acked)
        assert retries > 0 and retry_dups == retries

        # Every acknowledged id is stored exactly once: by count ...
        count = metrics_count(server.url, MODEL, started_wall - 3600, time.time() + 3600)
        assert count == len(acked)
        # ... and by identity, from the parquet export.
        ids = export_ids(server.url, MODEL)
        assert not repeated(ids)
        assert set(ids) == set(acked)
        assert len(ids) == len(acked)

        log = server.log()
    assert "Traceback" not in log, log
