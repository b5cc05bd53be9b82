"""Timeseries buckets and rolling windows: every point against a reference on its own events."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error

from .conftest import Api
from .helpers import HOUR, T0, approx, iso

pytestmark = pytest.mark.anyio

S = T0 + 2 * HOUR  # window start; two hours of history before it
HOURS = 8
EMPTY = {2, 5}  # hours (relative to S) without any event
METRICS = "count,latency_p99,accuracy,f1,mae"


def _data(seed: int) -> list[dict[str, Any]]:
    """Events from S-2h to S+9h (so rolling points need history and the end cuts some off)."""
    rng = np.random.default_rng(seed)
    events: list[dict[str, Any]] = []
    for h in range(-2, HOURS + 1):
        if h in EMPTY:
            continue
        for j in range(int(rng.integers(12, 40))):
            ts = S + h * HOUR + int(rng.integers(0, HOUR))
            y = bool(rng.random() < 0.45)
            pred = y if rng.random() < 0.5 + 0.05 * (h + 2) else not y
            lat = float(rng.lognormal(2.5 + 0.1 * h, 0.5))
            c: dict[str, Any] = {
                "model": "cls",
                "id": f"c{h}-{j}",
                "timestamp": ts,
                "latency_ms": lat,
                "prediction": "churn" if pred else "stay",
                "tags": {"region": "eu" if rng.random() < 0.4 else "us"},
            }
            if j % 4 != 1:
                c["label"] = "churn" if y else "stay"
            yv = float(rng.normal(50, 10))
            r = {
                "model": "reg",
                "id": f"r{h}-{j}",
                "timestamp": ts,
                "latency_ms": lat,
                "prediction": yv + float(rng.normal(0, 2 + h)),
                "label": yv,
            }
            events += [c, r]
    return events


def _reference(events: list[dict[str, Any]]) -> dict[str, Any]:
    lat = [e["latency_ms"] for e in events]
    lab = [e for e in events if "label" in e]
    out: dict[str, Any] = {
        "count": len(events),
        "latency_p99": float(np.percentile(lat, 99)) if lat else None,
        "accuracy": None,
        "f1": None,
        "mae": None,
    }
    if lab and isinstance(lab[0]["label"], str):
        y = [e["label"] for e in lab]
        p = [e["prediction"] for e in lab]
        out["accuracy"] = accuracy_score(y, p)
        out["f1"] = f1_score(y, p, pos_label="churn", zero_division=0)
    elif lab:
        out["mae"] = mean_absolute_error([e["label"] for e in lab], [e["prediction"] for e in lab])
    return out


def _in(events: list[dict[str, Any]], model: str, lo: int, hi: int) -> list[dict[str, Any]]:
    return [e for e in events if e["model"] == model and lo <= e["timestamp"] < hi]


@pytest.fixture
async def loaded(api: Api) -> tuple[Api, list[dict[str, Any]]]:
    await api.put_model("cls", task="classification", positive_label="churn")
    events = _data(71)
    await api.events(events)
    return api, events


@pytest.mark.parametrize("model", ["cls", "reg"])
async def test_hourly_buckets(loaded: tuple[Api, list[dict[str, Any]]], model: str) -> None:
    api, events = loaded
    params = {"metrics": METRICS, "bucket": "1h", "start": str(S), "end": str(S + HOURS * HOUR)}
    ts = await api.timeseries(model, params)
    assert ts["metrics"] == METRICS.split(",")
    assert ts["bucket"] == "1h" and ts["rolling"] is None
    assert len(ts["points"]) == HOURS
    for i, point in enumerate(ts["points"]):
        lo = S + i * HOUR
        ref = _reference(_in(events, model, lo, lo + HOUR))
        assert point == {"timestamp": iso(lo), **{k: approx(v) for k, v in ref.items()}}, i
        if i in EMPTY:
            assert point == {
                "timestamp": iso(lo),
                "count": 0,
                "latency_p99": None,
                "accuracy": None,
                "f1": None,
                "mae": None,
            }


@pytest.mark.parametrize("model", ["cls", "reg"])
async def test_rolling_three_hours(loaded: tuple[Api, list[dict[str, Any]]], model: str) -> None:
    api, events = loaded
    params = {
        "metrics": METRICS,
        "bucket": "1h",
        "rolling": "3h",
        "start": str(S),
        "end": str(S + HOURS * HOUR),
    }
    ts = await api.timeseries(model, params)
    assert ts["rolling"] == "3h"
    assert len(ts["points"]) == HOURS
    for i, point in enumerate(ts["points"]):
        hi = S + (i + 1) * HOUR
        ref = _reference(_in(events, model, hi - 3 * HOUR, hi))
        assert point == {
            "timestamp": iso(S + i * HOUR),
            **{k: approx(v) for k, v in ref.items()},
        }, i


async def test_rolling_point_equals_metrics_over_the_same_range(
    loaded: tuple[Api, list[dict[str, Any]]],
) -> None:
    api, _ = loaded
    names = "count,latency_p50,latency_p90,latency_max,accuracy,precision,recall,f1_macro,roc_auc,label_coverage"
    ts = await api.timeseries(
        "cls",
        {
            "metrics": names,
            "bucket": "1h",
            "rolling": "3h",
            "start": str(S),
            "end": str(S + HOURS * HOUR),
        },
    )
    for i in (0, 3, 7):
        hi = S + (i + 1) * HOUR
        m = await api.metrics("cls", {"start": str(hi - 3 * HOUR), "end": str(hi)})
        p = ts["points"][i]
        assert p["count"] == m["count"]
        assert p["latency_p50"] == approx(m["latency_ms"]["p50"])
        assert p["latency_p90"] == approx(m["latency_ms"]["p90"])
        assert p["latency_max"] == approx(m["latency_ms"]["max"])
        assert p["label_coverage"] == approx(m["label_coverage"])
        for k in ("accuracy", "precision", "recall", "f1_macro", "roc_auc"):
            assert p[k] == approx(m["classification"][k]), (i, k)


async def test_bucket_of_a_day_and_empty_model_window(api: Api) -> None:
    await api.events({"model": "d", "prediction": "a", "timestamp": T0 + 5, "latency_ms": 1})
    ts = await api.timeseries(
        "d",
        {
            "metrics": "count,latency_p99",
            "bucket": "1d",
            "start": str(T0 - 86400 * 2),
            "end": str(T0 + 86400),
        },
    )
    assert [p["count"] for p in ts["points"]] == [0, 0, 1]
    assert [p["latency_p99"] for p in ts["points"]] == [None, None, 1.0]
    assert ts["points"][2]["timestamp"] == iso(T0)


async def test_rolling_with_a_tag_filter(loaded: tuple[Api, list[dict[str, Any]]]) -> None:
    api, events = loaded
    eu = [e for e in events if e.get("tags", {}).get("region") == "eu"]
    params = [
        ("metrics", METRICS),
        ("bucket", "1h"),
        ("rolling", "3h"),
        ("tag.region", "eu"),
        ("start", str(S)),
        ("end", str(S + HOURS * HOUR)),
    ]
    ts = await api.timeseries("cls", params)
    assert ts["filters"]["tags"] == {"region": "eu"}
    for i, point in enumerate(ts["points"]):
        hi = S + (i + 1) * HOUR
        ref = _reference(_in(eu, "cls", hi - 3 * HOUR, hi))
        assert point == {
            "timestamp": iso(S + i * HOUR),
            **{k: approx(v) for k, v in ref.items()},
        }, i
