"""The drift trend: per-hour summaries kept by the job, merged with not-yet-summarized events,
against the exact per-bucket drift of the same events."""

from __future__ import annotations

import time

import numpy as np
import pytest
from tests.inprocess import Api, MakeApi

pytestmark = pytest.mark.anyio

HOUR = 3600
# whole hours in the past, so that every bucket of the trend is complete
T0 = (int(time.time()) // HOUR - 12) * HOUR
HOURS = 8


def _events(rng: np.random.Generator, hour: int, n: int, tag: str = "eu") -> list[dict]:
    drift = max(0, hour - 3) / 4  # hours 0-3 stationary, then a growing change
    out = []
    for i in range(n):
        out.append(
            {
                "model": "m",
                "id": f"h{hour}-{tag}-{i}",
                "version": "v2" if i % 3 == 0 else "v1",
                "group": "treatment" if i % 2 else "control",
                "timestamp": T0 + hour * HOUR + (i * HOUR) // n,
                "prediction": "yes" if rng.random() < 0.4 + 0.2 * drift else "no",
                "tags": {"region": tag},
                "features": {
                    "x": float(rng.normal(drift, 1.0)),
                    "level": int(rng.integers(0, 5 + int(drift > 0.5))),
                    "color": str(rng.choice(["red", "green", "blue"], p=[0.5, 0.3, 0.2]))
                    if rng.random() > drift / 2
                    else "blue",
                    "flag": bool(rng.random() < 0.3 + 0.3 * drift),
                    "maybe": None if rng.random() < 0.05 + 0.3 * drift else 1.0,
                },
            }
        )
    return out


async def _setup(api: Api, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for h in range(HOURS):
        await api.events(_events(rng, h, 400) + _events(rng, h, 100, tag="us"))
    r = await api.client.put("/v1/models/m/reference", json={"start": T0, "end": T0 + 2 * HOUR})
    assert r.status_code == 200, r.text


async def _trend(api: Api, **params: str) -> dict:
    return await api.get(
        "/v1/models/m/drift/timeseries",
        start=str(T0),
        end=str(T0 + HOURS * HOUR),
        bucket="1h",
        **params,
    )


async def _whole(api: Api, **params: str) -> dict:
    return await api.get("/v1/models/m/drift", start=str(T0), end=str(T0 + HOURS * HOUR), **params)


async def _exact(api: Api, hour: int, **params: str) -> dict[str, dict]:
    d = await api.get(
        "/v1/models/m/drift",
        start=str(T0 + hour * HOUR),
        end=str(T0 + (hour + 1) * HOUR),
        **params,
    )
    return {c["name"]: c for c in d["columns"]}


def _check_against_exact(trend: dict, exact: list[dict[str, dict]], whole: dict) -> None:
    methods = {c["name"]: c["method"] for c in trend["columns"]}
    # the reference has 1000 rows: small-reference defaults; the same methods as /drift over
    # the whole window ("level" gains a sixth value: ks, not chi2)
    assert methods["x"] == "ks" and methods["color"] == "chi2" and methods["flag"] == "z"
    assert methods == {c["name"]: c["method"] for c in whole["columns"]}
    for col in trend["columns"]:
        for h, score in enumerate(col["scores"]):
            e = exact[h][col["name"]]
            if e["method"] != col["method"]:
                continue  # that hour alone has fewer distinct values: another default there
            if col["name"] == "x":
                # binned KS: statistic within 0.01 of the exact one; verdicts as stated in DRIFT.md
                if not 0.005 < e["score"] < 0.3:
                    assert col["drift"][h] == e["drift"], (h, score, e["score"])
            else:
                # value-keyed histograms hold the whole sample: the same score exactly
                assert score == pytest.approx(e["score"], rel=1e-9, abs=1e-12), (col["name"], h)
                assert col["drift"][h] == e["drift"]
            assert col["null_share"][h] == pytest.approx(e["current"]["null_share"], abs=1e-12)


async def test_trend_from_summaries_and_tail_matches_exact_drift(make_api: MakeApi) -> None:
    async with make_api() as api:
        await _setup(api)
        job = api.app.state.drift_job
        assert await job.run_once() == HOURS * 500 + 0  # every event summarized once
        assert await job.run_once() == 0  # and not again
        # events stored after the job ran are read from the events table (the tail)
        rng = np.random.default_rng(7)
        await api.events([{**e, "id": "late-" + e["id"]} for e in _events(rng, 6, 50)])
        trend = await _trend(api)
        assert trend["status"] == "ok" and trend["approximate"] is True
        assert len(trend["timestamps"]) == HOURS
        assert trend["count"] == [500] * 6 + [550] + [500]
        exact = [await _exact(api, h) for h in range(HOURS)]
        _check_against_exact(trend, exact, await _whole(api))
        # stationary hours do not drift, the last ones do
        assert trend["drifted"][0] == 0 and trend["drifted"][-1] >= 3
        assert trend["drift_share"][-1] == trend["drifted"][-1] / 5
        # once summarized, the same answer
        await job.run_once()
        assert (await _trend(api))["columns"] == trend["columns"]


async def test_trend_filters_version_group_and_tags(make_api: MakeApi) -> None:
    async with make_api() as api:
        await _setup(api, seed=1)
        await api.app.state.drift_job.run_once()
        for params in ({"version": "v2"}, {"group": "control"}, {"tag.region": "us"}):
            trend = await _trend(api, **params)
            exact = [await _exact(api, h, **params) for h in range(HOURS)]
            counts = [
                (
                    await api.get(
                        "/v1/models/m/drift",
                        start=str(T0 + h * HOUR),
                        end=str(T0 + (h + 1) * HOUR),
                        **params,
                    )
                )["rows"]["current"]
                for h in range(HOURS)
            ]
            assert trend["count"] == counts, params
            _check_against_exact(trend, exact, await _whole(api, **params))


async def test_trend_survives_restart_and_restarts_with_new_types(make_api: MakeApi) -> None:
    async with make_api(db_name="trend.duckdb") as api:
        await _setup(api, seed=2)
        await api.app.state.drift_job.run_once()
        before = await _trend(api)
    async with make_api(db_name="trend.duckdb") as api:
        assert await api.app.state.drift_job.run_once() == 0  # progress was stored
        assert (await _trend(api))["columns"] == before["columns"]
        # "level" as categorical: other bins, so the summaries start again
        r = await api.client.patch(
            "/v1/models/m/reference", json={"features": {"level": {"type": "categorical"}}}
        )
        assert r.status_code == 200, r.text
        assert await api.app.state.drift_job.run_once() == HOURS * 500
        after = await _trend(api)
        level = next(c for c in after["columns"] if c["name"] == "level")
        assert level["type"] == "categorical" and level["method"] == "chi2"
        exact = [await _exact(api, h) for h in range(HOURS)]
        for h, score in enumerate(level["scores"]):
            assert score == pytest.approx(exact[h]["level"]["score"], rel=1e-9)


async def test_trend_parameters_and_states(make_api: MakeApi) -> None:
    async with make_api() as api:
        await api.events(_events(np.random.default_rng(3), 0, 50))
        d = await _trend(api)
        assert d["status"] == "no_reference" and d["columns"] == []
        await _setup(api, seed=3)
        for bucket in ("30m", "90m", "soon"):
            r = await api.client.get(
                "/v1/models/m/drift/timeseries", params={"bucket": bucket, "window": "1d"}
            )
            assert r.status_code == 422 and r.json()["detail"]["field"] == "bucket", r.text
        r = await api.client.get("/v1/models/m/drift/timeseries", params={"columns": "x,nope"})
        assert r.status_code == 422 and r.json()["detail"]["field"] == "columns"
        d = await api.get("/v1/models/m/drift/timeseries", columns="x", window="1h")
        assert [c["name"] for c in d["columns"]] == ["x"] and d["status"] == "no_data"
        d = await api.get(
            "/v1/models/m/drift/timeseries", start=str(T0), end=str(T0 + 24 * HOUR), bucket="1d"
        )
        assert len(d["timestamps"]) in (1, 2) and sum(d["count"]) == HOURS * 500
