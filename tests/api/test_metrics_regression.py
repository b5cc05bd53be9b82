"""Regression metrics over HTTP, checked against scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    r2_score,
)

from .conftest import Api
from .helpers import HOUR, T0, approx, window

pytestmark = pytest.mark.anyio


def _reference(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "mae": mean_absolute_error(y, p),
        "rmse": float(np.sqrt(mean_squared_error(y, p))),
        "mape": mean_absolute_percentage_error(y, p),
        "r2": r2_score(y, p),
    }


async def test_regression_metrics_match_sklearn(api: Api) -> None:
    rng = np.random.default_rng(31)
    n = 700
    y = rng.gamma(3.0, 40.0, n) + 1.0
    p = y + rng.normal(0, 12.0, n)
    events: list[dict[str, Any]] = []
    for i in range(n):
        ev: dict[str, Any] = {
            "model": "price",
            "id": f"r-{i}",
            "timestamp": T0 + i * 5,
            "prediction": float(p[i]),
            "latency_ms": 2.5,
        }
        if i % 7 != 0:  # every 7th event has no label: it must not count
            ev["label"] = float(y[i])
        events.append(ev)
    await api.events(events)
    info = (await api.client.get("/v1/models/price")).json()
    assert info["task"] == "regression"  # inferred from numeric predictions
    m = await api.metrics("price", window(T0, T0 + HOUR))
    keep = np.arange(n) % 7 != 0
    ref = _reference(y[keep], p[keep])
    assert m["classification"] is None
    assert m["labeled_count"] == int(keep.sum())
    assert m["label_coverage"] == approx(keep.sum() / n)
    assert m["regression"] == {k: approx(v) for k, v in ref.items()}


async def test_regression_integer_values_and_zero_target(api: Api) -> None:
    """Integers are numbers too; a zero target divides by eps in MAPE, as sklearn does."""
    y = np.array([0.0, 3.0, 10.0, 7.0, 2.0, 5.0])
    p = np.array([0.5, 3.0, 8.0, 9.0, 2.0, 4.0])
    events = [
        {
            "model": "cnt",
            "id": str(i),
            "timestamp": T0 + i,
            "prediction": int(pi) if pi.is_integer() else float(pi),
            "label": int(yi),
        }
        for i, (yi, pi) in enumerate(zip(y, p, strict=True))
    ]
    await api.events(events)
    m = await api.metrics("cnt", window(T0, T0 + HOUR))
    ref = _reference(y, p)
    assert m["regression"] == {k: approx(v) for k, v in ref.items()}


async def test_regression_declared_task_with_late_numeric_labels(api: Api) -> None:
    await api.put_model("eta", task="regression")
    rng = np.random.default_rng(32)
    n = 200
    y = rng.normal(30, 8, n)
    p = y + rng.normal(0, 3, n)
    await api.events(
        [
            {"model": "eta", "id": f"e{i}", "timestamp": T0 + i, "prediction": float(p[i])}
            for i in range(n)
        ]
    )
    m = await api.metrics("eta", window(T0, T0 + HOUR))
    assert m["regression"] is None and m["labeled_count"] == 0
    fb = await api.feedback(
        [{"model": "eta", "id": f"e{i}", "label": float(y[i])} for i in range(n)]
    )
    assert fb == {"accepted": n, "matched": n}
    m = await api.metrics("eta", window(T0, T0 + HOUR))
    assert m["regression"] == {k: approx(v) for k, v in _reference(y, p).items()}
