"""Drift statistics: pure functions (numpy and scipy, no I/O) comparing the distribution of one
feature in a current window with a reference.

Each statistic reproduces the corresponding legacy stattest of Evidently 0.7.23 on the same data
(see docs/DRIFT.md). The service calls :func:`drift_score` with :class:`Sample` objects; the trend
chart uses the approximations of :mod:`modeltower.drift.binned` on stored histograms.
"""

from __future__ import annotations

# The statistic modules register themselves on import; keep them imported here so that the
# registry is complete whichever part of the package is used first.
from modeltower.drift import (
    chi2,
    chi2_gof,
    hellinger,
    jensenshannon,
    kl_div,
    ks,
    psi,
    wasserstein,
    z,
)
from modeltower.drift.nulls import NullShareResult, null_share_change
from modeltower.drift.registry import STATTESTS, StatTest, get_stattest
from modeltower.drift.sample import (
    FeatureType,
    Sample,
    categorical_from_values,
    categorical_sample,
    numeric_sample,
    numeric_sample_from_counts,
)
from modeltower.drift.select import (
    DriftResult,
    check_method,
    default_method,
    drift_score,
    infer_feature_type,
)

__all__ = [
    "STATTESTS",
    "DriftResult",
    "FeatureType",
    "NullShareResult",
    "Sample",
    "StatTest",
    "categorical_from_values",
    "categorical_sample",
    "check_method",
    "chi2",
    "chi2_gof",
    "default_method",
    "drift_score",
    "get_stattest",
    "hellinger",
    "infer_feature_type",
    "jensenshannon",
    "kl_div",
    "ks",
    "null_share_change",
    "numeric_sample",
    "numeric_sample_from_counts",
    "psi",
    "wasserstein",
    "z",
]
