"""Two-sample Kolmogorov-Smirnov test (Evidently's ``ks``).

The score is the two-sided p-value of ``scipy.stats.ks_2samp(reference, current)`` with its
default ``method="auto"``: the exact distribution when both samples have at most 10 000 values,
otherwise the asymptotic ``kstwo.sf(D, round(n₁n₂/(n₁+n₂)))``. Drift when p <= threshold (default
0.05; Evidently uses ``<=`` for this test, unlike the other p-value tests). The default method for
numeric features with more than 5 distinct values when the reference has at most 1000 rows.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from modeltower.drift.binning import merged_ecdfs
from modeltower.drift.registry import NUMERIC_ONLY, StatTest, register
from modeltower.drift.sample import FeatureType, Sample, require_samples

__all__ = ["EXACT_MAX_N", "ks", "ks_asymptotic_p", "ks_statistic"]

# scipy's MAX_AUTO_N: up to this many values in each sample, method="auto" is exact.
EXACT_MAX_N = 10_000


def ks_statistic(reference: Sample, current: Sample) -> float:
    """D = max |F_ref − F_cur| over all values (equals ``ks_2samp(...).statistic``)."""
    _, scaled_diff, step = merged_ecdfs(reference, current)
    # Only the last copy of each value has both counts complete (step > 0); at the very last
    # grid point both CDFs are 1.
    complete = scaled_diff[step > 0]
    if complete.size == 0:
        return 0.0
    return float(np.abs(complete).max()) / (reference.n * current.n)


def ks_asymptotic_p(d: float, n_ref: int, n_cur: int) -> float:
    """scipy's asymptotic two-sided p-value: ``kstwo.sf(D, round(n₁n₂/(n₁+n₂)))``, clipped."""
    m, n = sorted((float(n_ref), float(n_cur)), reverse=True)
    en = m * n / (m + n)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))


def ks(
    reference: Sample, current: Sample, feature_type: FeatureType, threshold: float
) -> tuple[float, bool]:
    """Two-sided KS p-value; ``(p, p <= threshold)``."""
    require_samples(reference, current, "ks", numeric=True)
    if max(reference.n, current.n) <= EXACT_MAX_N:
        # Small samples: scipy's exact path (with its own fallbacks); sorting sorted arrays is
        # cheap at this size.
        p = float(stats.ks_2samp(reference.sorted_values(), current.sorted_values()).pvalue)
    else:
        p = ks_asymptotic_p(ks_statistic(reference, current), reference.n, current.n)
    return p, p <= threshold


register(
    StatTest(
        name="ks",
        display_name="K-S p_value",
        kind="p_value",
        default_threshold=0.05,
        feature_types=NUMERIC_ONLY,
        func=ks,
    )
)
