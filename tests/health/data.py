"""Synthetic events for the health tests (deterministic for a seed)."""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_events(
    model: str,
    n: int,
    *,
    start_s: int,
    span_s: int,
    versions: tuple[str | None, ...] = ("v1", "v2"),
    seed: int = 0,
    prefix: str = "e",
) -> list[dict[str, Any]]:
    """Events with labels (most), errors (a few), latencies (most), scores and revenue (some)."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        ev: dict[str, Any] = {
            "model": model,
            "id": f"{prefix}{i}",
            "timestamp": int(start_s + rng.integers(0, span_s)),
        }
        version = versions[int(rng.integers(0, len(versions)))]
        if version is not None:
            ev["version"] = version
        if rng.random() < 0.08:
            ev["error"] = "timeout"
        else:
            pred = "churn" if rng.random() < 0.4 else "stay"
            ev["prediction"] = pred
            ev["score"] = round(float(rng.random()), 4)
            if rng.random() < 0.7:
                correct = rng.random() < 0.75
                ev["label"] = pred if correct else ("stay" if pred == "churn" else "churn")
        if rng.random() < 0.85:
            ev["latency_ms"] = round(float(rng.gamma(2.0, 40.0)), 3)
        if rng.random() < 0.3:
            ev["revenue"] = round(float(rng.uniform(0, 50)), 2)
        out.append(ev)
    return out


def regression_events(
    model: str, n: int, *, start_s: int, span_s: int, seed: int = 1
) -> list[dict[str, Any]]:
    """Numeric predictions with numeric labels and latencies; no version."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        y = float(rng.normal(100, 20))
        out.append(
            {
                "model": model,
                "id": f"r{i}",
                "timestamp": int(start_s + rng.integers(0, span_s)),
                "prediction": round(y + float(rng.normal(0, 5)), 3),
                "label": round(y, 3),
                "latency_ms": round(float(rng.uniform(1, 30)), 3),
            }
        )
    return out
