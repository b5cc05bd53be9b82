"""The daily health table against an independent pandas computation, as JSON, CSV and Parquet."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest

from .conftest import Api, MakeApi
from .data import classification_events

pytestmark = pytest.mark.anyio

DAY = 86_400
# Midnight UTC, 2025-03-10: three whole days of traffic follow.
DAY0 = 1_741_564_800
COLUMNS = [
    "event_date",
    "model_version",
    "daily_accuracy",
    "avg_latency_ms",
    "p99_latency_ms",
    "daily_prediction_volume",
    "daily_revenue",
]


def traffic() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events over three UTC days and three versions (one unnamed), and feedback for some."""
    events = classification_events(
        "shop", 900, start_s=DAY0, span_s=3 * DAY, versions=("v1", "v2", None), seed=7
    )
    rng = np.random.default_rng(8)
    feedback = []
    for ev in events:
        if rng.random() < 0.3:
            fb: dict[str, Any] = {"model": "shop", "id": ev["id"]}
            if rng.random() < 0.6:
                fb["label"] = "churn" if rng.random() < 0.5 else "stay"
            fb["revenue"] = round(float(rng.uniform(0, 20)), 2)  # replaces the event's revenue
            feedback.append(fb)
    return events, feedback


def expected_table(events: list[dict[str, Any]], feedback: list[dict[str, Any]]) -> pd.DataFrame:
    """The daily table computed with pandas, straight from what was sent."""
    ev = pd.DataFrame(events)
    fb = pd.DataFrame(feedback).rename(columns={"label": "fb_label", "revenue": "fb_revenue"})
    df = ev.merge(fb.drop(columns="model"), on="id", how="left")
    df["label"] = df["fb_label"].combine_first(df["label"])
    df["revenue"] = df["fb_revenue"].combine_first(df["revenue"])
    df["event_date"] = pd.to_datetime(df["timestamp"], unit="s", utc=True).dt.strftime("%Y-%m-%d")
    df["model_version"] = df["version"].astype(object).where(df["version"].notna(), None)
    labeled = df["label"].notna() & df["prediction"].notna() & df["error"].isna()
    df["labeled"] = labeled
    df["match"] = labeled & (df["label"] == df["prediction"])
    rows = []
    for (date, version), g in df.groupby(["event_date", "model_version"], dropna=False):
        n_labeled = int(g["labeled"].sum())
        rows.append(
            {
                "event_date": date,
                "model_version": None if pd.isna(version) else version,
                "daily_accuracy": g["match"].sum() / n_labeled if n_labeled else None,
                "avg_latency_ms": g["latency_ms"].mean(),
                "p99_latency_ms": g["latency_ms"].quantile(0.99),
                "daily_prediction_volume": len(g),
                "daily_revenue": g["revenue"].sum(min_count=1),
            }
        )
    out = pd.DataFrame(rows, columns=COLUMNS)
    key = out["model_version"].fillna("")
    return out.assign(_k=key).sort_values(["event_date", "_k"]).drop(columns="_k")


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    actual = actual.reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    assert list(actual.columns) == COLUMNS
    assert len(actual) == len(expected)
    assert actual["event_date"].astype(str).tolist() == expected["event_date"].tolist()
    versions = [None if pd.isna(v) else v for v in actual["model_version"]]
    assert versions == [None if pd.isna(v) else v for v in expected["model_version"]]
    assert (
        actual["daily_prediction_volume"].tolist() == expected["daily_prediction_volume"].tolist()
    )
    for col in ("daily_accuracy", "avg_latency_ms", "p99_latency_ms", "daily_revenue"):
        got = actual[col].astype(float).to_numpy()
        want = expected[col].astype(float).to_numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True, err_msg=col)


async def _load(api: Api) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events, feedback = traffic()
    await api.events(events)
    await api.feedback(feedback)
    return events, feedback


async def test_daily_json_equals_pandas(make_api: MakeApi) -> None:
    async with make_api() as api:
        events, feedback = await _load(api)
        expected = expected_table(events, feedback)
        assert len(expected) == 9  # three days x (v1, v2, no version)
        body = await api.get("/v1/models/shop/daily", start=str(DAY0), end=str(DAY0 + 3 * DAY))
        assert_same(pd.DataFrame(body["rows"], columns=COLUMNS), expected)
        # The start is rounded down to midnight UTC: the first day is whole, not cut at noon.
        body = await api.get(
            "/v1/models/shop/daily", start=str(DAY0 + DAY // 2), end=str(DAY0 + 3 * DAY)
        )
        assert body["window"]["start"] == "2025-03-10T00:00:00Z"
        assert_same(pd.DataFrame(body["rows"], columns=COLUMNS), expected)
        v1 = await api.get(
            "/v1/models/shop/daily", start=str(DAY0), end=str(DAY0 + 3 * DAY), version="v1"
        )
        assert_same(
            pd.DataFrame(v1["rows"], columns=COLUMNS), expected[expected["model_version"] == "v1"]
        )


async def test_daily_csv_and_parquet_downloads(make_api: MakeApi) -> None:
    async with make_api() as api:
        events, feedback = await _load(api)
        expected = expected_table(events, feedback)
        params = {"start": str(DAY0), "end": str(DAY0 + 3 * DAY)}
        r = await api.client.get("/v1/models/shop/daily", params={**params, "format": "csv"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "shop-daily.csv" in r.headers["content-disposition"]
        assert_same(pd.read_csv(io.StringIO(r.text)), expected)
        r = await api.client.get("/v1/models/shop/daily", params={**params, "format": "parquet"})
        assert r.status_code == 200
        table = pd.read_parquet(io.BytesIO(r.content))
        assert str(table["daily_prediction_volume"].dtype) == "int64"
        assert_same(table, expected)


async def test_daily_default_window_is_thirty_days(make_api: MakeApi) -> None:
    async with make_api() as api:
        await api.events({"model": "m", "prediction": "a", "latency_ms": 5.0})
        body = await api.get("/v1/models/m/daily")
        assert body["window"]["start"].endswith("T00:00:00Z")
        assert 30 * 24 * 60 <= body["window"]["minutes"] < 31 * 24 * 60
        [row] = body["rows"]
        assert row["daily_prediction_volume"] == 1 and row["avg_latency_ms"] == 5.0
        assert row["daily_accuracy"] is None and row["daily_revenue"] is None
