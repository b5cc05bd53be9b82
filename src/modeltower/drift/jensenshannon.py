"""Jensen-Shannon distance (Evidently's ``jensenshannon``).

``scipy.spatial.distance.jensenshannon`` (natural logarithm, so the distance lies in
[0, √ln 2 ≈ 0.833]) on the proportions of Evidently's ``get_binned_data`` *without* zero filling
(the distance is finite with empty bins). Drift when distance >= threshold (default 0.1). This is
the default method for categorical features, and for numeric features with at most 5 distinct
values, when the reference has more than 1000 rows.
"""

from __future__ import annotations

from scipy.spatial import distance

from modeltower.drift.binning import binned_proportions
from modeltower.drift.registry import ALL_TYPES, StatTest, register
from modeltower.drift.sample import FeatureType, Sample, require_samples

__all__ = ["jensenshannon"]


def jensenshannon(
    reference: Sample, current: Sample, feature_type: FeatureType, threshold: float
) -> tuple[float, bool]:
    """Jensen-Shannon distance of the binned samples; ``(distance, distance >= threshold)``."""
    require_samples(reference, current, "jensenshannon", numeric=feature_type == "numeric")
    ref_pct, cur_pct = binned_proportions(reference, current, feature_type, feel_zeroes=False)
    value = float(distance.jensenshannon(ref_pct, cur_pct))
    return value, value >= threshold


register(
    StatTest(
        name="jensenshannon",
        display_name="Jensen-Shannon distance",
        kind="distance",
        default_threshold=0.1,
        feature_types=ALL_TYPES,
        func=jensenshannon,
    )
)
