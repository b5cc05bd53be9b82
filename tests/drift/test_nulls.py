"""Change of the share of nulls."""

from __future__ import annotations

import pytest
from scipy import stats

from modeltower.drift import null_share_change


def test_large_rise_is_flagged() -> None:
    r = null_share_change(30, 1000, 200, 1000)
    assert r.reference_share == 0.03 and r.current_share == 0.2
    assert r.change == pytest.approx(0.17)
    assert r.p_value is not None and r.p_value < 1e-6
    assert r.drift


def test_tiny_significant_change_is_not_flagged() -> None:
    r = null_share_change(30_000, 1_000_000, 32_000, 1_000_000)
    assert r.p_value is not None and r.p_value < 0.05  # significant ...
    assert not r.drift  # ... but not a practical change


def test_large_change_on_tiny_sample_is_not_flagged() -> None:
    r = null_share_change(0, 10, 1, 10)  # 0 % → 10 %: large but could be chance
    assert r.change == pytest.approx(0.1)
    assert not r.drift


def test_p_value_is_the_pooled_two_proportion_z_test() -> None:
    r = null_share_change(50, 1000, 80, 1200)
    pooled = 130 / 2200
    z = (80 / 1200 - 50 / 1000) / (pooled * (1 - pooled) * (1 / 1000 + 1 / 1200)) ** 0.5
    assert r.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_edge_cases() -> None:
    empty = null_share_change(0, 0, 5, 10)
    assert (empty.reference_share, empty.current_share, empty.change, empty.p_value) == (
        None,
        0.5,
        None,
        None,
    )
    assert not empty.drift
    assert null_share_change(0, 100, 0, 100).p_value == 1.0
    assert null_share_change(100, 100, 100, 100).p_value == 1.0
    with pytest.raises(ValueError):
        null_share_change(5, 4, 0, 1)
