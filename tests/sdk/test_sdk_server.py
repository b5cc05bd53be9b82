"""End to end: the SDK against the real modeltower server (subprocess, real DuckDB file)."""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modeltower.sdk import Client

from .receiver import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("modeltower.cli") is None, reason="no server yet"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = Path(tmp_path_factory.mktemp("sdk-e2e")) / "mt.duckdb"
    port = free_port()
    cmd = [sys.executable, "-m", "modeltower", "serve", "--db", str(db),
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"server exited with {proc.returncode}:\n{out}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not become healthy within 60 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _metrics(url: str, model: str) -> dict[str, object]:
    resp = httpx.get(f"{url}/v1/models/{model}/metrics", params={"window": "1h"}, timeout=10)
    resp.raise_for_status()
    data: dict[str, object] = resp.json()
    return data


def test_2000_events_and_feedback_reach_the_server(server: str) -> None:
    rng = random.Random(7)
    with Client(server, model="churn", version="v3") as c:
        ids = []
        for i in range(2000):
            ids.append(c.log(
                prediction=i % 2, score=rng.random(), latency_ms=rng.uniform(1, 50),
                features={"age": rng.randint(18, 90), "plan": rng.choice("abc")},
            ))  # fmt: skip
        labeled = ids[::7]
        for eid in labeled:
            c.feedback(eid, label=rng.randint(0, 1))
        assert c.flush(30)
        s = c.stats()
        assert s["sent"] == 2000 + len(labeled)
        assert s["rejected"] == s["failed"] == s["dropped"] == s["invalid"] == 0
    m = _metrics(server, "churn")
    assert m["count"] == 2000
    assert m["labeled_count"] == len(labeled)


def test_server_422_drops_only_the_bad_event(server: str) -> None:
    with Client(server, model="partial") as c:
        for i in range(10):
            c.log(prediction=1, score=1.5 if i == 3 else 0.5)  # a score must be a probability
        assert c.flush(30)
        s = c.stats()
        assert s["rejected"] == 1 and s["sent"] == 9
    assert _metrics(server, "partial")["count"] == 9


def test_retried_ids_are_deduplicated_by_the_server(server: str) -> None:
    with Client(server, model="dedup") as c:
        for i in range(5):
            c.log(prediction=1, id=f"same-{i}")
        assert c.flush(30)
        for i in range(5):
            c.log(prediction=1, id=f"same-{i}")  # what a retry of an acknowledged batch sends
        assert c.flush(30)
        s = c.stats()  # the duplicates are acknowledged (200), not refused or failed
        assert s["sent"] == 10 and s["failed"] == s["rejected"] == 0
    assert _metrics(server, "dedup")["count"] == 5
