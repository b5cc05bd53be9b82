"""GET /v1/models: every model with its versions, first/last seen and events in the last 24 h."""

from __future__ import annotations

import time

import pytest

from .conftest import Api, MakeApi
from .helpers import HOUR, T0, iso, window

pytestmark = pytest.mark.anyio


async def test_list_models(api: Api) -> None:
    now = int(time.time())
    old, recent = now - 72 * HOUR, now - 2 * HOUR
    await api.events(
        [
            {"model": "churn", "version": "v1", "timestamp": old, "prediction": "a"},
            {"model": "churn", "version": "v1", "timestamp": old + HOUR, "prediction": "a"},
            {"model": "churn", "version": "v2", "timestamp": recent, "prediction": "a"},
            {"model": "churn", "version": "v2", "timestamp": recent + 60, "prediction": "b"},
            {"model": "churn", "version": "v2", "timestamp": now - 30, "prediction": "b"},
            {"model": "price", "timestamp": old, "prediction": 1.5},
        ]
    )
    await api.put_model("later", task="regression")
    body = (await api.client.get("/v1/models")).json()
    models = {m["name"]: m for m in body["models"]}
    assert [m["name"] for m in body["models"]] == ["churn", "later", "price"]

    churn = models["churn"]
    assert churn["event_count"] == 5
    assert churn["events_24h"] == 3
    assert churn["first_seen"] == iso(old) and churn["last_seen"] == iso(now - 30)
    assert churn["task"] == "classification" and churn["task_declared"] is None
    assert churn["versions"] == [
        {"version": "v1", "first_seen": iso(old), "last_seen": iso(old + HOUR), "event_count": 2},
        {"version": "v2", "first_seen": iso(recent), "last_seen": iso(now - 30), "event_count": 3},
    ]

    price = models["price"]
    assert (price["event_count"], price["events_24h"], price["task"]) == (1, 0, "regression")
    assert price["versions"] == [
        {"version": None, "first_seen": iso(old), "last_seen": iso(old), "event_count": 1}
    ]

    later = models["later"]
    assert later["event_count"] == 0 and later["events_24h"] == 0 and later["versions"] == []
    assert later["first_seen"] is None and later["task_declared"] == "regression"


async def test_put_model_is_echoed_and_replaces(api: Api) -> None:
    info = await api.put_model("churn", task="classification", positive_label="churn")
    assert (info["task"], info["task_declared"], info["positive_label"]) == (
        "classification",
        "classification",
        "churn",
    )
    info = await api.put_model("churn", task="regression")
    assert (info["task"], info["positive_label"]) == ("regression", None)
    assert (await api.client.get("/v1/models/churn")).json() == info


async def test_list_is_empty_at_first(api: Api) -> None:
    assert (await api.client.get("/v1/models")).json() == {"models": []}


async def test_everything_survives_a_restart(make_api: MakeApi) -> None:
    """Events, feedback and settings are durable; the registry is rebuilt on open."""
    events = [
        {
            "model": "churn",
            "id": str(i),
            "version": f"v{i % 2}",
            "timestamp": T0 + i,
            "prediction": "churn" if i % 3 else "stay",
            "latency_ms": float(i),
        }
        for i in range(30)
    ]
    async with make_api(db_name="restart.duckdb") as api:
        await api.put_model("churn", task="classification", positive_label="churn")
        await api.events(events)
        await api.feedback([{"model": "churn", "id": str(i), "label": "churn"} for i in range(10)])
        before = await api.metrics("churn", window(T0, T0 + HOUR))
        models_before = (await api.client.get("/v1/models")).json()
    async with make_api(db_name="restart.duckdb") as api:
        assert await api.metrics("churn", window(T0, T0 + HOUR)) == before
        assert (await api.client.get("/v1/models")).json() == models_before
        again = await api.events(events[:5])
        assert again["duplicates"] == 5
        assert api.stored() == 30
    assert before["labeled_count"] == 10
    assert before["classification"]["positive_label"] == "churn"
