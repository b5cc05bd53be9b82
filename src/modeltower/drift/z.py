"""Two-proportion z-test (Evidently's ``z``).

The values of both samples are sorted and each value is reduced to "differs from the first
(smallest) value"; the test compares that proportion between the samples with the pooled standard
error, two-sided: p = 2·(1 − Φ(|z|)). Meant for binary features (the default with at most 2
distinct values and at most 1000 reference rows); with more values it only looks at the smallest
one. When both samples hold one and the same single value the p-value is 1. Drift when
p < threshold (default 0.05).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from modeltower.drift.binning import aligned_counts
from modeltower.drift.registry import ALL_TYPES, StatTest, register
from modeltower.drift.sample import FeatureType, Sample, require_samples

__all__ = ["z", "z_from_counts"]


def z_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """p-value for aligned count vectors whose first entry is the smallest value."""
    n1, n2 = int(ref_counts.sum()), int(cur_counts.sum())
    if np.count_nonzero(ref_counts) == 1 and np.array_equal(
        np.flatnonzero(ref_counts), np.flatnonzero(cur_counts)
    ):
        return 1.0
    # Same operations as Evidently's proportions_diff_z_stat_ind, so the same rounding.
    p1 = float(n1 - int(ref_counts[0])) / n1
    p2 = float(n2 - int(cur_counts[0])) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z_stat = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(abs(z_stat))))


def z(
    reference: Sample, current: Sample, feature_type: FeatureType, threshold: float
) -> tuple[float, bool]:
    """Two-proportion z-test p-value; ``(p, p < threshold)``."""
    require_samples(reference, current, "z", numeric=False)
    _, rc, cc = aligned_counts(reference, current)
    p = z_from_counts(rc, cc)
    return p, p < threshold


register(
    StatTest(
        name="z",
        display_name="Z-test p_value",
        kind="p_value",
        default_threshold=0.05,
        feature_types=ALL_TYPES,
        func=z,
    )
)
