"""Normalised Wasserstein-1 distance (Evidently's ``wasserstein``, "Wasserstein distance
(normed)").

W₁(ref, cur) = ∫ |F_ref(x) − F_cur(x)| dx, the same value as ``scipy.stats.wasserstein_distance``,
divided by the reference standard deviation (population, ddof=0) floored at 0.001 so that a
constant reference does not divide by zero. The score reads "how many reference standard
deviations the distribution moved". Drift when score >= threshold (default 0.1). The default method
for numeric features with more than 5 distinct values when the reference has more than 1000 rows.
"""

from __future__ import annotations

import numpy as np

from modeltower.drift.binning import merged_ecdfs
from modeltower.drift.registry import NUMERIC_ONLY, StatTest, register
from modeltower.drift.sample import FeatureType, Sample, require_samples

__all__ = ["MIN_STD", "wasserstein", "wasserstein_distance"]

# Evidently's floor for the normalising standard deviation.
MIN_STD = 0.001


def wasserstein_distance(reference: Sample, current: Sample) -> float:
    """Unnormalised W₁ between two numeric samples (equals ``scipy.stats.wasserstein_distance``).

    The ECDF difference is constant between consecutive merged values, so the integral is a dot
    product of |ΔF| with the gaps; only the distinct values take part.
    """
    _, scaled_diff, step = merged_ecdfs(reference, current)
    np.abs(scaled_diff, out=scaled_diff)
    return float(np.dot(scaled_diff, step)) / (reference.n * current.n)


def wasserstein(
    reference: Sample, current: Sample, feature_type: FeatureType, threshold: float
) -> tuple[float, bool]:
    """W₁ / max(std(reference), 0.001); ``(score, score >= threshold)``."""
    require_samples(reference, current, "wasserstein", numeric=True)
    norm = max(reference.std(), MIN_STD)
    value = wasserstein_distance(reference, current) / norm
    return value, value >= threshold


register(
    StatTest(
        name="wasserstein",
        display_name="Wasserstein distance (normed)",
        kind="distance",
        default_threshold=0.1,
        feature_types=NUMERIC_ONLY,
        func=wasserstein,
    )
)
