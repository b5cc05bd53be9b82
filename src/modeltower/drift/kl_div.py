"""Kullback-Leibler divergence KL(reference ‖ current) (Evidently's ``kl_div``).

Computed by ``scipy.stats.entropy`` (natural logarithm) on the proportions of Evidently's
``get_binned_data`` with zeros filled, exactly as PSI bins. Drift when KL >= threshold (default
0.1).
"""

from __future__ import annotations

from scipy import stats

from modeltower.drift.binning import binned_proportions
from modeltower.drift.registry import ALL_TYPES, StatTest, register
from modeltower.drift.sample import FeatureType, Sample, require_samples

__all__ = ["kl_div"]


def kl_div(
    reference: Sample, current: Sample, feature_type: FeatureType, threshold: float
) -> tuple[float, bool]:
    """KL divergence of the binned reference from the binned current; ``(kl, kl >= threshold)``."""
    require_samples(reference, current, "kl_div", numeric=feature_type == "numeric")
    ref_pct, cur_pct = binned_proportions(reference, current, feature_type, feel_zeroes=True)
    value = float(stats.entropy(ref_pct, cur_pct))
    return value, value >= threshold


register(
    StatTest(
        name="kl_div",
        display_name="Kullback-Leibler divergence",
        kind="distance",
        default_threshold=0.1,
        feature_types=ALL_TYPES,
        func=kl_div,
    )
)
