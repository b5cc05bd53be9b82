"""Hellinger distance (Evidently's ``hellinger``).

H = √(1 − BC), BC = Σ √(p_i · q_i) clipped to [0, 1], in [0, 1]. Drift when H >= threshold
(default 0.1). The bins follow Evidently, which differ from ``get_binned_data``:

* categorical and boolean features: one bin per value (union of both samples);
* numeric features, whatever their number of distinct values: Sturges edges computed over the
  *distinct values* of both samples together (so the number of bins grows with the number of
  distinct values, not of rows), density histograms of each sample, and BC = Σ √(h_ref · h_cur) ·
  w with w the mean bin width.
"""

from __future__ import annotations

import math

import numpy as np

from modeltower.drift.binning import (
    aligned_counts,
    histogram_counts,
    n_distinct_union,
    sturges_edges,
)
from modeltower.drift.registry import ALL_TYPES, StatTest, register
from modeltower.drift.sample import FeatureType, Sample, require_samples

__all__ = ["hellinger", "hellinger_from_proportions"]


def hellinger_from_proportions(ref_pct: np.ndarray, cur_pct: np.ndarray) -> float:
    """√(1 − Σ √(p·q)) with the sum clipped to [0, 1] (rounding can push it just above 1)."""
    bc = float(np.clip(np.sum(np.sqrt(ref_pct * cur_pct)), 0.0, 1.0))
    return math.sqrt(1.0 - bc)


def _densities(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # np.histogram(..., density=True) computes n / db / n.sum(); same operations, same rounding.
    return counts / np.diff(edges) / counts.sum()


def hellinger(
    reference: Sample, current: Sample, feature_type: FeatureType, threshold: float
) -> tuple[float, bool]:
    """Hellinger distance of the two samples; ``(distance, distance >= threshold)``."""
    numeric = feature_type == "numeric"
    require_samples(reference, current, "hellinger", numeric=numeric)
    if not numeric:
        _, rc, cc = aligned_counts(reference, current)
        value = hellinger_from_proportions(rc / reference.n, cc / current.n)
        return value, value >= threshold
    lo = min(reference.keys[0], current.keys[0])
    hi = max(reference.keys[-1], current.keys[-1])
    edges = sturges_edges(lo, hi, n_distinct_union(reference, current))
    h_ref = _densities(histogram_counts(reference, edges), edges)
    h_cur = _densities(histogram_counts(current, edges), edges)
    width = (edges[-1] - edges[0]) / (edges.size - 1)
    bc = float(np.clip(np.sum(np.sqrt(h_ref * h_cur) * width), 0.0, 1.0))
    value = math.sqrt(1.0 - bc)
    return value, value >= threshold


register(
    StatTest(
        name="hellinger",
        display_name="Hellinger distance",
        kind="distance",
        default_threshold=0.1,
        feature_types=ALL_TYPES,
        func=hellinger,
    )
)
