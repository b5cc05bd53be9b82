"""The server gone for 60 s while a host application logs 500 events/s through the SDK.

Spec: "the host's own request latency is unchanged (measure it), SDK memory stays bounded, drops
are counted and reported, and logging resumes by itself." The host is a loop of requests paced
at 500/s, each doing a little work of its own and one ``log()``; each request's duration is
timed. The server (a real process) is stopped for 60 s and started again on the same port.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from tests.e2e import export_ids
from tests.faults.host import Host, pct

from modeltower.sdk import Client
from modeltower.testing import ServerProcess

pytestmark = pytest.mark.slow

MODEL = "outage"
RATE = 500
UP_S, DOWN_S, AFTER_S = 8.0, 60.0, 14.0
MAX_QUEUE = 10_000


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_server_away_for_60_s_host_latency_unchanged_memory_bounded_drops_reported(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.duckdb"
    server = ServerProcess(db, log_path=tmp_path / "server-1.log").start()
    warnings = _Warnings()
    logging.getLogger("modeltower.sdk").addHandler(warnings)
    client = Client(server.url, model=MODEL, max_queue=MAX_QUEUE)
    host = Host(client.log, client.stats, rate=RATE)
    thread = threading.Thread(target=host.run, daemon=True)
    again: ServerProcess | None = None
    try:
        thread.start()
        time.sleep(UP_S)
        host.phase = "down"
        server.stop()
        down_at = time.monotonic()
        time.sleep(DOWN_S)
        again = ServerProcess(db, port=server.port, log_path=tmp_path / "server-2.log").start()
        up_at = time.monotonic()
        host.phase = "after"
        time.sleep(AFTER_S)
        host.stop.set()
        thread.join(5)
        assert client.flush(30), client.stats()
        stats = client.stats()
        ids = set(export_ids(again.url, MODEL))
    finally:
        host.stop.set()
        client.close(2)
        logging.getLogger("modeltower.sdk").removeHandler(warnings)
        server.kill()
        if again is not None:
            again.stop()

    up, down = host.took_ns["up"], host.took_ns["down"]
    p50_up, p99_up, p50_down, p99_down = pct(up, 50), pct(up, 99), pct(down, 50), pct(down, 99)
    rss_growth = host.max_rss.get("down", 0) - host.max_rss.get("up", 0)
    print(
        f"\nhost request p50 {p50_up:.1f} µs up / {p50_down:.1f} µs down "
        f"(ratio {p50_down / p50_up:.2f}), p99 {p99_up:.1f} / {p99_down:.1f} µs "
        f"(ratio {p99_down / p99_up:.2f}); queue at most {host.max_queued}; RSS growth while "
        f"down {rss_growth / 2**20:.1f} MiB; SDK {stats}"
    )
    # The host's latency does not depend on the server (log() never waits for the network).
    assert p50_down <= 1.5 * p50_up + 20, (p50_up, p50_down)
    assert p99_down <= 2.0 * p99_up + 200, (p99_up, p99_down)
    # Memory is bounded: the queue never holds more than max_queue items.
    assert host.max_queued <= MAX_QUEUE
    assert rss_growth < 64 * 2**20
    # Drops are counted, and every event logged is accounted for.
    logged = len(host.logged)
    assert stats["dropped"] > 0
    assert stats["sent"] + stats["dropped"] + stats["failed"] + stats["rejected"] == logged, stats
    assert stats["queued"] == 0
    # (a batch given up may have been stored all the same, its answer lost)
    assert stats["sent"] <= len(ids) <= stats["sent"] + stats["failed"]
    # ... and reported, while the server is away (not only when asked through stats()).
    drops = [m for m in warnings.messages if "dropped" in m]
    assert drops, warnings.messages
    # Logging resumed by itself: everything logged once the backlog was sent is stored.
    late = [i for t, i in host.logged if t > up_at + 10.0]
    assert late and all(i in ids for i in late)
    assert min(t for t, i in host.logged if i in ids and t > down_at) < up_at + 1.0
