"""Synthetic traffic for ``modeltower serve --demo``.

Three made-up models are simulated:

* ``churn-classifier`` — binary classifier (``churn``/``stay``) with an A/B ``group`` split and
  conversions. It *degrades* on purpose: its inputs drift (tenure falls, a new contract type
  ``monthly-flex`` appears, the region goes missing more often), its accuracy falls from ~0.9 to
  ~0.7 over the backfilled history and keeps slowly falling live, and its latency tail grows.
* ``intent-classifier`` — 4-class classifier whose ``score`` is a class -> probability object;
  stable accuracy around 0.85.
* ``price-regressor`` — regression with a stable error (MAE around 7 % of the price).

:func:`run_demo` first backfills history (so the dashboard has something to show at once) and then
emits live traffic until asked to stop. Ground truth arrives as feedback some minutes after each
prediction, like it would from a real labelling pipeline.

Feedback items have the shape ``{"model": str, "id": str, "label": ..., "converted"?: bool,
"revenue"?: float}``. Everything is generated from one ``numpy`` generator seeded with ``seed``;
only wall-clock times and the per-run id prefix (so restarts never collide with stored ids) vary.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DEMO_MODELS", "DEMO_MODEL_SETTINGS", "run_demo"]

log = logging.getLogger(__name__)

Submit = Callable[[list[dict[str, Any]]], Awaitable[object]]

#: Model settings the server should apply when it runs the demo.
DEMO_MODEL_SETTINGS: dict[str, dict[str, Any]] = {
    "churn-classifier": {"task": "classification", "positive_label": "churn"},
    "intent-classifier": {"task": "classification"},
    "price-regressor": {"task": "regression"},
}
DEMO_MODELS: tuple[str, ...] = tuple(DEMO_MODEL_SETTINGS)
#: Share of the backfilled history each demo model's drift reference covers (from its start):
#: the degrading model's healthy first hours; for the stable ones most of a day, since their
#: features follow the time of day.
DEMO_REFERENCE_SHARE: dict[str, float] = {
    "churn-classifier": 1 / 6,
    "intent-classifier": 0.9,
    "price-regressor": 0.9,
}

_BATCH = 1000
_TICK_S = 0.5  # live generation granularity; small enough to look continuous on the dashboard
_MAX_DT_S = 5.0  # after a stall (laptop sleep) do not emit a huge burst
_MAX_PENDING = 200_000  # bound on feedback waiting for its due time
_DAY_S = 86_400.0
_MAX_PROGRESS = 1.5  # the churn model stops degrading here so a long-running demo stays plausible

_CONTRACTS = ("month-to-month", "one-year", "two-year", "monthly-flex")
_CONTRACT_CUM = np.array([0.45, 0.75, 1.0])  # shares of the three original contract types
_REGIONS = ("north", "south", "east", "west")
_CHURN_ERRORS = ("TimeoutError: feature store did not answer", "ValueError: tenure_months is NaN")
_INTENTS = ("billing", "tech_support", "sales", "other")
_INTENT_P = np.array([0.35, 0.30, 0.20, 0.15])
_CHANNELS = ("chat", "email", "phone")
_NEIGHBORHOODS = ("downtown", "riverside", "suburbs", "old-town", "airport")
_NEIGHBORHOOD_OFFSET = np.array([90_000.0, 60_000.0, 0.0, 40_000.0, -30_000.0])


@dataclass(frozen=True)
class _Timeline:
    """Maps wall-clock time to the churn model's degradation progress (0 = healthy)."""

    start: float  # beginning of the backfilled history
    end: float  # wall-clock time the demo started; live traffic follows

    def progress(self, ts: np.ndarray) -> np.ndarray:
        """Progress is 0→1 across the backfill, then keeps growing by 1 per day live."""
        span = self.end - self.start
        live = (ts - self.end) / _DAY_S + (1.0 if span > 0 else 0.0)
        back = (ts - self.start) / span if span > 0 else live
        return np.clip(np.where(ts <= self.end, back, live), 0.0, _MAX_PROGRESS)


