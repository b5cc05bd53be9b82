"""Latency summary against numpy.percentile."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from modeltower.metrics import PERCENTILES, LatencySummary, latency_summary


def test_fields_match_percentiles() -> None:
    names = [f.name for f in dataclasses.fields(LatencySummary)]
    assert names == ["mean", *PERCENTILES, "max"]
    assert list(PERCENTILES.values()) == [0.5, 0.9, 0.95, 0.99]


@pytest.mark.parametrize(("seed", "n"), [(1, 1), (2, 2), (3, 7), (4, 1000), (5, 12345)])
def test_matches_numpy_percentile(seed: int, n: int) -> None:
    values = np.random.default_rng(seed).lognormal(mean=3.0, sigma=0.8, size=n)
    s = latency_summary(values)
    assert s is not None
    for name, q in PERCENTILES.items():
        assert getattr(s, name) == pytest.approx(np.percentile(values, q * 100), rel=1e-12)
    assert s.mean == pytest.approx(values.mean(), rel=1e-12)
    assert s.max == values.max()


def test_hand_values_linear_interpolation() -> None:
    s = latency_summary(np.array([4.0, 1.0, 3.0, 2.0]))
    # positions q·(n-1) = 1.5, 2.7, 2.85, 2.97 in the sorted values 1, 2, 3, 4
    assert s is not None
    assert dataclasses.astuple(s) == pytest.approx((2.5, 2.5, 3.7, 3.85, 3.97, 4.0), rel=1e-12)


def test_nan_ignored() -> None:
    rng = np.random.default_rng(6)
    values = rng.exponential(20.0, size=500)
    values[rng.random(500) < 0.2] = np.nan
    s = latency_summary(values)
    assert s is not None
    assert s.p99 == pytest.approx(np.nanpercentile(values, 99), rel=1e-12)
    assert s.p50 == pytest.approx(np.nanpercentile(values, 50), rel=1e-12)
    assert s.mean == pytest.approx(np.nanmean(values), rel=1e-12)
    assert s.max == np.nanmax(values)


def test_empty_and_all_nan_give_none() -> None:
    assert latency_summary(np.array([])) is None
    assert latency_summary(np.array([np.nan, np.nan])) is None


def test_accepts_integer_input() -> None:
    s = latency_summary(np.array([10, 20], dtype=np.int64))
    assert s is not None and (s.p50, s.p90) == (15.0, 19.0)
