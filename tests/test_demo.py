"""Tests for the synthetic demo traffic (modeltower.demo)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest

from modeltower.demo import DEMO_MODEL_SETTINGS, DEMO_MODELS, run_demo

START = 1_700_000_000.0


class Collector:
    """In-memory stand-in for the server's submit functions."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.feedback: list[dict[str, Any]] = []
        self.feedback_before_event: list[str] = []
        self.seen: set[str] = set()
        self.event_batches: list[int] = []

    async def submit_events(self, batch: list[dict[str, Any]]) -> object:
        self.event_batches.append(len(batch))
        self.events.extend(batch)
        self.seen.update(e["id"] for e in batch)
        return None

    async def submit_feedback(self, batch: list[dict[str, Any]]) -> object:
        self.feedback_before_event += [f["id"] for f in batch if f["id"] not in self.seen]
        self.feedback.extend(batch)
        return None


async def _run(
    col: Collector, live_s: float, **kwargs: Any
) -> tuple[float, float]:  # (start wall time, seconds from stop to return)
    stop = asyncio.Event()
    started = time.time()
    task = asyncio.create_task(run_demo(col.submit_events, col.submit_feedback, stop, **kwargs))
    await asyncio.sleep(live_s)
    stop.set()
    t0 = time.perf_counter()
    await asyncio.wait_for(task, timeout=5)
    return started, time.perf_counter() - t0


@pytest.fixture(scope="module")
def demo_run() -> tuple[Collector, float, float]:
    """A 2 h backfill followed by ~1.5 s of fast live traffic with short label delays."""
    col = Collector()
    started, stop_latency = asyncio.run(
        _run(
            col,
            1.5,
            seed=7,
            backfill_hours=2.0,
            rate_per_s=100.0,
            label_delay_s=(0.05, 0.2),
            backfill_rate_per_s=1.0,
        )
    )
    return col, started, stop_latency


def _labels(col: Collector) -> dict[str, Any]:
    """Ground truth per event id, inline or from feedback (feedback wins, like the server)."""
    out = {e["id"]: e["label"] for e in col.events if "label" in e}
    out.update({f["id"]: f["label"] for f in col.feedback if "label" in f})
    return out


