"""Decode workers (ingest/decoding.py): a body decoded in a worker process gives the same columns
and the same refusals as one decoded in the server; a dead worker fails no request; a worker
does not outlive a killed server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import orjson
import pytest

from modeltower.ingest.decoding import DecodePool, TooManyEvents, auto_workers, body_to_columns
from modeltower.ingest.limits import Limits
from modeltower.ingest.schema import BatchInvalid, MalformedBody

pytestmark = pytest.mark.anyio

T0 = 1_760_000_000.0


def _event(i: int, **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "model": "churn",
        "version": f"v{i % 3}",
        "id": f"e{i}",
        "timestamp": T0 + i,
        "prediction": ["stay", 1, 2.5, True][i % 4],
        "score": {"a": 0.25, "b": 0.75} if i % 5 == 0 else (i % 100) / 100,
        "label": "stay" if i % 2 else None,
        "latency_ms": 10.0 + i % 7,
        "features": {"tenure": i % 40, "plan": ["a", "b", None][i % 3], "x": i / 7},
        "tags": {"region": ["eu", "us"][i % 2]},
        "group": "control" if i % 2 else "treatment",
    }
    ev.update(extra)
    return ev


def _body(events: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(events)


@pytest.fixture
def pool() -> Any:
    p = DecodePool(Limits(), 5_000, workers=1, min_bytes=1)
    yield p
    p.close()


def _worker_pids(p: DecodePool) -> list[int]:
    assert p._pool is not None
    return list(p._pool._processes)  # the pool's own record of its processes


async def test_worker_columns_equal_those_decoded_here(pool: DecodePool) -> None:
    events = [_event(i) for i in range(2_000)]
    body = _body(events)
    got = await pool.columns(body, ndjson=False)
    assert _worker_pids(pool), "the body went to a worker"
    assert got == body_to_columns(body, False, Limits(), 5_000, 0)
    assert len(got) == 2_000 and got.id[1999] == "e1999" and got.ts[3] == (T0 + 3) * 1e6
    ndjson = b"\n".join(orjson.dumps(e) for e in events[:300])
    assert await pool.columns(ndjson, ndjson=True) == body_to_columns(
        ndjson, True, Limits(), 5_000, 0
    )


async def test_time_received_is_the_servers(pool: DecodePool) -> None:
    before = time.time() * 1e6
    cols = await pool.columns(_body([{"model": "m", "prediction": "a"}] * 3), ndjson=False)
    assert all(before <= ts <= time.time() * 1e6 for ts in cols.ts)


async def test_refusals_from_a_worker_name_the_same_events_and_fields(pool: DecodePool) -> None:
    events = [_event(i) for i in range(1_000)]
    events[250]["latency_ms"] = -1
    events[700]["model"] = "a/b"
    del events[900]["prediction"]
    body = _body(events)
    with pytest.raises(BatchInvalid) as in_worker:
        await pool.columns(body, ndjson=False)
    with pytest.raises(BatchInvalid) as here:
        body_to_columns(body, False, Limits(), 5_000, 0)
    assert in_worker.value.errors == here.value.errors
    assert {(e.index, e.field) for e in in_worker.value.errors} >= {
        (250, "latency_ms"),
        (900, "prediction"),
    }
    names = [_event(i) for i in range(1_000)]
    names[640]["model"] = "a/b"
    with pytest.raises(BatchInvalid) as bad_name:
        await pool.columns(_body(names), ndjson=False)
    assert [(e.index, e.field) for e in bad_name.value.errors] == [(640, "model")]
    long_key = [_event(i) for i in range(500)]
    long_key[321]["features"] = {"k" * 300: 1}
    with pytest.raises(BatchInvalid) as key:
        await pool.columns(_body(long_key), ndjson=False)
    assert [(e.index, e.field, e.limit) for e in key.value.errors] == [(321, "features[key]", 256)]
    with pytest.raises(MalformedBody) as malformed:
        await pool.columns(body[:-10], ndjson=False)
    assert "truncated" in str(malformed.value)
    with pytest.raises(TooManyEvents) as many:
        await pool.columns(_body([_event(i) for i in range(5_001)]), ndjson=False)
    assert (many.value.count, many.value.limit) == (5_001, 5_000)


async def test_small_bodies_and_zero_workers_stay_in_the_server() -> None:
    body = _body([_event(i) for i in range(50)])
    small = DecodePool(Limits(), 5_000, workers=1)  # the default threshold: 64 KiB
    none = DecodePool(Limits(), 5_000, workers=0, min_bytes=1)
    try:
        assert len(body) < small.min_bytes
        assert len(await small.columns(body, ndjson=False)) == 50
        big = _body([_event(i) for i in range(1_000)])
        assert len(await none.columns(big, ndjson=False)) == 1_000
        assert small._pool is None and none._pool is None, "no process was started"
    finally:
        small.close()
        none.close()


async def test_a_killed_worker_fails_no_request(pool: DecodePool) -> None:
    body = _body([_event(i) for i in range(1_000)])
    assert len(await pool.columns(body, ndjson=False)) == 1_000
    (pid,) = _worker_pids(pool)
    os.kill(pid, signal.SIGKILL)
    for _ in range(3):  # the first of these may meet the broken pool: decoded in the server
        assert len(await pool.columns(body, ndjson=False)) == 1_000
    assert pool.restarts == 1
    (new_pid,) = _worker_pids(pool)
    assert new_pid != pid


def test_workers_leave_with_a_killed_server(tmp_path: Any) -> None:
    script = textwrap.dedent(
        """
        import asyncio, os, sys
        from modeltower.ingest.decoding import DecodePool
        from modeltower.ingest.limits import Limits

        pool = DecodePool(Limits(), 100, workers=1, min_bytes=1)
        asyncio.run(pool.columns(b'{"model": "m", "prediction": "a"}', ndjson=False))
        print(*pool._pool._processes, flush=True)
        os.kill(os.getpid(), 9)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == -signal.SIGKILL, out.stderr
    (pid,) = map(int, out.stdout.split())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the decode worker outlived its server"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_auto_workers() -> None:
    assert [auto_workers(n) for n in (1, 2, 3, 4, 16)] == [0, 0, 1, 2, 2]


def test_ingest_workers_setting() -> None:
    from modeltower.cli import build_parser
    from modeltower.config import ConfigError, Settings, from_env

    assert Settings().ingest_workers is None  # auto_workers()
    assert from_env({"MODELTOWER_INGEST_WORKERS": "0"}).ingest_workers == 0
    assert build_parser().parse_args(["serve", "--ingest-workers", "2"]).ingest_workers == 2
    with pytest.raises(ConfigError, match="ingest_workers"):
        Settings(ingest_workers=-1).validate()
