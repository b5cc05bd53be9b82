"""Health snapshots: values equal the metrics API, the periodic job's interval and failure handling,
the seed's ``POST /snapshot/{model_name}``, bad input and the schema migration."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from modeltower.cli import build_parser
from modeltower.config import ConfigError, Settings, from_env
from modeltower.jobs.snapshots import SnapshotJob
from modeltower.store.duckdb_schema import MIGRATIONS, migrate
from modeltower.store.duckdb_store import DuckDBStore

from .conftest import MakeApi
from .data import classification_events, regression_events

pytestmark = pytest.mark.anyio

HOUR = 3600


def assert_equals_metrics(snap: dict[str, Any], m: dict[str, Any]) -> None:
    """Every snapshot value is exactly the metrics API's value."""
    cls, reg, lat = m["classification"] or {}, m["regression"] or {}, m["latency_ms"] or {}
    expected = {
        "total_predictions": m["count"],
        "labeled_count": m["labeled_count"],
        "accuracy": cls.get("accuracy"),
        "f1": cls.get("f1"),
        "mae": reg.get("mae"),
        "rmse": reg.get("rmse"),
        "latency_mean_ms": lat.get("mean"),
        "latency_p95_ms": lat.get("p95"),
        "latency_p99_ms": lat.get("p99"),
        "error_rate": m["error_rate"],
        "label_coverage": m["label_coverage"],
    }
    assert {k: snap[k] for k in expected} == expected
    assert snap["window"] == m["window"]


async def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_snapshot_endpoint_equals_metrics_api(make_api: MakeApi) -> None:
    now = int(time.time())
    async with make_api() as api:
        await api.events(classification_events("churn", 400, start_s=now - 2 * HOUR, span_s=HOUR))
        await api.feedback([{"model": "churn", "id": f"e{i}", "label": "churn"} for i in range(40)])
        window = {"start": str(now - 2 * HOUR), "end": str(now - HOUR + 1)}
        for version in (None, "v1", "v2"):
            params = {**window, **({"version": version} if version else {})}
            r = await api.client.post("/v1/models/churn/snapshots", params=params)
            assert r.status_code == 200, r.text
            snap = r.json()
            assert snap["version"] == version and snap["task"] == "classification"
            assert snap["total_predictions"] > 50 and snap["accuracy"] is not None
            assert_equals_metrics(snap, await api.get("/v1/models/churn/metrics", **params))
        listed = await api.get("/v1/models/churn/snapshots")
        assert [s["version"] for s in listed["snapshots"]] == [None, "v1", "v2"]
        only_v2 = await api.get("/v1/models/churn/snapshots", version="v2")
        assert [s["version"] for s in only_v2["snapshots"]] == ["v2"]
        # Snapshots are listed by the end of their window.
        assert (await api.get("/v1/models/churn/snapshots", end=str(now - HOUR)))["snapshots"] == []


async def test_job_run_equals_metrics_api_per_version(make_api: MakeApi) -> None:
    now = int(time.time())
    now_us = now * 1_000_000
    async with make_api() as api:
        await api.events(classification_events("churn", 300, start_s=now - HOUR + 5, span_s=HOUR))
        await api.events(regression_events("price", 120, start_s=now - HOUR + 5, span_s=HOUR))
        # Old traffic of a retired version: no snapshot of it in this hour.
        await api.events(
            classification_events(
                "churn", 20, start_s=now - 5 * HOUR, span_s=HOUR, versions=("v0",), prefix="old"
            )
        )
        job: SnapshotJob = api.app.state.snapshots
        stored = await job.run_once(now_us)
        assert {(s.model, s.version) for s in stored} == {
            ("churn", None),
            ("churn", "v1"),
            ("churn", "v2"),
            ("price", None),
        }
        window = {"start": str(now - HOUR), "end": str(now)}
        for model in ("churn", "price"):
            listed = (await api.get(f"/v1/models/{model}/snapshots"))["snapshots"]
            assert len(listed) == (3 if model == "churn" else 1)
            for snap in listed:
                params = {**window, **({"version": snap["version"]} if snap["version"] else {})}
                assert_equals_metrics(snap, await api.get(f"/v1/models/{model}/metrics", **params))
        price = (await api.get("/v1/models/price/snapshots"))["snapshots"][0]
        assert price["task"] == "regression" and price["mae"] is not None
        assert price["accuracy"] is None and price["f1"] is None


async def test_job_runs_every_interval_and_stops_with_the_app(make_api: MakeApi) -> None:
    now = int(time.time())
    started = time.monotonic()
    async with make_api(snapshot_interval_s=0.25) as api:
        job: SnapshotJob = api.app.state.snapshots
        assert job.interval_s == 0.25
        await api.events(classification_events("churn", 50, start_s=now - 600, span_s=500))
        await _wait_for(lambda: job.runs >= 5)
        # The first run comes one interval after the start, then one per interval.
        assert 0.25 * 5 <= time.monotonic() - started <= 0.25 * 5 + 3.0
        listed = (await api.get("/v1/models/churn/snapshots", version="v1"))["snapshots"]
        stamps = sorted({_epoch(s["created_at"]) for s in listed})
        assert len(stamps) >= 3  # the runs after the events arrived
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert 0.2 <= (stamps[-1] - stamps[0]) / len(gaps) <= 0.5, gaps
        assert min(gaps) > 0.05, gaps
        # Each periodic snapshot covers the last hour (the interval is shorter than that).
        assert all(s["window"]["minutes"] == 60.0 for s in listed)
        task = job.task
        assert task is not None and not task.done()
    assert task.done() and task.exception() is None


