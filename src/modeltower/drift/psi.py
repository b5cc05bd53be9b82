"""Population Stability Index (Evidently's ``psi``).

PSI = Σ (r_i − c_i) · ln(r_i / c_i) over the bins of Evidently's ``get_binned_data`` (Sturges bins
of both samples for numeric features with more than 20 distinct reference values, one bin per
value otherwise), with zero proportions filled so that the logarithm stays finite. Drift when
PSI >= threshold (default 0.1).
"""

from __future__ import annotations

import numpy as np

from modeltower.drift.binning import binned_proportions
from modeltower.drift.registry import ALL_TYPES, StatTest, register
from modeltower.drift.sample import FeatureType, Sample, require_samples

__all__ = ["psi"]


def psi(
    reference: Sample, current: Sample, feature_type: FeatureType, threshold: float
) -> tuple[float, bool]:
    """PSI of ``current`` against ``reference``; returns ``(psi, psi >= threshold)``."""
    require_samples(reference, current, "psi", numeric=feature_type == "numeric")
    ref_pct, cur_pct = binned_proportions(reference, current, feature_type, feel_zeroes=True)
    value = float(np.sum((ref_pct - cur_pct) * np.log(ref_pct / cur_pct)))
    return value, value >= threshold


register(
    StatTest(
        name="psi",
        display_name="PSI",
        kind="distance",
        default_threshold=0.1,
        feature_types=ALL_TYPES,
        func=psi,
    )
)
