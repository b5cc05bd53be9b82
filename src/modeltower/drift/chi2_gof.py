"""Chi-square goodness-of-fit test of the current counts against the reference proportions
(Evidently's ``chisquare``).

``scipy.stats.chisquare(f_obs=current counts, f_exp=reference counts · n_cur/n_ref)`` over the union
of the values of both samples. The reference is treated as the known distribution, so its own
sampling noise is ignored; :mod:`modeltower.drift.chi2` is the two-sample version. Drift when
p < threshold (default 0.05).

A value absent from the reference has an expected count of 0: its term is x²/0 = +inf, the
statistic is +inf and the p-value 0 (drift), which is what Evidently reports (scipy warns about
the division; the warning is silenced here).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from modeltower.drift.binning import aligned_counts
from modeltower.drift.registry import ALL_TYPES, StatTest, register
from modeltower.drift.sample import FeatureType, Sample, require_samples

__all__ = ["chi2_gof", "chi2_gof_from_counts"]


def chi2_gof_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """p-value of the goodness-of-fit test for aligned count vectors."""
    f_exp = ref_counts * (cur_counts.sum() / ref_counts.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(cur_counts, f_exp).pvalue)


def chi2_gof(
    reference: Sample, current: Sample, feature_type: FeatureType, threshold: float
) -> tuple[float, bool]:
    """Goodness-of-fit p-value; ``(p, p < threshold)``."""
    require_samples(reference, current, "chi2_gof", numeric=False)
    _, rc, cc = aligned_counts(reference, current)
    p = chi2_gof_from_counts(rc, cc)
    return p, p < threshold


register(
    StatTest(
        name="chi2_gof",
        display_name="chi-square goodness-of-fit p_value",
        kind="p_value",
        default_threshold=0.05,
        feature_types=ALL_TYPES,
        func=chi2_gof,
    )
)
