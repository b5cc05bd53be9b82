"""Regression metrics against scikit-learn, and merge of partial aggregates."""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
import pytest
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    r2_score,
    root_mean_squared_error,
)

from modeltower.metrics import (
    RegressionAggregate,
    RegressionMetrics,
    regression_aggregate,
    regression_metrics,
)

REL = 1e-12


def sklearn_metrics(y: np.ndarray, yhat: np.ndarray) -> tuple[float, float, float, float]:
    return (
        mean_absolute_error(y, yhat),
        root_mean_squared_error(y, yhat),
        mean_absolute_percentage_error(y, yhat),
        r2_score(y, yhat),
    )


def as_tuple(m: RegressionMetrics | None) -> tuple[float, float, float, float | None]:
    assert m is not None
    return (m.mae, m.rmse, m.mape, m.r2)


def make_problem(seed: int, n: int, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = offset + rng.normal(50.0, 20.0, size=n)
    yhat = y + rng.normal(0.0, 8.0, size=n)
    return y, yhat


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_sklearn(seed: int) -> None:
    y, yhat = make_problem(seed, 2000)
    got = as_tuple(regression_metrics(regression_aggregate(y, yhat)))
    assert got == pytest.approx(sklearn_metrics(y, yhat), rel=REL)


def test_hand_computed() -> None:
    y = np.array([1.0, 2.0, 3.0])
    yhat = np.array([1.0, 2.0, 5.0])
    # errors 0, 0, 2: MAE 2/3, RMSE sqrt(4/3), MAPE (2/3)/3, SST 2 -> R² 1 - 4/2
    got = as_tuple(regression_metrics(regression_aggregate(y, yhat)))
    assert got == pytest.approx((2 / 3, math.sqrt(4 / 3), 2 / 9, -1.0), rel=REL)


@pytest.mark.parametrize(
    "cuts",
    [[1000], [1, 2, 3], [0, 0, 500, 1999], [333, 666, 999, 1500], list(range(50, 2000, 50))],
)
def test_merge_of_split_arrays_equals_whole(cuts: list[int]) -> None:
    y, yhat = make_problem(7, 2000)
    whole = regression_aggregate(y, yhat)
    parts = [
        regression_aggregate(a, b)
        for a, b in zip(np.split(y, cuts), np.split(yhat, cuts), strict=True)
    ]
    merged = reduce(RegressionAggregate.merge, parts)
    assert merged.n == whole.n == 2000
    for field in ("sum_abs_err", "sum_sq_err", "sum_ape", "mean_y", "m2_y"):
        assert getattr(merged, field) == pytest.approx(getattr(whole, field), rel=1e-9)
    assert as_tuple(regression_metrics(merged)) == pytest.approx(sklearn_metrics(y, yhat), rel=1e-9)


def chunk_aggregates(y: np.ndarray, yhat: np.ndarray, chunks: int) -> list[RegressionAggregate]:
    return [
        regression_aggregate(a, b)
        for a, b in zip(np.split(y, chunks), np.split(yhat, chunks), strict=True)
    ]


def test_merge_is_order_independent_tree_reduction() -> None:
    y, yhat = make_problem(8, 1024)
    leaves = chunk_aggregates(y, yhat, 64)
    # Reverse left fold, as a rolling window appending older buckets would do.
    left_fold = reduce(RegressionAggregate.merge, leaves[::-1])
    while len(leaves) > 1:  # pairwise tree, as a rollup over hours/days would do
        leaves = [a.merge(b) for a, b in zip(leaves[::2], leaves[1::2], strict=True)]
    for agg in (leaves[0], left_fold):
        assert agg.n == 1024
        assert agg.mean_y == pytest.approx(np.mean(y), rel=1e-9)
        assert agg.m2_y == pytest.approx(np.var(y) * y.size, rel=1e-9)
        assert as_tuple(regression_metrics(agg)) == pytest.approx(
            sklearn_metrics(y, yhat), rel=1e-9
        )


def test_merge_is_stable_for_large_offsets() -> None:
    # sum(y²) - n·mean² would lose every digit here; Chan's update must not.
    y, yhat = make_problem(9, 4000, offset=1e9)
    merged = reduce(RegressionAggregate.merge, chunk_aggregates(y, yhat, 8))
    r2 = regression_metrics(merged)
    assert r2 is not None and r2.r2 == pytest.approx(r2_score(y, yhat), rel=1e-9)


def test_merge_with_empty_aggregate() -> None:
    y, yhat = make_problem(10, 50)
    agg = regression_aggregate(y, yhat)
    empty = regression_aggregate(np.array([]), np.array([]))
    assert empty.n == 0
    assert empty.merge(agg) == agg
    assert agg.merge(empty) == agg
    assert regression_metrics(empty) is None


def test_constant_targets_r2_follows_force_finite() -> None:
    y = np.full(10, 3.0)
    perfect = regression_metrics(regression_aggregate(y, y.copy()))
    off = regression_metrics(regression_aggregate(y, y + np.linspace(-1, 1, 10)))
    assert perfect is not None and off is not None
    assert perfect.r2 == r2_score(y, y) == 1.0
    assert off.r2 == r2_score(y, y + np.linspace(-1, 1, 10)) == 0.0


def test_constant_targets_that_do_not_average_exactly() -> None:
    # np.mean([0.1] * 3) != 0.1, so a naive SST is ~1e-34 instead of 0 and R² explodes.
    y = np.full(3, 0.1)
    assert np.mean(y) != 0.1
    agg = regression_aggregate(y, y + 0.05)
    assert agg.m2_y == 0.0
    merged = agg.merge(regression_aggregate(np.full(4, 0.1), np.full(4, 0.1)))
    assert merged.m2_y == 0.0 and merged.mean_y == 0.1
    m = regression_metrics(merged)
    assert m is not None and m.r2 == 0.0
    m_perfect = regression_metrics(regression_aggregate(y, y.copy()))
    assert m_perfect is not None and m_perfect.r2 == 1.0


def test_single_pair_has_no_r2() -> None:
    m = regression_metrics(regression_aggregate(np.array([4.0]), np.array([1.0])))
    assert m == RegressionMetrics(mae=3.0, rmse=3.0, mape=0.75, r2=None)


def test_mape_with_zero_targets() -> None:
    rng = np.random.default_rng(11)
    y = rng.normal(0, 5, size=500)
    y[::25] = 0.0
    yhat = y + rng.normal(0, 1, size=500)
    m = regression_metrics(regression_aggregate(y, yhat))
    assert m is not None
    expected = mean_absolute_percentage_error(y, yhat)
    assert expected > 1e12  # the eps denominator dominates, as in sklearn
    assert m.mape == pytest.approx(expected, rel=REL)
    # A zero target predicted exactly contributes 0, not 0/0.
    exact = regression_metrics(regression_aggregate(np.array([0.0, 2.0]), np.array([0.0, 1.0])))
    assert exact is not None and exact.mape == pytest.approx(0.25, rel=REL)


def test_invalid_input_rejected() -> None:
    with pytest.raises(ValueError):
        regression_aggregate(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(ValueError):
        regression_aggregate(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