async def test_default_interval_is_one_hour_and_first_run_waits_for_it(make_api: MakeApi) -> None:
    async with make_api() as api:
        job: SnapshotJob = api.app.state.snapshots
        assert job.interval_s == 3600.0
        await asyncio.sleep(0.3)
        assert job.runs == 0


async def test_a_failing_model_is_logged_and_the_loop_goes_on(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    now = int(time.time())
    caplog.set_level(logging.ERROR, logger="modeltower.snapshots")
    async with make_api(snapshot_interval_s=0.1) as api:
        await api.events(classification_events("good", 30, start_s=now - 600, span_s=500))
        await api.events(classification_events("bad", 30, start_s=now - 600, span_s=500))
        queries = api.app.state.queries
        real_metrics = queries.metrics

        def metrics(name: str, *args: Any, **kwargs: Any) -> Any:
            if name == "bad":
                raise RuntimeError("disk on fire")
            return real_metrics(name, *args, **kwargs)

        queries.metrics = metrics  # the fault: one model's query fails on every run
        job: SnapshotJob = api.app.state.snapshots
        # count from now: on a busy machine runs may already have happened during ingestion
        first = job.runs + 1  # the run in progress may have started before the fault
        await _wait_for(lambda: job.runs >= first + 3)
        failures = [r for r in caplog.records if r.name == "modeltower.snapshots"]
        assert len(failures) >= 3 and job.failures >= 3
        for record in failures:
            assert "'bad'" in record.getMessage() and "disk on fire" in record.getMessage()
            assert record.exc_info is not None  # with its traceback, not swallowed
        good = (await api.get("/v1/models/good/snapshots"))["snapshots"]
        assert len({s["created_at"] for s in good}) >= 3
        assert (await api.get("/v1/models/bad/snapshots"))["snapshots"] == []


async def test_seed_snapshot_endpoint_schedules_the_last_hour(make_api: MakeApi) -> None:
    now = int(time.time())
    async with make_api() as api:
        events = classification_events("sentiment-v1", 60, start_s=now - 3000, span_s=2900)
        events += classification_events(
            "sentiment-v1", 5, start_s=now - 9000, span_s=100, prefix="o"
        )
        await api.events(events)
        r = await api.client.post("/snapshot/sentiment-v1")
        assert r.status_code == 200 and r.json() == {"status": "snapshot scheduled"}

        async def listed() -> list[dict[str, Any]]:
            body = await api.get("/v1/models/sentiment-v1/snapshots")
            return body["snapshots"]  # type: ignore[no-any-return]

        deadline = time.monotonic() + 10
        while not (snaps := await listed()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        overall = [s for s in snaps if s["version"] is None]
        assert len(overall) == 1
        assert overall[0]["window"]["minutes"] == 60.0
        assert overall[0]["total_predictions"] == 60  # the older events are outside the hour
        r = await api.client.post("/snapshot/never-seen")
        assert r.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "params", "field"),
    [
        ("get", "/v1/models/m/snapshots", {"start": "yesterday"}, "start"),
        ("post", "/v1/models/m/snapshots", {"window": "an hour"}, "window"),
        ("get", "/v1/models/m/daily", {"window": "1h", "start": "2026-01-01"}, "window"),
        ("get", "/v1/models/m/daily", {"start": "2030-01-02", "end": "2030-01-01"}, "start"),
    ],
)
async def test_bad_parameters_name_the_field(
    make_api: MakeApi, method: str, path: str, params: dict[str, str], field: str
) -> None:
    async with make_api() as api:
        await api.events({"model": "m", "prediction": "a"})
        r = await api.client.request(method, path, params=params)
        assert r.status_code == 422, r.text
        assert r.json()["detail"]["field"] == field


async def test_schema_validation_and_unknown_models(make_api: MakeApi) -> None:
    async with make_api() as api:
        await api.events({"model": "m", "prediction": "a"})
        r = await api.client.get("/v1/models/m/daily", params={"format": "xlsx"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "format"]
        r = await api.client.post("/v1/models/m/snapshots", params={"version": ""})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "version"]
        for method, path in (
            ("post", "/v1/models/nope/snapshots"),
            ("get", "/v1/models/nope/snapshots"),
            ("get", "/v1/models/nope/daily"),
        ):
            r = await api.client.request(method, path)
            assert r.status_code == 404, (method, path, r.text)


def test_migration_2_adds_snapshots_to_an_existing_database(tmp_path: Path) -> None:
    path = str(tmp_path / "old.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT)")
    con.execute(MIGRATIONS[0][1])
    con.execute("INSERT INTO schema_migrations VALUES (1, 0)")
    con.close()
    store = DuckDBStore(path)
    store.open()
    try:
        assert store.snapshots("m", 0, 2**62, None) == []
    finally:
        store.close()
    con = duckdb.connect(path)
    try:
        assert migrate(con) == MIGRATIONS[-1][0]  # idempotent on reopen
        rows = con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert rows == [(v,) for v, _ in MIGRATIONS] and (2,) in rows
    finally:
        con.close()


def test_interval_setting_from_cli_and_environment() -> None:
    args = build_parser().parse_args(["serve", "--snapshot-interval", "30"])
    assert args.snapshot_interval_s == 30.0
    assert from_env({"MODELTOWER_SNAPSHOT_INTERVAL_S": "90"}).snapshot_interval_s == 90.0
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="snapshot_interval_s"):
            Settings(snapshot_interval_s=bad).validate()


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
