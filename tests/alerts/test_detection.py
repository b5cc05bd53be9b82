"""Detection on replayed traffic with a simulated clock.

Traffic at a steady 20 events/s (tests/alerts/traffic.py); a window reference over its first two
hours; three rules on every model, evaluated every 30 simulated seconds:

- accuracy over 1 min at least 3.5 points below the reference's, for 2 min;
- p99 latency over 1 min at least twice the reference's, for 2 min;
- the drift score (Wasserstein, normed) of feature ``x`` over 1 min above 0.15, for 2 min
  (on 1-minute windows a stationary day reaches 0.11, above Evidently's default of 0.1).

At a known moment one model's accuracy drops by 10 points, another's p99 latency triples, a
third's ``x`` shifts by 0.5 sd: exactly the matching alert fires, within two evaluation
intervals after its ``for`` period. A fourth model runs 24 stationary hours and fires nothing.
The delays are printed (``pytest -s``) and kept in docs/ALERTS.md.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.alerts.traffic import replay
from tests.inprocess import Api, MakeApi

from modeltower.services.reference import WindowSpec
from modeltower.store.base import InsertEvents

pytestmark = pytest.mark.anyio

S = 1_000_000
MIN = 60 * S
HOUR = 60 * MIN
RATE = 20.0
INTERVAL = 30 * S
FOR = 2 * MIN
REFERENCE = 2 * HOUR

RULES: list[dict[str, Any]] = [
    {
        "name": "accuracy-drop",
        "metric": "accuracy",
        "window": "1m",
        "baseline": {"source": "reference"},
        "change": "absolute",
        "op": "<",
        "threshold": -0.035,
        "for": "2m",
        "min_samples": 200,
        "severity": "critical",
    },
    {
        "name": "latency-spike",
        "metric": "latency_p99",
        "window": "1m",
        "baseline": {"source": "reference"},
        "change": "relative",
        "op": ">=",
        "threshold": 1.0,
        "for": "2m",
        "min_samples": 200,
    },
    {
        "name": "feature-shift",
        "metric": "drift_score",
        "feature": "x",
        "window": "1m",
        "op": ">",
        "threshold": 0.15,
        "for": "2m",
        "min_samples": 200,
    },
]
MATCHING = {"acc": "accuracy-drop", "lat": "latency-spike", "shift": "feature-shift"}
CHANGES = {"acc": "accuracy", "lat": "latency", "shift": "shift"}


async def _load(api: Api, model: str, start: int, end: int, seed: int, **change: Any) -> None:
    await api.put_model(model, task="classification", positive_label="1")
    for cols in replay(model, start, end, RATE, seed=seed, **change):
        await api.app.state.writer.write(InsertEvents(cols))
    refs = api.app.state.references
    await refs.set_window(
        model, WindowSpec(start_us=start, end_us=start + REFERENCE), {}, int(time.time() * S)
    )


async def _add_rules(api: Api) -> None:
    for rule in RULES:
        r = await api.client.post("/v1/alerts/rules", json=rule)
        assert r.status_code == 201, r.text


def _t0() -> int:
    # Simulated time lies in the real past, so that the reference windows have ended.
    return (int(time.time() * S) - 40 * HOUR) // HOUR * HOUR


async def test_injected_changes_fire_the_matching_alert_in_time(make_api: MakeApi) -> None:
    t0 = _t0()
    change_at = t0 + REFERENCE + 30 * MIN + 7 * S  # between two evaluations
    async with make_api(alert_interval_s=3600) as api:
        for seed, model in enumerate(CHANGES):
            await _load(
                api, model, t0, t0 + 3 * HOUR, seed, change=CHANGES[model], change_us=change_at
            )
        await _add_rules(api)
        evaluator = api.app.state.alert_evaluator
        fired: dict[tuple[str, str], int] = {}
        at = t0 + REFERENCE
        while at < t0 + 3 * HOUR:
            result = await evaluator.run_once(now_us=at)
            for t in result.transitions:
                if t.to_state == "firing":
                    fired.setdefault((t.rule, t.model), at)
            at += INTERVAL
        assert set(fired) == {(rule, model) for model, rule in MATCHING.items()}, fired
        delays = {rule: (fired[(rule, model)] - change_at) / S for model, rule in MATCHING.items()}
        print(f"\ndetection delays after the change (s): {delays}; for = {FOR / S:.0f} s")
        for rule, delay in delays.items():
            assert FOR / S <= delay <= (FOR + 2 * INTERVAL) / S, (rule, delay)
        # nothing fired before the change
        assert all(at >= change_at for at in fired.values())
        # the API tells the same story: three firing alerts, each on its own model
        body = await api.get("/v1/alerts", state="firing")
        assert sorted((a["rule"], a["model"]) for a in body["alerts"]) == sorted(
            (rule, model) for model, rule in MATCHING.items()
        )
        history = await api.get("/v1/alerts/history", rule="accuracy-drop", model="acc")
        assert [h["to"] for h in reversed(history["history"])] == ["pending", "firing"]


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_a_stationary_day_fires_nothing(make_api: MakeApi) -> None:
    t0 = _t0()
    async with make_api(alert_interval_s=3600) as api:
        await _load(api, "steady", t0, t0 + REFERENCE + 24 * HOUR, seed=11)
        await _add_rules(api)
        evaluator = api.app.state.alert_evaluator
        at = t0 + REFERENCE
        runs = 0
        worst: dict[str, float] = {}
        while at <= t0 + REFERENCE + 24 * HOUR:
            result = await evaluator.run_once(now_us=at)
            runs += 1
            assert not [t for t in result.transitions if t.to_state == "firing"], at
            for s in api.app.state.store.alert_states():
                if s.value is not None:
                    worst[s.rule] = max(worst.get(s.rule, float("-inf")), s.value)
            at += INTERVAL
        assert runs == 24 * 120 + 1
        history = await api.get("/v1/alerts/history", model="steady", limit=5000)
        assert not [h for h in history["history"] if h["to"] == "firing"]
        # every run measured something: no rule sat in "no data" (which would also fire nothing)
        states = api.app.state.store.alert_states()
        assert {s.rule for s in states} == {r["name"] for r in RULES}
        assert all(s.value is not None and s.samples and s.samples >= 1000 for s in states)
        print(f"\nstationary day: {runs} evaluations, highest values {worst}")
