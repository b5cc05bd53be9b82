"""Volume, errors, latency percentiles, coverage; empty windows and unknown models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .conftest import Api
from .helpers import HOUR, T0, approx, window

pytestmark = pytest.mark.anyio


async def test_latency_errors_throughput_coverage(api: Api) -> None:
    rng = np.random.default_rng(41)
    n = 517
    latency = rng.lognormal(3.0, 0.6, n)
    events: list[dict[str, Any]] = []
    for i in range(n):
        ev: dict[str, Any] = {"model": "ops", "id": f"o{i}", "timestamp": T0 + 7 * i}
        if i % 9 == 4:
            ev["error"] = "TimeoutError: upstream"
        else:
            ev["prediction"] = "yes" if i % 2 else "no"
            if i % 3 != 0:
                ev["label"] = "yes" if i % 4 else "no"
        if i % 11 != 5:  # some events report no latency
            ev["latency_ms"] = float(latency[i])
        events.append(ev)
    await api.events(events)
    # 2 hours: T0 + 7 * 516 < T0 + 2h, so every event is inside.
    m = await api.metrics("ops", window(T0, T0 + 2 * HOUR))
    lat = np.array([e["latency_ms"] for e in events if "latency_ms" in e])
    errors = sum("error" in e for e in events)
    served = n - errors
    labeled = sum("label" in e and "error" not in e for e in events)
    assert m["count"] == n
    assert m["window"]["minutes"] == 120
    assert m["throughput_per_min"] == approx(n / 120)
    assert m["errors"] == errors
    assert m["error_rate"] == approx(errors / n)
    assert m["labeled_count"] == labeled
    assert m["label_coverage"] == approx(labeled / served)
    assert m["latency_ms"] == {
        "mean": approx(lat.mean()),
        "p50": approx(np.percentile(lat, 50)),
        "p90": approx(np.percentile(lat, 90)),
        "p95": approx(np.percentile(lat, 95)),
        "p99": approx(np.percentile(lat, 99)),
        "max": approx(lat.max()),
    }


async def test_throughput_uses_the_explicit_window_length(api: Api) -> None:
    await api.events(
        [{"model": "t", "prediction": "a", "timestamp": T0 + 60 * i} for i in range(30)]
    )
    m = await api.metrics("t", window(T0, T0 + 45 * 60))
    assert m["count"] == 30
    assert m["throughput_per_min"] == approx(30 / 45)
    m = await api.metrics("t", {"start": "2025-01-06T00:00:00Z", "end": "2025-01-06T00:10:00Z"})
    assert m["count"] == 10
    assert m["throughput_per_min"] == approx(1.0)


async def test_empty_window_is_zero_not_an_error(api: Api) -> None:
    await api.events(
        {
            "model": "e",
            "prediction": "a",
            "label": "a",
            "latency_ms": 3,
            "timestamp": T0,
            "group": "control",
            "converted": True,
        }
    )
    m = await api.metrics("e", window(T0 + HOUR, T0 + 2 * HOUR))
    assert m["count"] == 0
    assert m["throughput_per_min"] == 0
    assert m["errors"] == 0
    assert m["labeled_count"] == 0
    for key in (
        "error_rate",
        "latency_ms",
        "label_coverage",
        "classification",
        "regression",
        "business",
    ):
        assert m[key] is None, key


async def test_configured_model_without_events_has_empty_metrics(api: Api) -> None:
    await api.put_model("fresh", task="classification", positive_label="yes")
    m = await api.metrics("fresh", {"window": "1h"})
    assert m["count"] == 0 and m["classification"] is None


@pytest.mark.parametrize("path", ["metrics", "timeseries", ""])
async def test_unknown_model_is_404_with_a_message(api: Api, path: str) -> None:
    await api.events({"model": "known", "prediction": "a"})
    url = "/v1/models/nobody" + (f"/{path}" if path else "")
    r = await api.client.get(url)
    assert r.status_code == 404
    msg = r.json()["detail"]["message"]
    assert "nobody" in msg and "unknown model" in msg
