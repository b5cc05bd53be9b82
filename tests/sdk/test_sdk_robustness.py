"""Nothing raises into the caller, the queue is bounded, and exit flushes (real HTTP)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from datetime import datetime
from typing import Any

import numpy as np

from modeltower.sdk import Client

from .receiver import Receiver, free_port, sdk_client


class Weird:
    def __repr__(self) -> str:
        return "<weird>"


class EvilDict(dict[str, Any]):
    def items(self) -> Any:
        raise RuntimeError("no items for you")


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("cannot str")


def test_bounded_queue_drops_oldest_and_counts() -> None:
    with Receiver() as r, sdk_client(r.url, max_queue=10, flush_interval=60) as c:
        for i in range(25):
            c.log(prediction=i, id=f"e{i}")
        assert c.stats()["dropped"] == 15 and c.stats()["queued"] == 10
        assert c.flush(5)
        assert [e["id"] for e in r.accepted()] == [f"e{i}" for i in range(15, 25)]
        assert c.stats()["sent"] == 10 and c.stats()["queued"] == 0


def test_log_never_raises_on_bad_input() -> None:
    calls: list[dict[str, Any]] = [
        {"prediction": Weird()},
        {"prediction": 1, "features": {"obj": Weird(), 7: np.float32(2.5), "arr": np.arange(3),
                                       "big": 2**80, "nan": float("nan"), "np": np.int64(4)}},
        {"prediction": 1, "features": 5},
        {"prediction": 1, "features": EvilDict(a=1)},
        {"prediction": 1, "tags": {"a": Weird()}},
        {"prediction": 1, "score": "high"},
        {"prediction": 1, "latency_ms": -1},
        {"prediction": 1, "latency_ms": float("nan")},
        {"prediction": 1, "timestamp": Weird()},
        {"prediction": 1, "id": Unprintable()},
        {"prediction": 1, "bogus": 1},
        {"prediction": 2**80},
        {"prediction": np.float64(0.5), "label": np.bool_(True), "converted": "yes"},
        {"prediction": 1, "timestamp": datetime(2024, 1, 2, 3, 4, 5)},
        {"prediction": 1, "revenue": Unprintable(), "error": Unprintable()},
    ]  # fmt: skip
    with Receiver() as r, sdk_client(r.url) as c:
        for kw in calls:
            assert isinstance(c.log(**kw), str)
        assert isinstance(c.log(1, 2, 3), str)  # stray positional arguments
        c.feedback(Unprintable(), label=1)
        c.feedback("x", label=Weird())
        assert c.flush(5)
        s = c.stats()
        assert s["invalid"] >= 10 and s["rejected"] == 0
        got = {e["id"]: e for e in r.accepted()}
        feats = next(e["features"] for e in got.values() if "obj" in e.get("features", {}))
        assert feats == {"obj": "<weird>", "7": 2.5, "arr": "[0 1 2]", "big": str(2**80),
                         "nan": None, "np": 4}  # fmt: skip
        assert any(e.get("prediction") == 0.5 and e.get("label") is True for e in got.values())
        assert any(e.get("timestamp") == "2024-01-02T03:04:05+00:00" for e in got.values())
        assert not any("latency_ms" in e for e in got.values())  # -1 and NaN were dropped


def test_log_never_raises_when_receiver_is_down() -> None:
    with sdk_client(f"http://127.0.0.1:{free_port()}", max_retries=1) as c:
        for i in range(100):
            c.log(prediction=i)
            c.feedback(str(i), label=1)
        assert c.flush(5)
        assert c.stats()["failed"] == 200


def test_bad_url_does_not_raise() -> None:
    for url in ("not a url", "ftp://example", ""):
        c = Client(url, model="m", max_retries=1, backoff_base=0.01)
        assert isinstance(c.log(prediction=1), str)
        assert c.flush(5)
        assert c.close(1)
        assert c.stats()["failed"] == 1


def test_concurrent_loggers() -> None:
    with Receiver() as r, sdk_client(r.url, batch_size=100) as c:

        def work() -> None:
            for i in range(2000):
                c.log(prediction=i)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert c.flush(10)
        ids = [e["id"] for e in r.accepted()]
        assert len(ids) == 8000 == len(set(ids))


def test_stats_keys() -> None:
    c = Client("http://127.0.0.1:9", model="m")
    assert set(c.stats()) >= {"sent", "dropped", "rejected", "retries", "queued"}
    c.close(0.1)


def test_interpreter_exit_flushes() -> None:
    with Receiver() as r:
        code = textwrap.dedent(f"""
            from modeltower.sdk import Client
            c = Client({r.url!r}, model="m", flush_interval=60)
            for i in range(10):
                c.log(prediction=i, id=f"x{{i}}")
        """)
        subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
        assert [e["id"] for e in r.accepted()] == [f"x{i}" for i in range(10)]


def test_interpreter_exit_is_bounded_when_server_is_down() -> None:
    code = textwrap.dedent(f"""
        from modeltower.sdk import Client
        c = Client("http://127.0.0.1:{free_port()}", model="m", exit_timeout=1.0)
        c.log(prediction=1)
    """)
    done = subprocess.run([sys.executable, "-c", code], timeout=30)
    assert done.returncode == 0  # and it returned: the subprocess timeout would raise
