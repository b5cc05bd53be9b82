"""The evaluator's scope: every model or one, per version, filters, and retired versions."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.inprocess import Api, MakeApi

pytestmark = pytest.mark.anyio

S = 1_000_000
HOUR = 3600 * S


async def send(
    api: Api, model: str, version: str, start_us: int, n: int, accuracy: float, **extra: Any
) -> None:
    right = round(n * accuracy)
    await api.events(
        [
            {
                "model": model,
                "id": f"{model}-{version}-{start_us}-{i}",
                "version": version,
                "timestamp": (start_us + i * 1_000_000) / S,
                "prediction": "1",
                "label": "1" if i < right else "0",
                **extra,
            }
            for i in range(n)
        ]
    )


async def states(api: Api) -> dict[tuple[str, str, str | None], str]:
    body = await api.get("/v1/alerts")
    return {(a["rule"], a["model"], a["version"]): a["state"] for a in body["alerts"]}


async def test_per_version_instances_and_retired_versions(make_api: MakeApi) -> None:
    t0 = (int(time.time() * S) - 30 * HOUR) // HOUR * HOUR
    async with make_api(alert_interval_s=3600) as api:
        await api.put_model("m", task="classification", positive_label="1")
        await send(api, "m", "v1", t0, 200, accuracy=0.95)
        await send(api, "m", "v2", t0, 200, accuracy=0.5)
        rule = {
            "name": "acc",
            "model": "m",
            "per_version": True,
            "metric": "accuracy",
            "window": "1h",
            "op": "<",
            "threshold": 0.8,
            "min_samples": 20,
            "no_data": "ok",
        }
        assert (await api.client.post("/v1/alerts/rules", json=rule)).status_code == 201
        ev = api.app.state.alert_evaluator
        await ev.run_once(now_us=t0 + HOUR)
        assert await states(api) == {("acc", "m", "v1"): "ok", ("acc", "m", "v2"): "firing"}
        firing = (await api.get("/v1/alerts", state="firing"))["alerts"][0]
        assert firing["labels"]["version"] == "v2" and firing["value"] == 0.5
        # the versions went quiet: no data counts as ok here, the firing one resolves
        await ev.run_once(now_us=t0 + 2 * HOUR)
        assert await states(api) == {("acc", "m", "v1"): "ok", ("acc", "m", "v2"): "resolved"}
        # a day without events: the instances of the retired versions are dropped
        await ev.run_once(now_us=t0 + 26 * HOUR)
        assert await states(api) == {}
        history = (await api.get("/v1/alerts/history", rule="acc"))["history"]
        assert [(h["version"], h["to"]) for h in reversed(history)] == [
            ("v2", "firing"),
            ("v2", "resolved"),
        ]


async def test_every_model_one_model_and_filters(make_api: MakeApi) -> None:
    now = int(time.time() * S)
    async with make_api(alert_interval_s=3600) as api:
        for model in ("a", "b"):
            await api.put_model(model, task="classification", positive_label="1")
        await send(api, "a", "v1", now - 600 * S, 100, accuracy=0.5, group="treatment")
        await send(api, "a", "v1", now - 300 * S, 100, accuracy=1.0, group="control")
        await send(api, "b", "v1", now - 600 * S, 100, accuracy=1.0)
        base = {
            "metric": "accuracy",
            "window": "1h",
            "op": "<",
            "threshold": 0.8,
            "min_samples": 20,
        }
        rules = [
            {**base, "name": "every"},  # model "*": a (0.75 over both groups) fires, b does not
            {**base, "name": "only-b", "model": "b"},
            {**base, "name": "treatment", "model": "a", "group": "treatment"},
            {**base, "name": "control", "model": "a", "group": "control"},
            {**base, "name": "ghost", "model": "never-seen", "no_data": "alert"},
        ]
        for rule in rules:
            assert (await api.client.post("/v1/alerts/rules", json=rule)).status_code == 201
        await api.app.state.alert_evaluator.run_once(now_us=now)
        assert await states(api) == {
            ("every", "a", None): "firing",
            ("every", "b", None): "ok",
            ("only-b", "b", None): "ok",
            ("treatment", "a", None): "firing",
            ("control", "a", None): "ok",
            ("ghost", "never-seen", None): "firing",
        }
        ghost = (await api.get("/v1/alerts", rule="ghost"))["alerts"][0]
        assert "has sent no events yet" in ghost["message"]
        every = (await api.get("/v1/alerts", rule="every", model="a"))["alerts"][0]
        assert every["value"] == 0.75 and every["samples"] == 200
        # disabling a rule resolves its firing alerts and forgets them
        r = await api.client.put(
            "/v1/alerts/rules/every", json={**base, "name": "every", "enabled": False}
        )
        assert r.status_code == 200
        result = await api.app.state.alert_evaluator.run_once(now_us=now + 30 * S)
        assert ("every", "a", "resolved") in {
            (t.rule, t.model, t.to_state) for t in result.transitions
        }
        assert not [k for k in await states(api) if k[0] == "every"]
