"""Change of the share of missing values between the reference and the current data.

Drift statistics look at non-null values only, so a feature that starts arriving empty needs a
signal of its own. The change is flagged when it is both *large* (at least ``min_change``, an
absolute difference of shares) and *significant* (two-sided pooled two-proportion z-test,
p < ``alpha``): on big windows any tiny wobble is significant, on small ones a large swing can be
noise, and only the conjunction is worth an alert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

__all__ = ["NullShareResult", "null_share_change"]


@dataclass(frozen=True)
class NullShareResult:
    """Shares of nulls (``None`` when the dataset is empty), their difference and its test."""

    reference_share: float | None
    current_share: float | None
    change: float | None  # current_share - reference_share
    p_value: float | None
    drift: bool


def _two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance <= 0.0:
        # No nulls anywhere, or nothing but nulls: the shares are equal.
        return 1.0
    z = (x2 / n2 - x1 / n1) / math.sqrt(variance)
    return float(2.0 * stats.norm.sf(abs(z)))


def null_share_change(
    ref_nulls: int,
    ref_total: int,
    cur_nulls: int,
    cur_total: int,
    min_change: float = 0.05,
    alpha: float = 0.05,
) -> NullShareResult:
    """Compare the share of nulls of a feature in the reference and in the current data.

    ``drift`` is ``|change| >= min_change and p_value < alpha``; with an empty dataset on either
    side there is nothing to compare and ``drift`` is False.
    """
    for name, nulls, total in (
        ("reference", ref_nulls, ref_total),
        ("current", cur_nulls, cur_total),
    ):
        if total < 0 or nulls < 0 or nulls > total:
            raise ValueError(f"{name}: need 0 <= nulls <= total, got {nulls} of {total}")
    ref_share = ref_nulls / ref_total if ref_total else None
    cur_share = cur_nulls / cur_total if cur_total else None
    if ref_share is None or cur_share is None:
        return NullShareResult(ref_share, cur_share, None, None, False)
    change = cur_share - ref_share
    p_value = _two_proportion_p(ref_nulls, ref_total, cur_nulls, cur_total)
    drift = abs(change) >= min_change and p_value < alpha
    return NullShareResult(ref_share, cur_share, change, p_value, drift)