def _quarters(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ts = np.array([e["timestamp"] for e in events])
    lo, hi = ts.min(), ts.max()
    q = (hi - lo) / 4
    return [e for e in events if e["timestamp"] < lo + q], [
        e for e in events if e["timestamp"] > hi - q
    ]


def test_settings_cover_models() -> None:
    assert set(DEMO_MODELS) == {"churn-classifier", "intent-classifier", "price-regressor"}
    assert DEMO_MODEL_SETTINGS["churn-classifier"]["positive_label"] == "churn"
    assert DEMO_MODEL_SETTINGS["price-regressor"]["task"] == "regression"


def test_models_ids_and_feedback(demo_run: tuple[Collector, float, float]) -> None:
    col, started, _ = demo_run
    assert {e["model"] for e in col.events} == set(DEMO_MODELS)
    ids = [e["id"] for e in col.events]
    assert len(ids) == len(set(ids))
    assert all(
        isinstance(i, str) and i.startswith(e["model"])
        for i, e in zip(ids, col.events, strict=True)
    )
    # Backfill went out in batches of about 1000 events.
    assert max(col.event_batches) <= 1000
    assert col.event_batches[0] == 1000
    # History covers ~2 h before the start; live events exist after it.
    ts = np.array([e["timestamp"] for e in col.events])
    assert ts.min() < started - 1.9 * 3600
    assert (ts > started).sum() > 100
    # Feedback refers to emitted events, is never sent before its event, and is not duplicated.
    assert col.feedback
    fb_ids = [f["id"] for f in col.feedback]
    assert set(fb_ids) <= set(ids)
    assert len(fb_ids) == len(set(fb_ids))
    assert col.feedback_before_event == []
    by_id = {e["id"]: e for e in col.events}
    assert all(by_id[f["id"]]["model"] == f["model"] for f in col.feedback)
    # Old history carries its labels inline already.
    old = [e for e in col.events if e["timestamp"] < started - 3600 and "error" not in e]
    assert old and all("label" in e for e in old)


def test_stop_is_prompt(demo_run: tuple[Collector, float, float]) -> None:
    assert demo_run[2] < 1.0


def test_churn_degrades(demo_run: tuple[Collector, float, float]) -> None:
    col, started, _ = demo_run
    labels = _labels(col)
    churn = [
        e
        for e in col.events
        if e["model"] == "churn-classifier" and e["timestamp"] < started and "error" not in e
    ]
    early, late = _quarters(churn)

    def acc(evs: list[dict[str, Any]]) -> float:
        return float(np.mean([e["prediction"] == labels[e["id"]] for e in evs]))

    assert acc(early) > 0.82
    assert acc(early) - acc(late) >= 0.1

    def tenure(evs: list[dict[str, Any]]) -> float:
        return float(np.mean([e["features"]["tenure_months"] for e in evs]))

    assert tenure(early) - tenure(late) > 5
    contracts_early = {e["features"]["contract"] for e in early}
    contracts_late = {e["features"]["contract"] for e in late}
    assert "monthly-flex" not in contracts_early and "monthly-flex" in contracts_late
    null_early = np.mean([e["features"]["region"] is None for e in early])
    null_late = np.mean([e["features"]["region"] is None for e in late])
    assert null_late > null_early + 0.05
    lat_early = np.percentile([e["latency_ms"] for e in early], 99)
    lat_late = np.percentile([e["latency_ms"] for e in late], 99)
    assert lat_late > lat_early * 1.3


def test_churn_shape(demo_run: tuple[Collector, float, float]) -> None:
    col, _, _ = demo_run
    churn = [e for e in col.events if e["model"] == "churn-classifier"]
    errors = [e for e in churn if "error" in e]
    assert 0 < len(errors) < 0.02 * len(churn)
    assert all("prediction" not in e for e in errors)
    ok = [e for e in churn if "error" not in e]
    assert {e["prediction"] for e in ok} == {"churn", "stay"}
    assert {e["version"] for e in ok} == {"v1", "v2"}
    assert all((e["score"] > 0.5) == (e["prediction"] == "churn") for e in ok)
    groups = [e["group"] for e in ok]
    assert 0.4 < groups.count("treatment") / len(groups) < 0.6
    conv = {g: [e["converted"] for e in ok if e["group"] == g and "converted" in e] for g in
            ("control", "treatment")}  # fmt: skip
    assert np.mean(conv["treatment"]) > np.mean(conv["control"])
    assert all(e["revenue"] > 0 for e in ok if e.get("converted"))
    assert all("revenue" not in e for e in ok if e.get("converted") is False)
    assert 15 < np.median([e["latency_ms"] for e in churn]) < 60


def test_intent_and_price(demo_run: tuple[Collector, float, float]) -> None:
    col, _, _ = demo_run
    labels = _labels(col)
    intent = [e for e in col.events if e["model"] == "intent-classifier"]
    for e in intent:
        scores = e["score"]
        assert set(scores) == {"billing", "tech_support", "sales", "other"}
        assert abs(sum(scores.values()) - 1.0) < 1e-6
        assert max(scores, key=scores.get) == e["prediction"]
    labelled = [e for e in intent if e["id"] in labels]
    accuracy = np.mean([e["prediction"] == labels[e["id"]] for e in labelled])
    assert 0.8 < accuracy < 0.9
    price = [e for e in col.events if e["model"] == "price-regressor"]
    assert all(isinstance(e["prediction"], float) for e in price)
    truth = [(e["prediction"], labels[e["id"]]) for e in price if e["id"] in labels]
    errs = [abs(yhat - y) / y for yhat, y in truth]
    early, late = np.mean(errs[: len(errs) // 4]), np.mean(errs[-len(errs) // 4 :])
    assert 0.03 < early < 0.15 and abs(early - late) < 0.03


def test_deterministic_given_seed() -> None:
    """With a frozen clock the backfill is identical apart from the per-run id prefix."""

    def run() -> list[dict[str, Any]]:
        col = Collector()
        asyncio.run(_run(col, 0.3, seed=3, backfill_hours=1.0, now=lambda: START))
        return [{k: v for k, v in e.items() if k != "id"} for e in col.events]

    first, second = run(), run()
    assert first and first == second
