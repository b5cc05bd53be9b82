"""Replayed traffic for detection tests: a steady stream with one documented change.

Events arrive every 1/rate seconds (simulated time). Each carries a binary label and a
prediction that is right with probability ``accuracy``, a log-normal latency, and three features:
``x`` and ``y`` standard normal, ``c`` a category. At ``change_us`` one thing changes:

- ``accuracy``: the prediction is right 10 points less often (0.90 → 0.80);
- ``latency``: every latency is three times longer (so p99 triples);
- ``shift``: the mean of ``x`` moves by 0.5 standard deviations.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import orjson

from modeltower.ingest.schema import EventColumns

ACCURACY = 0.90
ACCURACY_DROP = 0.10
LATENCY_FACTOR = 3.0
SHIFT_SD = 0.5


def replay(
    model: str,
    start_us: int,
    end_us: int,
    rate_per_s: float,
    *,
    seed: int,
    change: str | None = None,
    change_us: int | None = None,
    chunk: int = 100_000,
) -> Iterator[EventColumns]:
    """The events of [start_us, end_us) in chunks, oldest first."""
    step_us = 1_000_000 / rate_per_s
    n_total = int((end_us - start_us) / step_us)
    rng = np.random.default_rng(seed)
    for first in range(0, n_total, chunk):
        n = min(chunk, n_total - first)
        ts = start_us + (np.arange(first, first + n) * step_us).astype(np.int64)
        after = np.zeros(n, bool) if change_us is None else ts >= change_us
        label = rng.random(n) < 0.5
        acc = np.where(after & (change == "accuracy"), ACCURACY - ACCURACY_DROP, ACCURACY)
        correct = rng.random(n) < acc
        pred = np.where(correct, label, ~label)
        latency = rng.lognormal(3.0, 0.35, n) * np.where(
            after & (change == "latency"), LATENCY_FACTOR, 1.0
        )
        x = rng.normal(0.0, 1.0, n) + np.where(after & (change == "shift"), SHIFT_SD, 0.0)
        y = rng.normal(0.0, 1.0, n)
        c = rng.choice(np.array(["a", "b", "c"]), n, p=[0.5, 0.3, 0.2])
        cols = EventColumns()
        cols.model = [model] * n
        cols.id = [f"{model}-{i}" for i in range(first, first + n)]
        cols.version = ["v1"] * n
        cols.ts = ts.tolist()
        cols.prediction = ["1" if p else "0" for p in pred]
        cols.prediction_num = [1.0 if p else 0.0 for p in pred]
        cols.score = [None] * n
        cols.scores = [None] * n
        cols.label = ["1" if v else "0" for v in label]
        cols.label_num = [1.0 if v else 0.0 for v in label]
        cols.latency_ms = np.round(latency, 3).tolist()
        cols.error = [None] * n
        cols.features = [
            orjson.dumps({"x": round(a, 4), "y": round(b, 4), "c": k}).decode()
            for a, b, k in zip(x.tolist(), y.tolist(), c.tolist(), strict=True)
        ]
        cols.tags = [None] * n
        cols.grp = [None] * n
        cols.converted = [None] * n
        cols.revenue = [None] * n
        cols.input_hash = [None] * n
        yield cols
