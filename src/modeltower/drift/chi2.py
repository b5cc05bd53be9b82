"""Two-sample chi-square test of homogeneity (contingency table).

``scipy.stats.chi2_contingency`` on the 2 × k table [reference counts; current counts] over the
union of the values of both samples, **without** Yates' continuity correction
(``correction=False``), so the statistic is Pearson's for every k. Without the correction a 2 × 2
table gives exactly the square of the pooled two-proportion z statistic, i.e. the same p-value as
:mod:`modeltower.drift.z`; the correction only makes the test more conservative for tiny samples,
which drift monitoring does not have. Drift when p < threshold (default 0.05).

Unlike the goodness-of-fit test (:mod:`modeltower.drift.chi2_gof`, Evidently's ``chisquare``) it
accounts for the sampling noise of the reference, which is a sample too, and a value seen only in
the current data is an ordinary column rather than an infinite term. It is modeltower's default for
small data with 3–5 values; Evidently has no equivalent. With a single value in both samples the
table has no degree of freedom and the p-value is 1.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from modeltower.drift.binning import aligned_counts
from modeltower.drift.registry import ALL_TYPES, StatTest, register
from modeltower.drift.sample import FeatureType, Sample, require_samples

__all__ = ["chi2", "chi2_from_counts"]


def chi2_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """p-value of the contingency test for aligned count vectors (every column non-empty)."""
    if ref_counts.size < 2:
        return 1.0
    table = np.vstack((ref_counts, cur_counts))
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def chi2(
    reference: Sample, current: Sample, feature_type: FeatureType, threshold: float
) -> tuple[float, bool]:
    """Contingency-table p-value; ``(p, p < threshold)``."""
    require_samples(reference, current, "chi2", numeric=False)
    _, rc, cc = aligned_counts(reference, current)
    p = chi2_from_counts(rc, cc)
    return p, p < threshold


register(
    StatTest(
        name="chi2",
        display_name="chi-square p_value",
        kind="p_value",
        default_threshold=0.05,
        feature_types=ALL_TYPES,
        func=chi2,
    )
)
