"""Samples: cleaning, sorting and value counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modeltower.drift import (
    categorical_from_values,
    categorical_sample,
    numeric_sample,
    numeric_sample_from_counts,
)


def test_numeric_sample_drops_non_finite_and_sorts() -> None:
    s = numeric_sample(np.array([3.0, np.nan, 1.0, np.inf, 2.0, -np.inf, 1.0]))
    assert s.n == 4
    assert s.values is not None
    assert s.values.tolist() == [1.0, 1.0, 2.0, 3.0]
    assert s.keys.tolist() == [1.0, 2.0, 3.0]
    assert s.counts.tolist() == [2, 1, 1]
    assert s.counts.dtype == np.int64
    assert s.is_numeric


@pytest.mark.parametrize("distinct", [3, 50, 10_000])
def test_numeric_keys_and_counts_equal_np_unique(distinct: int) -> None:
    rng = np.random.default_rng(distinct)
    values = rng.integers(0, distinct, 20_000).astype(float)
    s = numeric_sample(values)
    keys, counts = np.unique(values, return_counts=True)
    assert np.array_equal(s.keys, keys)
    assert np.array_equal(s.counts, counts)
    assert s.counts.sum() == s.n == values.size


def test_numeric_sample_continuous_and_ints() -> None:
    s = numeric_sample(np.random.default_rng(1).normal(size=1000))
    assert s.keys.size == 1000 and (s.counts == 1).all()
    assert numeric_sample([3, 1, 2]).values.tolist() == [1.0, 2.0, 3.0]  # type: ignore[union-attr]


def test_numeric_sample_assume_sorted() -> None:
    s = numeric_sample(np.array([1.0, 2.0, 2.0, 5.0]), assume_sorted=True)
    assert s.keys.tolist() == [1.0, 2.0, 5.0]
    with pytest.raises(ValueError, match="not sorted"):
        numeric_sample(np.array([2.0, 1.0]), assume_sorted=True)


def test_empty_numeric_sample() -> None:
    s = numeric_sample(np.array([np.nan]))
    assert s.n == 0 and s.keys.size == 0 and s.counts.size == 0


def test_numeric_sample_from_counts_merges_and_drops() -> None:
    s = numeric_sample_from_counts([2.0, 1.0, 2.0, np.nan, 7.0], [3, 1, 2, 5, 0])
    assert s.values is None
    assert s.keys.tolist() == [1.0, 2.0]
    assert s.counts.tolist() == [1, 5]
    assert s.n == 6
    assert s.sorted_values().tolist() == [1.0, 2.0, 2.0, 2.0, 2.0, 2.0]


def test_std_from_counts_equals_np_std() -> None:
    values = np.random.default_rng(3).integers(0, 7, 999).astype(float)
    s = numeric_sample(values)
    counted = numeric_sample_from_counts(s.keys, s.counts)
    assert s.std() == float(np.std(values))
    assert math.isclose(counted.std(), float(np.std(values)), rel_tol=1e-12)


def test_categorical_from_values() -> None:
    values = np.array(["b", "a", None, "b", float("nan"), "c", "b"], dtype=object)
    s = categorical_from_values(values)
    assert s.values is None and not s.is_numeric
    assert s.keys.dtype == object
    assert s.keys.tolist() == ["a", "b", "c"]
    assert s.counts.tolist() == [1, 3, 1]
    assert s.n == 5


def test_booleans_become_json_text() -> None:
    s = categorical_from_values(np.array([True, False, True, None], dtype=object))
    assert s.keys.tolist() == ["false", "true"]
    assert s.counts.tolist() == [1, 2]


def test_categorical_sample_from_counts() -> None:
    s = categorical_sample(["x", "y", "x", "z"], [2, 0, 3, 1])
    assert s.keys.tolist() == ["x", "z"]
    assert s.counts.tolist() == [5, 1]
    with pytest.raises(ValueError):
        categorical_sample(["x"], [1, 2])
    with pytest.raises(ValueError):
        categorical_sample(["x"], [-1])