@dataclass
class _Generated:
    """Events plus, aligned with them, the ground truth that arrives later (None: no feedback)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any] | None] = field(default_factory=list)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _churn(rng: np.random.Generator, ts: np.ndarray, p: np.ndarray, ids: list[str]) -> _Generated:
    """Binary churn model whose inputs drift and whose accuracy decays with ``p``."""
    n = len(ts)
    tenure = np.clip(rng.normal(34.0 - 16.0 * p, 14.0), 0, 72).round().astype(np.int64)
    charges = np.clip(rng.normal(62.0 + 12.0 * p, 18.0), 18.0, 130.0).round(2)
    # "monthly-flex" is a product launched late in the timeline: absent until p=0.6, then 30 %.
    flex_share = np.clip((p - 0.6) / 0.4, 0.0, 1.0) * 0.3
    u = rng.random(n)
    rest = (u - flex_share) / np.maximum(1.0 - flex_share, 1e-9)
    old_kind = np.minimum(np.searchsorted(_CONTRACT_CUM, rest, side="right"), 2)
    contract = np.where(u < flex_share, 3, old_kind)
    support = rng.random(n) < 0.4
    region = rng.integers(0, len(_REGIONS), n)
    region_null = rng.random(n) < 0.02 + 0.18 * p
    z = (
        -1.3
        + 1.4 * (contract == 0)
        + 1.0 * (contract == 3)
        - 0.035 * (tenure - 30)
        + 0.015 * (charges - 65.0)
        - 0.7 * support
    )
    churned = rng.random(n) < _sigmoid(z)
    v2 = rng.random(n) < 0.3
    # Accuracy is driven directly (not via a fitted model) so the decay is exactly the story told.
    accuracy = 0.9 - 0.2 * np.minimum(p, 1.0) - 0.1 * np.maximum(p - 1.0, 0.0) + 0.02 * v2
    pred_churn = np.where(rng.random(n) < accuracy, churned, ~churned)
    margin = np.abs(rng.normal(1.6, 0.9, n)) + 0.05
    score = _sigmoid(np.where(pred_churn, margin, -margin)).round(4)
    treated = rng.random(n) < 0.5
    converted = rng.random(n) < np.where(treated, 0.12, 0.09)
    revenue = rng.lognormal(math.log(40.0), 0.5, n).round(2)
    latency = rng.lognormal(math.log(32.0) + 0.15 * p, 0.28 + 0.3 * p).round(2)
    failed = rng.random(n) < 0.005
    error_kind = rng.integers(0, len(_CHURN_ERRORS), n)

    out = _Generated()
    # Python lists index far faster than numpy scalars in this per-event loop.
    ten, chg, con, sup = tenure.tolist(), charges.tolist(), contract.tolist(), support.tolist()
    reg, rnull, y, is_v2 = region.tolist(), region_null.tolist(), churned.tolist(), v2.tolist()
    yhat, s, trt, conv = pred_churn.tolist(), score.tolist(), treated.tolist(), converted.tolist()
    rev, lat, bad, ek = revenue.tolist(), latency.tolist(), failed.tolist(), error_kind.tolist()
    for j, t in enumerate(ts.tolist()):
        region_name = None if rnull[j] else _REGIONS[reg[j]]
        ev: dict[str, Any] = {
            "id": ids[j],
            "model": "churn-classifier",
            "version": "v2" if is_v2[j] else "v1",
            "timestamp": round(t, 3),
            "latency_ms": lat[j],
            "features": {
                "tenure_months": ten[j],
                "monthly_charges": chg[j],
                "contract": _CONTRACTS[con[j]],
                "has_support": sup[j],
                "region": region_name,
            },
        }
        if region_name is not None:
            ev["tags"] = {"region": region_name}
        if bad[j]:
            # A failed request has no prediction, and the user never saw an offer: no group.
            ev["error"] = _CHURN_ERRORS[ek[j]]
            out.events.append(ev)
            out.outcomes.append(None)
            continue
        ev["prediction"] = "churn" if yhat[j] else "stay"
        ev["score"] = s[j]
        ev["group"] = "treatment" if trt[j] else "control"
        outcome: dict[str, Any] = {"label": "churn" if y[j] else "stay", "converted": conv[j]}
        if conv[j]:
            outcome["revenue"] = rev[j]
        out.events.append(ev)
        out.outcomes.append(outcome)
    return out


def _intent(rng: np.random.Generator, ts: np.ndarray, p: np.ndarray, ids: list[str]) -> _Generated:
    """Stable 4-class model; ``score`` is a probability per class with the prediction on top."""
    n = len(ts)
    k = len(_INTENTS)
    truth = rng.choice(k, size=n, p=_INTENT_P)
    wrong = (truth + rng.integers(1, k, n)) % k
    pred = np.where(rng.random(n) < 0.85, truth, wrong)
    logits = rng.normal(0.0, 0.8, (n, k))
    rows = np.arange(n)
    logits[rows, pred] = logits.max(axis=1) + np.abs(rng.normal(1.2, 0.6, n)) + 0.1
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = (probs / probs.sum(axis=1, keepdims=True)).round(4)
    # Rounding must not break "probabilities sum to 1": the predicted class takes the remainder.
    probs[rows, pred] = 0.0
    probs[rows, pred] = (1.0 - probs.sum(axis=1)).round(4)
    length = rng.lognormal(math.log(120.0), 0.7, n).round().astype(np.int64) + 1
    channel = rng.integers(0, len(_CHANNELS), n)
    customer = rng.random(n) < 0.7
    hour = ((ts % _DAY_S) // 3600).astype(np.int64)
    latency = rng.lognormal(math.log(12.0), 0.3, n).round(2)

    out = _Generated()
    cols = zip(
        ids, ts.tolist(), truth.tolist(), pred.tolist(), probs.tolist(), length.tolist(),
        channel.tolist(), customer.tolist(), hour.tolist(), latency.tolist(), strict=True,
    )  # fmt: skip
    for i, t, y, yhat, pr, ln, ch, cust, hr, lat in cols:
        out.events.append(
            {
                "id": i,
                "model": "intent-classifier",
                "version": "v3",
                "timestamp": round(t, 3),
                "prediction": _INTENTS[yhat],
                "score": dict(zip(_INTENTS, pr, strict=True)),
                "latency_ms": lat,
                "features": {
                    "message_length": ln,
                    "channel": _CHANNELS[ch],
                    "is_customer": cust,
                    "hour_utc": hr,
                },
                "tags": {"channel": _CHANNELS[ch]},
            }
        )
        out.outcomes.append({"label": _INTENTS[y]})
    return out


def _price(rng: np.random.Generator, ts: np.ndarray, p: np.ndarray, ids: list[str]) -> _Generated:
    """Stable regressor: prediction and label are independent noisy views of one true price."""
    n = len(ts)
    sqft = np.clip(rng.lognormal(math.log(1500.0), 0.35, n), 350, 6000).round().astype(np.int64)
    bedrooms = np.clip(np.round(sqft / 600 + rng.normal(0.0, 0.7, n)), 1, 6).astype(np.int64)
    hood = rng.integers(0, len(_NEIGHBORHOODS), n)
    age = rng.integers(0, 80, n)
    value = 40_000.0 + 180.0 * sqft + 12_000.0 * bedrooms - 600.0 * age + _NEIGHBORHOOD_OFFSET[hood]
    value = np.maximum(value, 50_000.0)
    label = (value * np.exp(rng.normal(0.0, 0.05, n))).round()
    pred = (value * np.exp(rng.normal(0.0, 0.08, n))).round()
    latency = rng.lognormal(math.log(8.0), 0.25, n).round(2)

    out = _Generated()
    cols = zip(
        ids, ts.tolist(), sqft.tolist(), bedrooms.tolist(), hood.tolist(), age.tolist(),
        label.tolist(), pred.tolist(), latency.tolist(), strict=True,
    )  # fmt: skip
    for i, t, sq, bd, hd, ag, y, yhat, lat in cols:
        out.events.append(
            {
                "id": i,
                "model": "price-regressor",
                "version": "v1",
                "timestamp": round(t, 3),
                "prediction": yhat,
                "latency_ms": lat,
                "features": {
                    "sqft": sq,
                    "bedrooms": bd,
                    "neighborhood": _NEIGHBORHOODS[hd],
                    "age_years": ag,
                },
            }
        )
        out.outcomes.append({"label": y})
    return out


_GENERATORS: dict[
    str, Callable[[np.random.Generator, np.ndarray, np.ndarray, list[str]], _Generated]
] = {
    "churn-classifier": _churn,
    "intent-classifier": _intent,
    "price-regressor": _price,
}


class _Demo:
    """State shared by the backfill and the live phase."""

    def __init__(
        self,
        submit_events: Submit,
        submit_feedback: Submit,
        rng: np.random.Generator,
        timeline: _Timeline,
        label_delay_s: tuple[float, float],
    ) -> None:
        self.submit_events = submit_events
        self.submit_feedback = submit_feedback
        self.rng = rng
        self.timeline = timeline
        self.label_delay_s = label_delay_s
        # Min-heap of (due time, sequence, feedback); the sequence keeps ties from comparing dicts.
        self.pending: list[tuple[float, int, dict[str, Any]]] = []
        self.run_id = uuid.uuid4().hex[:10]
        self.counter = 0  # events generated; also makes ids unique within the run
        self.sequence = itertools.count()
        self.dropped_feedback = 0
        self.failures = 0

    def generate(self, t0: float, t1: float, rate: float) -> _Generated:
        """All models' events with timestamps in [t0, t1), merged in time order."""
        merged = _Generated()
        for model, gen in _GENERATORS.items():
            n = int(self.rng.poisson(rate * max(t1 - t0, 0.0)))
            if n == 0:
                continue
            ts = np.sort(self.rng.uniform(t0, t1, n))
            ids = [f"{model}-{self.run_id}-{self.counter + j}" for j in range(n)]
            self.counter += n
            part = gen(self.rng, ts, self.timeline.progress(ts), ids)
            merged.events += part.events
            merged.outcomes += part.outcomes
        order = sorted(range(len(merged.events)), key=lambda j: merged.events[j]["timestamp"])
        return _Generated([merged.events[j] for j in order], [merged.outcomes[j] for j in order])

    def schedule_labels(self, gen: _Generated, inline_before: float | None) -> None:
        """Queue each outcome as feedback after its label delay.

        Outcomes already due before ``inline_before`` are folded into the event itself: history
        that old would have been labelled by now, and one request is cheaper than two.
        """
        lo, hi = self.label_delay_s
        due = np.asarray([ev["timestamp"] for ev in gen.events]) + self.rng.uniform(
            lo, hi, len(gen.events)
        )
        for ev, outcome, t_due in zip(gen.events, gen.outcomes, due.tolist(), strict=True):
            if outcome is None:
                continue
            if inline_before is not None and t_due <= inline_before:
                ev.update(outcome)
            elif len(self.pending) >= _MAX_PENDING:
                # Memory stays bounded if the consumer stalls; unlabelled events are realistic.
                self.dropped_feedback += 1
            else:
                fb = {"model": ev["model"], "id": ev["id"], **outcome}
                heapq.heappush(self.pending, (t_due, next(self.sequence), fb))

    def due_feedback(self, now: float) -> list[dict[str, Any]]:
        """Pop every pending feedback whose due time has passed."""
        out: list[dict[str, Any]] = []
        while self.pending and self.pending[0][0] <= now:
            out.append(heapq.heappop(self.pending)[2])
        return out

    async def send(self, submit: Submit, items: list[dict[str, Any]], what: str) -> None:
        """Submit in batches; log and skip failures (one bad batch must not end the demo)."""
        for k in range(0, len(items), _BATCH):
            try:
                await submit(items[k : k + _BATCH])
            except Exception:
                self.failures += 1
                # Log the first failures fully, then only occasionally, to avoid flooding the log.
                if self.failures <= 3 or self.failures % 100 == 0:
                    log.exception("demo: submitting %s failed (%d failures)", what, self.failures)


