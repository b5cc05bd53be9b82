"""A read over query_timeout_s is cancelled in the database and answered 503 query_timeout
with Retry-After; the server keeps serving."""

from __future__ import annotations

import random
import time

import orjson
import pytest

from modeltower.config import Settings
from modeltower.store.query_timeout import QueryTimeout, Watchdog

from .conftest import MakeApi

pytestmark = pytest.mark.anyio

T0 = 1_764_000_000
N = 60_000


def _body(start: int, n: int) -> bytes:
    rng = random.Random(start)
    return orjson.dumps(
        [
            {
                "model": "m",
                "id": str(start + i),
                "timestamp": T0 + (start + i) % 86_400,
                "prediction": rng.choice("ab"),
                "label": rng.choice("ab"),
                "latency_ms": rng.random() * 100,
                "tags": {"region": rng.choice(["eu", "us", "asia"])},
            }
            for i in range(n)
        ]
    )


async def test_expensive_query_times_out_and_the_server_keeps_serving(make_api: MakeApi) -> None:
    assert Settings().query_timeout_s == 30.0
    async with make_api(max_body_bytes=64 * 1024 * 1024, memory_limit="2GB") as api:
        for start in range(0, N, 30_000):
            r = await api.client.post("/v1/events", content=_body(start, 30_000))
            assert r.status_code == 200, r.text
        params = {"start": T0, "end": T0 + 86_400, "tag.region": "eu"}
        path = "/v1/models/m/timeseries"
        # A trailing day of percentiles per minute: a day's latencies sorted 1,440 times.
        params |= {"metrics": "latency_p99,accuracy", "bucket": "1m", "rolling": "1d"}
        store = api.app.state.store
        store.query_timeout_s = 0.001  # far below what a scan of the tags of 60k events takes
        started = time.monotonic()
        r = await api.client.get(path, params=params)
        assert r.status_code == 503, r.text[:300]
        body = r.json()
        assert body["error"] == "query_timeout" and body["detail"]["timeout_s"] == 0.001
        assert "query_timeout_s" in body["detail"]["message"]
        assert int(r.headers["retry-after"]) > 0
        assert r.headers["x-content-type-options"] == "nosniff"
        assert time.monotonic() - started < 10
        # Still serving: health, and the same query once the limit allows it.
        assert (await api.client.get("/healthz")).status_code == 200
        store.query_timeout_s = 30.0
        for _ in range(6):  # every reader (4) is usable again
            m = await api.metrics("m", {"start": T0, "end": T0 + 86_400})
            assert m["count"] == N


def test_watchdog_cancels_only_blocks_past_their_deadline() -> None:
    import duckdb

    wd = Watchdog()
    con = duckdb.connect()
    cur = con.cursor()
    with wd.guard(cur.interrupt, 5.0):
        assert cur.execute("SELECT 42").fetchall() == [(42,)]
    with pytest.raises(QueryTimeout), wd.guard(cur.interrupt, 0.05):
        cur.execute("SELECT count(*) FROM range(100000000000) a").fetchall()
    time.sleep(0.1)  # a finished block's deadline passing later cancels nothing
    assert cur.execute("SELECT 1").fetchall() == [(1,)]


def test_a_deadline_that_passes_between_two_statements_is_a_timeout() -> None:
    """The cancel finds no statement running (DuckDB drops it) and the block's next statement
    runs to its end: the block still fails, as one past its deadline."""
    import duckdb

    wd = Watchdog()
    cur = duckdb.connect().cursor()
    with pytest.raises(QueryTimeout), wd.guard(cur.interrupt, 0.05):
        assert cur.execute("SELECT 1").fetchall() == [(1,)]
        time.sleep(0.2)  # the deadline passes here, between the statements
        assert cur.execute("SELECT 2").fetchall() == [(2,)]
    assert cur.execute("SELECT 3").fetchall() == [(3,)]
