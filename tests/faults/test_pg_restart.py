"""PostgreSQL stopped and started again while a host logs through the SDK.

Spec: "PostgreSQL restarted during load: the service answers 503 with Retry-After while it is
gone (no crash, no hang), resumes by itself, and with the SDK as the client nothing acknowledged
is lost." The cluster is this test's own (tests/pg.py), so stopping it disturbs no other test.
While it is down a probe posts events and reads metrics directly: every answer must come within
a few seconds, as 503 with Retry-After (or 200 for reads the server can still answer); the SDK
retries its refused batches (honouring Retry-After), so in the end every event logged is stored
exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from tests import pg
from tests.e2e import export_ids, repeated

from modeltower.sdk import Client
from modeltower.testing import ServerProcess

pytestmark = pytest.mark.slow

MODEL = "pg-restart"
RATE = 200  # events/s logged by the host
DOWN_S = 4.0
MAX_ANSWER_S = 5.0  # no request may hang longer than this while the database is gone


class _Probe(threading.Thread):
    """Posts one event, reads /readyz and the metrics every 100 ms; records status, Retry-After
    and duration of each answer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True, name="probe")
        self.url = url
        self.stop = threading.Event()
        self.answers: list[tuple[float, str, int, str | None, float]] = []
        self.errors: list[str] = []
        self.acked: list[str] = []

    def run(self) -> None:
        n = 0
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                n += 1
                ev = {"model": MODEL, "id": f"probe-{n}", "prediction": "a", "latency_ms": 1.0}
                for what, call in (
                    ("post", lambda ev=ev: http.post(self.url + "/v1/events", json=ev)),
                    ("ready", lambda: http.get(self.url + "/readyz")),
                    ("read", lambda: http.get(f"{self.url}/v1/models/{MODEL}/metrics?window=1h")),
                ):
                    t0 = time.monotonic()
                    try:
                        r = call()
                    except httpx.HTTPError as exc:
                        self.errors.append(f"{what}: {exc!r}")
                        continue
                    took = time.monotonic() - t0
                    self.answers.append(
                        (t0, what, r.status_code, r.headers.get("retry-after"), took)
                    )
                    if what == "post" and r.status_code == 200:
                        self.acked.append(str(ev["id"]))
                self.stop.wait(0.1)


def test_postgres_restart_answers_503_fast_resumes_and_the_sdk_loses_nothing(
    tmp_path: Path,
) -> None:
    bindir = pg.find_bindir()
    assert bindir is not None, "PostgreSQL binaries are needed (tests/pg.py)"
    cluster = pg.Cluster(bindir)
    admin = cluster.start()
    try:
        db_url = pg.Server(admin).create_database()
        server = ServerProcess(
            tmp_path / "unused.duckdb", database_url=db_url, log_path=tmp_path / "server.log"
        )
        server.start()
        probe = _Probe(server.url)
        logged: list[str] = []
        stop_logging = threading.Event()

        def host() -> None:
            next_at = time.monotonic()
            while not stop_logging.is_set():
                logged.append(client.log(prediction="a", label="b", latency_ms=3.0))
                next_at += 1.0 / RATE
                time.sleep(max(0.0, next_at - time.monotonic()))

        client = Client(server.url, model=MODEL)  # the SDK's defaults
        host_thread = threading.Thread(target=host, daemon=True)
        try:
            host_thread.start()
            probe.start()
            time.sleep(2.0)
            down_at = time.monotonic()
            cluster.stop_server("fast")
            time.sleep(DOWN_S)
            up_at = time.monotonic()
            cluster.start_server()
            time.sleep(4.0)
            stop_logging.set()
            host_thread.join(5)
            assert client.flush(60), f"the SDK did not deliver its queue: {client.stats()}"
            probe.stop.set()
            probe.join(30)
            assert server.proc is not None and server.proc.poll() is None, server.log()

            stats = client.stats()
            ids = export_ids(server.url, MODEL)
        finally:
            client.close(5)
            stop_logging.set()
            probe.stop.set()
            server.stop()
        log = server.log_path.read_text(errors="replace")
    finally:
        cluster.stop()

    # While PostgreSQL was gone: 503 + Retry-After, each within a few seconds, never a hang.
    during = [a for a in probe.answers if down_at + 0.5 < a[0] < up_at]
    assert not probe.errors, probe.errors[:5]
    slow = [a for a in probe.answers if a[4] > MAX_ANSWER_S]
    assert not slow, f"answers slower than {MAX_ANSWER_S} s: {slow[:5]}"
    posts = Counter(a[2] for a in during if a[1] == "post")
    assert posts and set(posts) == {503}, posts
    assert all(a[3] is not None and int(a[3]) >= 1 for a in during if a[1] == "post")
    assert {a[2] for a in during if a[1] == "ready"} == {503}, "readyz did not report it"
    reads = Counter(a[2] for a in during if a[1] == "read")
    assert reads and set(reads) == {503}, reads  # a clear 503, never a 500 or a hang
    assert all(a[3] is not None for a in during if a[1] == "read")
    # ... and it resumed by itself: posts succeed again soon after PostgreSQL is back.
    after = [a for a in probe.answers if a[0] > up_at and a[1] == "post" and a[2] == 200]
    assert after, "no write succeeded after PostgreSQL came back"
    resumed_s = after[0][0] - up_at
    assert resumed_s < 5.0, f"writes resumed {resumed_s:.1f} s after PostgreSQL was back"

    # Nothing the SDK logged is lost or stored twice (it retried the refused batches).
    assert stats["failed"] == 0 and stats["dropped"] == 0 and stats["rejected"] == 0, stats
    assert stats["retries"] > 0, "the outage was not noticed by the SDK"
    assert not repeated(ids), list(repeated(ids).items())[:5]
    stored = set(ids)
    assert set(logged) | set(probe.acked) <= stored
    assert stored - set(logged) <= {f"probe-{n}" for n in range(1, 10_000)}

    # One clear line when the outage began (not one per refused request), none per request.
    assert log.count("PostgreSQL is unreachable") <= 3, log[-3000:]
    assert log.count("PostgreSQL is unreachable") >= 1, log[-3000:]
    assert "write refused" not in log
    print(
        f"\nPostgreSQL down {DOWN_S:.0f} s: {sum(posts.values())} probe posts refused with 503, "
        f"slowest answer {max(a[4] for a in probe.answers):.2f} s; writes resumed "
        f"{resumed_s:.2f} s after it was back; SDK {stats}; {len(stored)} stored"
    )
