"""The original interface, verbatim: POST /log and GET /metrics/{model_name}?hours=N."""

from __future__ import annotations

import pytest

from .conftest import Api
from .helpers import approx

pytestmark = pytest.mark.anyio

# The three curl examples of the seed, byte for byte.
SEED_BODIES = [
    '{"model_name": "sentiment-v1", "input_data": "great product", "prediction": "positive", "ground_truth": "positive", "latency_ms": 45.2}',
    '{"model_name": "sentiment-v1", "input_data": "terrible service", "prediction": "negative", "ground_truth": "negative", "latency_ms": 52.8}',
    '{"model_name": "sentiment-v1", "input_data": "okay experience", "prediction": "positive", "ground_truth": "negative", "latency_ms": 120.5}',
]


async def _log_seed(api: Api) -> None:
    for body in SEED_BODIES:
        r = await api.client.post(
            "/log", content=body, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "logged"}


async def test_seed_examples(api: Api) -> None:
    await _log_seed(api)
    r = await api.client.get("/metrics/sentiment-v1?hours=24")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "model_name": "sentiment-v1",
        "window_hours": 24,
        "total_predictions": 3,
        "accuracy": 0.6667,
        "avg_latency_ms": 72.83,
        "max_latency_ms": 120.5,
    }


async def test_seed_default_hours_and_unknown_model(api: Api) -> None:
    await _log_seed(api)
    r = await api.client.get("/metrics/sentiment-v1")
    assert r.status_code == 200 and r.json()["window_hours"] == 24
    r = await api.client.get("/metrics/classifier-v2?hours=24")
    assert r.status_code == 404
    assert r.json() == {"detail": "No predictions found for this model"}


async def test_seed_events_appear_in_v1_metrics(api: Api) -> None:
    await _log_seed(api)
    m = await api.metrics("sentiment-v1", {"window": "1h"})
    assert m["count"] == 3
    assert m["labeled_count"] == 3
    assert m["latency_ms"]["mean"] == approx((45.2 + 52.8 + 120.5) / 3)
    assert m["latency_ms"]["max"] == 120.5
    c = m["classification"]
    assert c["accuracy"] == approx(2 / 3)
    assert c["positive_label"] == "positive"  # inferred from the negative/positive pair
    assert c["confusion_matrix"] == {"labels": ["negative", "positive"], "matrix": [[1, 1], [0, 1]]}
    info = (await api.client.get("/v1/models")).json()["models"]
    assert [(x["name"], x["event_count"], x["events_24h"]) for x in info] == [
        ("sentiment-v1", 3, 3)
    ]


async def test_seed_accuracy_zero_and_without_ground_truth(api: Api) -> None:
    await api.client.post(
        "/log",
        json={
            "model_name": "wrong",
            "input_data": "x",
            "prediction": "a",
            "ground_truth": "b",
            "latency_ms": 1,
        },
    )
    await api.client.post(
        "/log",
        json={"model_name": "nolabel", "input_data": "x", "prediction": "a", "latency_ms": 1},
    )
    assert (await api.client.get("/metrics/wrong")).json()["accuracy"] == 0.0
    assert (await api.client.get("/metrics/nolabel")).json()["accuracy"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"model_name": "s", "input_data": "x", "prediction": "a"},
        {"model_name": "s", "input_data": "x", "prediction": "a", "latency_ms": -1},
        {"model_name": "s", "input_data": "x", "prediction": "a", "latency_ms": "abc"},
        {"input_data": "x", "prediction": "a", "latency_ms": 1},
    ],
    ids=["no-latency", "negative-latency", "latency-string", "no-model"],
)
async def test_seed_log_validation(api: Api, body: dict[str, object]) -> None:
    r = await api.client.post("/log", json=body)
    assert r.status_code == 422
    assert api.stored() == 0


@pytest.mark.parametrize("hours", ["0", "-1", "abc"])
async def test_seed_metrics_bad_hours(api: Api, hours: str) -> None:
    await _log_seed(api)
    r = await api.client.get(f"/metrics/sentiment-v1?hours={hours}")
    assert r.status_code == 422
