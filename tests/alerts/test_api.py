"""The alert API on the real app in-process; notifications go over real HTTP to receivers on
127.0.0.1 that stand in for Slack, PagerDuty and a webhook."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from tests.alerts.receivers import Receiver, receiver
from tests.inprocess import Api, MakeApi

from modeltower.config import ConfigError

pytestmark = pytest.mark.anyio
__all__ = ["receiver"]

SECRET = "whsec_" + base64.b64encode(b"api-test-secret-of-32-bytes-ok!!").decode()
ROUTING_KEY = "abcdef0123456789abcdef0123456789"
RULE: dict[str, Any] = {
    "name": "churn-accuracy",
    "model": "churn & co",
    "metric": "accuracy",
    "window": "1h",
    "op": "<",
    "threshold": 0.8,
    "min_samples": 50,
    "severity": "critical",
    "labels": {"team": "R&D <ml>"},
}


async def send(
    api: Api, model: str, n: int, accuracy: float, start: int = 0, ago: float = 0.0
) -> None:
    """``n`` labeled events of the minute before ``ago`` seconds ago, right ``accuracy`` of the
    time."""
    now = time.time() - ago
    right = round(n * accuracy)
    events = [
        {
            "model": model,
            "id": f"{model}-{start + i}",
            "timestamp": now - 60 + i * 50 / n,
            "prediction": "1",
            "label": "1" if i < right else "0",
            "latency_ms": 12.5,
            "features": {"x": i % 7},
        }
        for i in range(n)
    ]
    await api.events(events)


async def channels(api: Api, rx: Receiver) -> list[str]:
    specs = {
        "slack": {"type": "slack", "url": rx.url("/slack/T000/B000/secretpath")},
        "pager": {"type": "pagerduty", "routing_key": ROUTING_KEY, "url": rx.url("/pd")},
        "hook": {"type": "webhook", "url": rx.url("/hook"), "secret": SECRET},
    }
    for name, spec in specs.items():
        r = await api.client.put(f"/v1/alerts/channels/{name}", json=spec)
        assert r.status_code == 200, r.text
    return list(specs)


async def evaluate(api: Api) -> dict[str, Any]:
    r = await api.client.post("/v1/alerts/evaluate")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def wait(rx: Receiver, count: int, path: str) -> list[Any]:
    return await asyncio.to_thread(rx.wait_for, count, path, 15.0)


async def test_rule_crud_and_clear_refusals(make_api: MakeApi) -> None:
    async with make_api() as api:
        c = api.client
        r = await c.post("/v1/alerts/rules", json=RULE)
        assert r.status_code == 201 and r.json()["source"] == "api"
        assert (await c.post("/v1/alerts/rules", json=RULE)).status_code == 409
        bad = await c.post("/v1/alerts/rules", json={**RULE, "name": "x", "window": "soon"})
        assert bad.status_code == 422
        assert bad.json()["detail"]["field"] == "window"
        bad = await c.post("/v1/alerts/rules", json={**RULE, "name": "y", "channels": ["nope"]})
        assert bad.status_code == 422 and bad.json()["detail"]["field"] == "channels"
        r = await c.put("/v1/alerts/rules/churn-accuracy", json={**RULE, "threshold": 0.7})
        assert r.status_code == 200 and r.json()["threshold"] == 0.7
        r = await c.put("/v1/alerts/rules/other", json=RULE)
        assert r.status_code == 422 and r.json()["detail"]["field"] == "name"
        r = await c.post("/v1/alerts/rules/validate", json={**RULE, "name": "z"})
        assert r.status_code == 200 and r.json()["valid"]
        rules = (await api.get("/v1/alerts/rules"))["rules"]
        assert [x["name"] for x in rules] == ["churn-accuracy"]
        assert (await c.delete("/v1/alerts/rules/churn-accuracy")).status_code == 204
        assert (await c.get("/v1/alerts/rules/churn-accuracy")).status_code == 404
        assert (await c.delete("/v1/alerts/rules/churn-accuracy")).status_code == 404
    # API rules persist across a restart
    async with make_api(db_name="keep.duckdb") as api:
        await api.client.post("/v1/alerts/rules", json=RULE)
    async with make_api(db_name="keep.duckdb") as api:
        assert [x["name"] for x in (await api.get("/v1/alerts/rules"))["rules"]] == [RULE["name"]]


async def test_rules_file_rules_are_read_only_and_a_bad_file_refuses_start(
    make_api: MakeApi, tmp_path: Path
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - {name: from-file, metric: count, window: 15m, op: '<', threshold: 1}\n",
        encoding="utf-8",
    )
    async with make_api(rules_path=str(path)) as api:
        rules = (await api.get("/v1/alerts/rules"))["rules"]
        assert [(x["name"], x["source"]) for x in rules] == [("from-file", "file")]
        r = await api.client.put("/v1/alerts/rules/from-file", json={**RULE, "name": "from-file"})
        assert r.status_code == 409 and "rules file" in r.json()["detail"]["message"]
        assert (await api.client.delete("/v1/alerts/rules/from-file")).status_code == 409
    path.write_text("rules:\n  - {name: broken, metric: count, window: 15m, op: '~'}\n")
    with pytest.raises(ConfigError, match=r"rules\[0\]\.op"):
        async with make_api(rules_path=str(path)):
            pass


async def test_channels_never_show_their_secrets(make_api: MakeApi, receiver: Receiver) -> None:
    async with make_api() as api:
        await channels(api, receiver)
        r = await api.client.get("/v1/alerts/channels")
        text = r.text
        assert "secretpath" not in text and ROUTING_KEY not in text and SECRET not in text
        assert {c["name"]: c["type"] for c in r.json()["channels"]} == {
            "hook": "webhook",
            "pager": "pagerduty",
            "slack": "slack",
        }
        bad = await api.client.put(
            "/v1/alerts/channels/x", json={"type": "slack", "url": "ftp://x"}
        )
        assert bad.status_code == 422 and bad.json()["detail"]["field"] == "url"
        await api.client.post("/v1/alerts/rules", json={**RULE, "channels": ["slack"]})
        assert (await api.client.delete("/v1/alerts/channels/slack")).status_code == 409
        assert (await api.client.delete("/v1/alerts/channels/hook")).status_code == 204


async def test_firing_and_resolved_reach_every_channel(
    make_api: MakeApi, receiver: Receiver
) -> None:
    model = RULE["model"]
    async with make_api() as api:
        await api.put_model(model, task="classification", positive_label="1")
        names = await channels(api, receiver)
        await api.client.post("/v1/alerts/rules", json={**RULE, "channels": names})
        await send(api, model, 200, accuracy=0.6)
        run = await evaluate(api)
        assert [(t["from"], t["to"]) for t in run["transitions"]] == [("ok", "firing")]
        slack = (await wait(receiver, 1, "/slack/T000/B000/secretpath"))[0].json()
        pd = (await wait(receiver, 1, "/pd"))[0].json()
        hook = (await wait(receiver, 1, "/hook"))[0]
        # Slack: escaped user text, value and threshold
        assert "churn &amp; co" in slack["text"] and "&lt;ml&gt;" in str(slack["blocks"])
        assert "0.6" in slack["text"] and "0.8" in slack["text"]
        # PagerDuty: a trigger keyed by the alert's fingerprint
        alert = (await api.get("/v1/alerts", state="firing"))["alerts"][0]
        assert pd["event_action"] == "trigger" and pd["dedup_key"] == alert["fingerprint"]
        assert pd["routing_key"] == ROUTING_KEY and pd["payload"]["severity"] == "critical"
        # webhook: signed the Standard Webhooks way, with labels, value, threshold and a link
        body = Webhook(SECRET).verify(hook.body, hook.headers)
        data = body["data"]
        assert data["labels"]["team"] == "R&D <ml>" and data["value"] == 0.6
        assert data["threshold"] == 0.8 and data["dashboard_url"].endswith(
            "/models/churn%20%26%20co"
        )
        # the model recovers: one resolved notification each, PagerDuty closes the same incident
        await send(api, model, 1000, accuracy=1.0, start=1000)
        run = await evaluate(api)
        assert [(t["from"], t["to"]) for t in run["transitions"]] == [("firing", "resolved")]
        assert (
            "resolved"
            in (await wait(receiver, 2, "/slack/T000/B000/secretpath"))[1].json()["text"].lower()
        )
        resolve = (await wait(receiver, 2, "/pd"))[1].json()
        assert resolve["event_action"] == "resolve" and resolve["dedup_key"] == pd["dedup_key"]
        hook2 = (await wait(receiver, 2, "/hook"))[1]
        assert Webhook(SECRET).verify(hook2.body, hook2.headers)["type"] == "alert.resolved"
        # one notification per change: evaluating again sends nothing more
        await evaluate(api)
        await asyncio.sleep(0.3)
        assert len(receiver.requests()) == 6
        history = (await api.get("/v1/alerts/history", model=model))["history"]
        assert [(h["from"], h["to"]) for h in history] == [("firing", "resolved"), ("ok", "firing")]
        deliveries = (await api.get("/v1/alerts/deliveries"))["deliveries"]
        assert len(deliveries) == 6 and {d["outcome"] for d in deliveries} == {"delivered"}
        outbox = (await api.get("/v1/alerts/notifications"))["notifications"]
        assert sorted(n["kind"] for n in outbox) == ["firing"] * 3 + ["resolved"] * 3


async def test_silence_mutes_then_releases(make_api: MakeApi, receiver: Receiver) -> None:
    model = RULE["model"]
    async with make_api() as api:
        await api.put_model(model, task="classification", positive_label="1")
        await channels(api, receiver)
        await api.client.post("/v1/alerts/rules", json={**RULE, "channels": ["hook"]})
        r = await api.client.post(
            "/v1/alerts/silences",
            json={"matchers": ["alertname=churn-accuracy", "severity=~crit.*"], "duration": "1h"},
        )
        assert r.status_code == 201, r.text
        silence = r.json()
        assert silence["status"] == "active"
        await send(api, model, 200, accuracy=0.5)
        await evaluate(api)
        alert = (await api.get("/v1/alerts", state="firing"))["alerts"][0]
        assert alert["silenced"] is True
        await asyncio.sleep(0.5)
        assert receiver.requests("/hook") == []  # muted
        r = await api.client.delete(f"/v1/alerts/silences/{silence['id']}")
        assert r.status_code == 200 and r.json()["status"] == "expired"
        await evaluate(api)  # still firing, no longer muted: the firing notification goes now
        got = await wait(receiver, 1, "/hook")
        assert Webhook(SECRET).verify(got[0].body, got[0].headers)["data"]["kind"] == "firing"
        bad = await api.client.post(
            "/v1/alerts/silences", json={"matchers": ["model"], "duration": "1h"}
        )
        assert bad.status_code == 422 and bad.json()["detail"]["field"] == "matchers[0]"


async def test_reminder_while_firing_and_resolve_on_delete(
    make_api: MakeApi, receiver: Receiver
) -> None:
    model = RULE["model"]
    async with make_api() as api:
        await api.put_model(model, task="classification", positive_label="1")
        await channels(api, receiver)
        spec = {**RULE, "channels": ["pager"], "repeat_interval": "2m"}
        await api.client.post("/v1/alerts/rules", json=spec)
        await send(api, model, 200, accuracy=0.5, ago=300)
        ev = api.app.state.alert_evaluator
        # simulated evaluation times up to now (the outbox sends what is due by the real clock)
        now = int(time.time() * 1_000_000)
        await ev.run_once(now_us=now - 130_000_000)
        await ev.run_once(now_us=now - 70_000_000)  # within the repeat interval: nothing
        await ev.run_once(now_us=now)  # a reminder
        got = await wait(receiver, 2, "/pd")
        assert [g.json()["event_action"] for g in got] == ["trigger", "trigger"]
        assert got[0].json()["dedup_key"] == got[1].json()["dedup_key"]
        # deleting the rule resolves its firing alert on the rule's channels
        assert (await api.client.delete(f"/v1/alerts/rules/{RULE['name']}")).status_code == 204
        got = await wait(receiver, 3, "/pd")
        assert got[2].json()["event_action"] == "resolve"
        assert (await api.get("/v1/alerts"))["alerts"] == []


async def test_permanent_failure_is_shown_and_not_retried(
    make_api: MakeApi, receiver: Receiver
) -> None:
    model = RULE["model"]
    receiver.script("/hook", [], default=(400, {}, b"bad payload"))
    async with make_api() as api:
        await api.put_model(model, task="classification", positive_label="1")
        await channels(api, receiver)
        await api.client.post("/v1/alerts/rules", json={**RULE, "channels": ["hook"]})
        await send(api, model, 100, accuracy=0.5)
        await evaluate(api)
        await wait(receiver, 1, "/hook")
        for _ in range(100):
            failed = (await api.get("/v1/alerts/notifications", status="failed"))["notifications"]
            if failed:
                break
            await asyncio.sleep(0.05)
        assert len(failed) == 1 and "400" in failed[0]["last_error"]
        attempts = (await api.get("/v1/alerts/deliveries", outcome="failed"))["deliveries"]
        assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 400)]
        await asyncio.sleep(1.2)  # past the first backoff: still one request only
        assert len(receiver.requests("/hook")) == 1


async def test_test_notification_and_presets(make_api: MakeApi, receiver: Receiver) -> None:
    async with make_api() as api:
        await channels(api, receiver)
        r = await api.client.post("/v1/alerts/channels/slack/test")
        assert r.status_code == 200, r.text
        assert r.json()["notification"]["status"] == "delivered"
        assert r.json()["attempts"][0]["status_code"] == 200
        assert (
            "Test notification"
            in (await wait(receiver, 1, "/slack/T000/B000/secretpath"))[0].json()["text"]
        )
        assert (await api.client.post("/v1/alerts/channels/none/test")).status_code == 404
        # presets: one step per model, named after it, replaced when switched on again
        await api.put_model("clf", task="classification", positive_label="1")
        await api.put_model("reg", task="regression")
        await send(api, "clf", 10, accuracy=1.0)
        presets = (await api.get("/v1/alerts/presets"))["presets"]
        assert {p["name"] for p in presets} == {
            "accuracy_drop",
            "latency_p99_spike",
            "error_rate_rise",
            "no_data",
            "dataset_drift",
        }
        r = await api.client.post("/v1/models/clf/alerts/presets", json={"channels": ["slack"]})
        assert r.status_code == 200, r.text
        made = {x["name"]: x for x in r.json()["rules"]}
        assert set(made) == {f"clf:{p['name']}" for p in presets}
        assert made["clf:accuracy_drop"]["metric"] == "accuracy"
        assert made["clf:accuracy_drop"]["channels"] == ["slack"]
        r = await api.client.post(
            "/v1/models/reg/alerts/presets", json={"presets": ["accuracy_drop"]}
        )
        assert r.json()["rules"][0]["metric"] == "mae"
        await api.client.post("/v1/models/clf/alerts/presets", json={})
        assert len((await api.get("/v1/alerts/rules"))["rules"]) == 6
        bad = await api.client.post("/v1/models/clf/alerts/presets", json={"presets": ["nope"]})
        assert bad.status_code == 422 and bad.json()["detail"]["field"] == "presets"
        assert (
            await api.client.post("/v1/models/ghost/alerts/presets", json={})
        ).status_code == 404


async def test_no_data_outcome_and_min_samples(make_api: MakeApi) -> None:
    async with make_api() as api:
        await api.put_model("m", task="classification", positive_label="1")
        await send(api, "m", 10, accuracy=0.0)  # 10 labels, below min_samples 50
        for name, no_data in (("keep", "keep"), ("alert", "alert")):
            await api.client.post(
                "/v1/alerts/rules", json={**RULE, "name": name, "model": "m", "no_data": no_data}
            )
        await evaluate(api)
        alerts = {a["rule"]: a for a in (await api.get("/v1/alerts"))["alerts"]}
        assert alerts["keep"]["state"] == "ok" and alerts["alert"]["state"] == "firing"
        assert "fewer than min_samples 50" in alerts["keep"]["message"]
        assert alerts["alert"]["value"] is None


async def test_prometheus_exposes_alerts(make_api: MakeApi) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    async with make_api() as api:
        await api.put_model("quiet", task="classification")
        await api.put_model("busy", task="classification")
        await send(api, "busy", 5, accuracy=1.0)
        rule = {"name": "silent", "metric": "count", "window": "15m", "op": "<", "threshold": 1}
        await api.client.post("/v1/alerts/rules", json={**rule, "severity": "critical"})
        await evaluate(api)
        text = (await api.client.get("/metrics")).text
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
            if s.name.startswith("modeltower_alert")
        }
        firing = (
            "modeltower_alert_firing",
            (
                ("alertname", "silent"),
                ("model", "quiet"),
                ("severity", "critical"),
                ("version", ""),
            ),
        )
        assert samples[firing] == 1.0
        assert (
            samples[("modeltower_alerts", (("severity", "critical"), ("state", "firing")))] == 1.0
        )
        assert samples[("modeltower_alerts", (("severity", "critical"), ("state", "ok")))] == 1.0
        assert not [
            k for k in samples if k[0] == "modeltower_alert_firing" and ("model", "busy") in k[1]
        ]
