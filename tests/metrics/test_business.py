"""Business metrics and uplift; the statistics are recomputed here with scipy.stats.norm."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from modeltower.metrics import GroupBusiness, GroupOutcome, Uplift, business_metrics


def reference_uplift(nc: int, xc: int, nt: int, xt: int) -> tuple[float, float, float, float]:
    """(difference, ci low, ci high, p-value) straight from the textbook formulas."""
    pc, pt = xc / nc, xt / nt
    diff = pt - pc
    se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
    z_crit = norm.ppf(0.975)
    pooled = (xc + xt) / (nc + nt)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nt))
    p_value = 2 * norm.sf(abs(diff / se0))
    return diff, diff - z_crit * se, diff + z_crit * se, p_value


def uplift_of(nc: int, xc: int, nt: int, xt: int) -> Uplift:
    result = business_metrics(
        {
            "control": GroupOutcome(count=nc, conversions=xc, revenue=0.0),
            "treatment": GroupOutcome(count=nt, conversions=xt, revenue=0.0),
        }
    )
    assert result is not None and result.uplift is not None
    return result.uplift


def test_hand_computed_uplift() -> None:
    u = uplift_of(1000, 100, 1000, 130)
    # rates 0.10 and 0.13; unpooled SE sqrt(.1·.9/1000 + .13·.87/1000) = 0.0142513;
    # pooled p 0.115, SE sqrt(.115·.885·(2/1000)) = 0.0142671, z = 2.10274
    assert (u.control, u.treatment) == ("control", "treatment")
    assert (u.control_rate, u.treatment_rate) == (0.1, 0.13)
    assert u.absolute == pytest.approx(0.03, rel=1e-12)
    assert u.relative == pytest.approx(0.3, rel=1e-12)
    assert u.ci95_low == pytest.approx(0.0020679, abs=1e-7)
    assert u.ci95_high == pytest.approx(0.0579321, abs=1e-7)
    assert u.p_value == pytest.approx(0.0354885, abs=1e-7)


@pytest.mark.parametrize("seed", range(6))
def test_uplift_matches_scipy_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    nc, nt = (int(x) for x in rng.integers(20, 50_000, size=2))
    xc = int(rng.binomial(nc, rng.uniform(0.01, 0.6)))
    xt = int(rng.binomial(nt, rng.uniform(0.01, 0.6)))
    u = uplift_of(nc, xc, nt, xt)
    diff, low, high, p_value = reference_uplift(nc, xc, nt, xt)
    assert u.absolute == pytest.approx(diff, rel=1e-12, abs=1e-15)
    assert u.relative == pytest.approx(diff / (xc / nc), rel=1e-12, abs=1e-15)
    assert (u.ci95_low, u.ci95_high) == pytest.approx((low, high), rel=1e-9, abs=1e-12)
    assert u.p_value == pytest.approx(p_value, rel=1e-9, abs=1e-300)


def test_tiny_p_value_keeps_precision() -> None:
    u = uplift_of(100_000, 10_000, 100_000, 12_000)
    _, _, _, p_value = reference_uplift(100_000, 10_000, 100_000, 12_000)
    assert 0 < p_value < 1e-40
    assert u.p_value == pytest.approx(p_value, rel=1e-6)


def test_control_rate_zero() -> None:
    u = uplift_of(200, 0, 250, 10)
    diff, low, high, p_value = reference_uplift(200, 0, 250, 10)
    assert u.control_rate == 0.0 and u.treatment_rate == 0.04
    assert u.relative is None
    assert u.absolute == pytest.approx(diff)
    # The control contributes no variance to the unpooled SE: 0.04 ± 1.96·sqrt(.04·.96/250)
    assert (u.ci95_low, u.ci95_high) == pytest.approx((0.0157091, 0.0642909), abs=1e-7)
    assert (u.ci95_low, u.ci95_high) == pytest.approx((low, high), rel=1e-9)
    assert u.p_value == pytest.approx(p_value, rel=1e-9)
    assert u.p_value == pytest.approx(0.0042312, abs=1e-7)


@pytest.mark.parametrize(("xc", "xt"), [(0, 0), (50, 80)])
def test_no_variance_gives_no_p_value(xc: int, xt: int) -> None:
    # Nobody converted, or everybody converted: the pooled SE is 0.
    u = uplift_of(50, xc, 80, xt)
    assert u.p_value is None
    assert u.ci95_low == u.ci95_high == u.absolute == 0.0


def test_group_metrics() -> None:
    result = business_metrics(
        {
            "control": GroupOutcome(count=400, conversions=20, revenue=1000.0),
            "treatment": GroupOutcome(count=500, conversions=40, revenue=1750.0),
            "holdout": GroupOutcome(count=0, conversions=0, revenue=0.0),
        }
    )
    assert result is not None
    assert result.groups["control"] == GroupBusiness(
        count=400, conversions=20, conversion_rate=0.05, revenue=1000.0, revenue_per_prediction=2.5
    )
    assert result.groups["treatment"] == GroupBusiness(
        count=500, conversions=40, conversion_rate=0.08, revenue=1750.0, revenue_per_prediction=3.5
    )
    assert result.groups["holdout"] == GroupBusiness(
        count=0, conversions=0, conversion_rate=None, revenue=0.0, revenue_per_prediction=None
    )
    assert result.uplift is not None
    assert result.uplift.absolute == pytest.approx(0.03)
    assert result.uplift.relative == pytest.approx(0.6)


def test_custom_group_names_and_direction() -> None:
    groups = {
        "A": GroupOutcome(count=300, conversions=60, revenue=0.0),
        "B": GroupOutcome(count=300, conversions=45, revenue=0.0),
    }
    result = business_metrics(groups, control="A", treatment="B")
    assert result is not None and result.uplift is not None
    u = result.uplift
    assert (u.control, u.treatment) == ("A", "B")
    assert u.absolute == pytest.approx(-0.05)
    assert u.relative == pytest.approx(-0.25)
    assert u.ci95_high < 0 or u.ci95_low < 0 < u.ci95_high
    assert u.p_value == pytest.approx(reference_uplift(300, 60, 300, 45)[3], rel=1e-9)
    # With the default names neither group exists, so there is no uplift.
    default = business_metrics(groups)
    assert default is not None and default.uplift is None


def test_uplift_needs_both_groups_with_predictions() -> None:
    only_control = business_metrics({"control": GroupOutcome(10, 1, 5.0)})
    assert only_control is not None and only_control.uplift is None
    empty_treatment = business_metrics(
        {"control": GroupOutcome(10, 1, 5.0), "treatment": GroupOutcome(0, 0, 0.0)}
    )
    assert empty_treatment is not None and empty_treatment.uplift is None
    assert business_metrics({}) is None


@pytest.mark.parametrize(
    "outcome", [GroupOutcome(5, 6, 0.0), GroupOutcome(-1, 0, 0.0), GroupOutcome(5, -1, 0.0)]
)
def test_invalid_counts_rejected(outcome: GroupOutcome) -> None:
    with pytest.raises(ValueError):
        business_metrics({"control": outcome})
