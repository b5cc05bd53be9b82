"""The timer context manager and the monitor decorator (real HTTP)."""

from __future__ import annotations

import asyncio
import time

import pytest

from .receiver import Receiver, sdk_client


def test_timer_sets_latency() -> None:
    with Receiver() as r, sdk_client(r.url) as c:
        with c.timer(tags={"route": "a"}) as t:
            time.sleep(0.02)
            eid = t.log(prediction=1, features={"x": 1})
        assert t.id == eid
        assert c.flush(5)
        (ev,) = r.accepted()
        assert ev["latency_ms"] >= 20 and ev["prediction"] == 1
        assert ev["tags"] == {"route": "a"} and ev["features"] == {"x": 1}


def test_timer_logs_the_error_and_reraises() -> None:
    with Receiver() as r, sdk_client(r.url) as c:
        with pytest.raises(ValueError, match="boom"), c.timer(features={"x": 1}):
            raise ValueError("boom")
        assert c.flush(5)
        (ev,) = r.accepted()
        assert ev["error"] == "ValueError('boom')" and ev["latency_ms"] >= 0
        assert ev["features"] == {"x": 1} and "prediction" not in ev


def test_timer_without_log_or_error_sends_nothing() -> None:
    with Receiver() as r, sdk_client(r.url) as c:
        with c.timer():
            pass
        assert c.flush(5)
        assert r.accepted() == []


def test_monitor_decorator() -> None:
    with Receiver() as r, sdk_client(r.url) as c:

        @c.monitor(features_from=lambda x, scale=1: {"x": x}, tags={"route": "b"})
        def predict(x: int, scale: int = 1) -> int:
            time.sleep(0.01)
            return x * 2 * scale

        assert predict.__name__ == "predict"
        assert predict(3) == 6
        assert c.flush(5)
        (ev,) = r.accepted()
        assert ev["prediction"] == 6 and ev["features"] == {"x": 3}
        assert ev["tags"] == {"route": "b"} and ev["latency_ms"] >= 10


def test_monitor_logs_errors_and_reraises() -> None:
    with Receiver() as r, sdk_client(r.url) as c:

        @c.monitor(prediction_from=lambda res: res["label"])
        def predict(x: int) -> dict[str, int]:
            if x < 0:
                raise KeyError("neg")
            return {"label": x}

        assert predict(1) == {"label": 1}
        with pytest.raises(KeyError):
            predict(-1)
        assert c.flush(5)
        ok, bad = r.accepted()
        assert ok["prediction"] == 1
        assert bad["error"] == "KeyError('neg')"


def test_monitor_survives_a_broken_features_from() -> None:
    with Receiver() as r, sdk_client(r.url) as c:

        @c.monitor(features_from=lambda x: 1 / 0)
        def predict(x: int) -> int:
            return x

        assert predict(5) == 5
        assert c.flush(5)
        assert r.accepted()[0]["prediction"] == 5
        assert c.stats()["invalid"] == 1


def test_monitor_async() -> None:
    with Receiver() as r, sdk_client(r.url) as c:

        @c.monitor(features_from=lambda x: {"x": x})
        async def predict(x: int) -> int:
            await asyncio.sleep(0.01)
            return x + 1

        assert asyncio.run(predict(1)) == 2
        assert c.flush(5)
        (ev,) = r.accepted()
        assert ev["prediction"] == 2 and ev["latency_ms"] >= 10
