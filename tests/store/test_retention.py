"""Retention: raw events expire, long windows keep their numbers from the rollups."""

from __future__ import annotations

import time

import pytest
from tests.alerts.traffic import replay
from tests.inprocess import MakeApi

from modeltower.jobs.retention import RetentionJob
from modeltower.store.base import InsertEvents

pytestmark = pytest.mark.anyio

S = 1_000_000
HOUR = 3600 * S
DAY = 24 * HOUR


async def test_long_windows_survive_the_expiry_of_raw_events(make_api: MakeApi) -> None:
    now = int(time.time() * S) // HOUR * HOUR
    t0 = now - 40 * DAY
    async with make_api() as api:
        await api.put_model("m", task="classification", positive_label="1")
        for cols in replay("m", t0, now, 0.02, seed=5):  # 40 days, ~69k events
            await api.app.state.writer.write(InsertEvents(cols))
        window = {"start": t0 / S, "end": now / S}
        before = await api.metrics("m", window)
        daily = {"start": t0 / S, "end": now / S, "bucket": "1d", "metrics": "count,accuracy"}
        series_before = await api.timeseries("m", daily)
        old_half_hour = {"start": (now - 35 * DAY) / S, "end": (now - 35 * DAY + HOUR / 2) / S}
        old_count = (await api.metrics("m", old_half_hour))["count"]
        assert old_count > 0

        job = RetentionJob(api.app.state.writer, raw_days=30, rollup_days=400, interval_s=3600)
        result = await job.run_once(now_us=now)
        assert (
            result.events
            == before["count"]
            - (await api.metrics("m", {"start": (now - 30 * DAY) / S, "end": now / S}))["count"]
        )
        assert result.events > 15_000

        after = await api.metrics("m", window)
        assert after["count"] == before["count"]
        assert after["classification"]["accuracy"] == before["classification"]["accuracy"]
        assert after["labeled_count"] == before["labeled_count"]
        # percentiles now come from the sketch: within its 1 % bound (plus interpolation)
        for p in ("p50", "p95", "p99"):
            assert after["latency_ms"][p] == pytest.approx(before["latency_ms"][p], rel=0.02)
        assert (await api.timeseries("m", daily))["points"] == series_before["points"]
        # a short window in the expired range is answered from the rollups as well
        assert (await api.metrics("m", old_half_hour))["count"] == old_count

        # rollups expire too, later: then the oldest days are gone for good
        await RetentionJob(
            api.app.state.writer, raw_days=30, rollup_days=35, interval_s=3600
        ).run_once(now_us=now)
        short = await api.metrics("m", window)
        recent = await api.metrics("m", {"start": (now - 35 * DAY) / S, "end": now / S})
        assert short["count"] == recent["count"] < before["count"]
    # the cut-offs survive a restart
    async with make_api(db_name="kept.duckdb") as api:
        await api.put_model("m", task="classification", positive_label="1")
        await RetentionJob(
            api.app.state.writer, raw_days=1, rollup_days=2, interval_s=60
        ).run_once()
    async with make_api(db_name="kept.duckdb") as api:
        assert api.app.state.store.rollup_policy.raw_from_us > now - 2 * DAY
