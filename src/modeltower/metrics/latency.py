"""Latency summary: mean, tail percentiles and maximum of per-prediction latencies.

Percentiles use linear interpolation between closest ranks, the default of
``numpy.percentile`` and the same as DuckDB's ``quantile_cont``, so a summary computed here
from raw values equals one computed in the store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PERCENTILES", "LatencySummary", "latency_summary"]

# Field name -> quantile in [0, 1]; shared with the store's queries so both ask for the same
# points.
PERCENTILES: dict[str, float] = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class LatencySummary:
    """Latency statistics in the unit of the input (milliseconds in modeltower)."""

    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


def latency_summary(values: np.ndarray) -> LatencySummary | None:
    """Summarise latencies; NaN entries (no latency reported) are ignored.

    Returns ``None`` when no non-NaN value remains. Percentiles follow
    ``numpy.percentile(values, q)`` with the default linear method.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    if v.size == 0:
        return None
    q = np.quantile(v, list(PERCENTILES.values()))
    by_name = dict(zip(PERCENTILES, (float(x) for x in q), strict=True))
    return LatencySummary(
        mean=float(np.mean(v)),
        p50=by_name["p50"],
        p90=by_name["p90"],
        p95=by_name["p95"],
        p99=by_name["p99"],
        max=float(np.max(v)),
    )
