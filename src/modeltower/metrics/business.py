"""Business metrics per experiment group and the uplift of treatment over control.

Input is one :class:`GroupOutcome` per group (predictions, conversions, revenue), as the store
aggregates them. Conversion rate is conversions over predictions in the group. The uplift
reports the difference of the two conversion rates with a 95 % Wald interval (unpooled
standard error) and the p-value of the pooled two-proportion z-test (as statsmodels'
``proportions_ztest``). The normal distribution comes from the standard library
(:class:`statistics.NormalDist` for the critical value, :func:`math.erfc` for tails), so there
is no scipy dependency at runtime.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

__all__ = [
    "BusinessMetrics",
    "GroupBusiness",
    "GroupOutcome",
    "Uplift",
    "business_metrics",
]

# Two-sided 95 % critical value, norm.ppf(0.975) ≈ 1.959964.
_Z_975 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class GroupOutcome:
    """Aggregated outcomes of one group: predictions, converted predictions, revenue."""

    count: int
    conversions: int
    revenue: float


@dataclass(frozen=True)
class GroupBusiness:
    """Business metrics of one group; rates are ``None`` when the group has no predictions."""

    count: int
    conversions: int
    conversion_rate: float | None
    revenue: float
    revenue_per_prediction: float | None


@dataclass(frozen=True)
class Uplift:
    """Treatment versus control conversion rates.

    ``absolute`` is ``treatment_rate - control_rate`` and ``relative`` is ``absolute /
    control_rate`` (``None`` when the control rate is 0). ``ci95_low`` / ``ci95_high`` bound
    the absolute difference (Wald, unpooled). ``p_value`` is two-sided from the pooled z-test,
    ``None`` when the pooled standard error is 0 (nobody or everybody converted).
    """

    control: str
    treatment: str
    control_rate: float
    treatment_rate: float
    absolute: float
    relative: float | None
    ci95_low: float
    ci95_high: float
    p_value: float | None


@dataclass(frozen=True)
class BusinessMetrics:
    """Per-group metrics and, when both groups have predictions, the uplift."""

    groups: dict[str, GroupBusiness]
    uplift: Uplift | None


def _group_business(name: str, outcome: GroupOutcome) -> GroupBusiness:
    """Validate one group's aggregate and derive its rates."""
    count = int(outcome.count)
    conversions = int(outcome.conversions)
    if count < 0 or conversions < 0 or conversions > count:
        # A conversion is a flag on a prediction, so it can never outnumber predictions.
        raise ValueError(
            f"group {name!r}: need 0 <= conversions <= count, got {conversions} / {count}"
        )
    revenue = float(outcome.revenue)
    return GroupBusiness(
        count=count,
        conversions=conversions,
        conversion_rate=conversions / count if count else None,
        revenue=revenue,
        revenue_per_prediction=revenue / count if count else None,
    )


def _uplift(control: str, c: GroupBusiness, treatment: str, t: GroupBusiness) -> Uplift:
    """Difference of two proportions with Wald CI and pooled z-test (counts must be > 0)."""
    n_c, n_t = c.count, t.count
    p_c = c.conversions / n_c
    p_t = t.conversions / n_t
    diff = p_t - p_c

    # Wald interval: each group's own variance (unpooled), as the interval is about the
    # difference, not under the null hypothesis of equal rates.
    se = math.sqrt(p_c * (1.0 - p_c) / n_c + p_t * (1.0 - p_t) / n_t)
    half_width = _Z_975 * se

    # z-test under H0 (equal rates): pooled proportion, like statsmodels proportions_ztest.
    pooled = (c.conversions + t.conversions) / (n_c + n_t)
    se_pooled = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_c + 1.0 / n_t))
    p_value: float | None
    if se_pooled == 0.0:
        p_value = None
    else:
        z = diff / se_pooled
        # Two-sided tail 2·Φ(-|z|) = erfc(|z|/√2). NormalDist.cdf is built on erf and
        # underflows to 0 beyond |z| ≈ 8, while erfc keeps full relative precision.
        p_value = min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))

    return Uplift(
        control=control,
        treatment=treatment,
        control_rate=p_c,
        treatment_rate=p_t,
        absolute=diff,
        relative=diff / p_c if p_c != 0.0 else None,
        ci95_low=diff - half_width,
        ci95_high=diff + half_width,
        p_value=p_value,
    )


def business_metrics(
    groups: Mapping[str, GroupOutcome], control: str = "control", treatment: str = "treatment"
) -> BusinessMetrics | None:
    """Per-group conversion and revenue metrics plus treatment-over-control uplift.

    Returns ``None`` when ``groups`` is empty. ``uplift`` is ``None`` unless both the
    ``control`` and ``treatment`` groups exist with at least one prediction each. Raises
    ``ValueError`` when a group has negative counts or more conversions than predictions.
    """
    if not groups:
        return None
    per_group = {name: _group_business(name, outcome) for name, outcome in groups.items()}
    c = per_group.get(control)
    t = per_group.get(treatment)
    uplift = None
    if c is not None and t is not None and c.count > 0 and t.count > 0:
        uplift = _uplift(control, c, treatment, t)
    return BusinessMetrics(groups=per_group, uplift=uplift)