async def _sleep(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True when ``stop`` was set (so callers can return at once)."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))
    except TimeoutError:
        return False
    return True


async def run_demo(
    submit_events: Submit,
    submit_feedback: Submit,
    stop: asyncio.Event,
    *,
    seed: int = 0,
    backfill_hours: float = 24.0,
    rate_per_s: float = 5.0,
    label_delay_s: tuple[float, float] = (60.0, 300.0),
    now: Callable[[], float] = time.time,
    backfill_rate_per_s: float = 0.5,
    on_backfilled: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Backfill ``backfill_hours`` of history, then stream live traffic until ``stop`` is set.

    ``rate_per_s`` and ``backfill_rate_per_s`` are events per second *per model*. The backfill uses
    a lower rate by default (24 h x 3 models x 0.5/s is ~130k events) so a fresh demo is ready in
    seconds rather than minutes. Feedback for live events (and for the last minutes of history) is
    sent by event id once its label delay has passed. ``on_backfilled`` is awaited once the
    history is stored (the server sets the demo models' drift references then).
    """
    rng = np.random.default_rng(seed)
    started = now()
    backfill_s = max(backfill_hours, 0.0) * 3600.0
    demo = _Demo(
        submit_events, submit_feedback, rng, _Timeline(started - backfill_s, started), label_delay_s
    )

    # Backfill in time slices of ~1000 events so memory stays small and the loop keeps yielding.
    slice_s = max(1.0, _BATCH / (len(_GENERATORS) * max(backfill_rate_per_s, 1e-9)))
    t = started - backfill_s
    buffer: list[dict[str, Any]] = []
    while t < started and backfill_rate_per_s > 0:
        if stop.is_set():
            return
        t_next = min(t + slice_s, started)
        gen = demo.generate(t, t_next, backfill_rate_per_s)
        demo.schedule_labels(gen, inline_before=started)
        buffer += gen.events
        if len(buffer) >= _BATCH:
            await demo.send(demo.submit_events, buffer[:_BATCH], "backfill events")
            buffer = buffer[_BATCH:]
        t = t_next
    await demo.send(demo.submit_events, buffer, "backfill events")
    log.info("demo: backfilled %d events over %.1f h", demo.counter, backfill_hours)
    if on_backfilled is not None:
        await on_backfilled()

    last = now()
    while not await _sleep(stop, _TICK_S):
        t = now()
        t0 = max(last, t - _MAX_DT_S)
        last = t
        gen = demo.generate(t0, t, rate_per_s)
        demo.schedule_labels(gen, inline_before=None)
        await demo.send(demo.submit_events, gen.events, "events")
        await demo.send(demo.submit_feedback, demo.due_feedback(t), "feedback")
    if demo.dropped_feedback:
        log.warning("demo: dropped %d feedback items (queue full)", demo.dropped_feedback)
