"""Binning helpers against numpy's own histogram functions."""

from __future__ import annotations

import numpy as np
import pytest

from modeltower.drift import categorical_sample, numeric_sample
from modeltower.drift.binning import (
    aligned_counts,
    binned_proportions,
    fill_zeroes,
    histogram_counts,
    n_distinct_union,
    sturges_edges,
)


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(0).normal(size=1000),
        np.random.default_rng(1).lognormal(size=77),
        np.arange(25, dtype=float),
        np.array([5.0]),
        np.array([2.0, 2.0, 2.0]),
        np.array([0.0, 1e-12]),
        np.random.default_rng(2).integers(-50, 50, 123_457).astype(float),
    ],
)
def test_sturges_edges_equal_numpy(data: np.ndarray) -> None:
    expected = np.histogram_bin_edges(data, bins="sturges")
    assert np.array_equal(sturges_edges(data.min(), data.max(), data.size), expected)


def test_histogram_counts_equal_numpy_with_values_on_edges() -> None:
    edges = np.array([0.0, 1.0, 2.5, 4.0])
    # Values exactly on every edge, below and above the range.
    data = np.array([-1.0, 0.0, 0.0, 0.5, 1.0, 2.5, 2.5, 3.9, 4.0, 4.0, 7.0])
    counts = histogram_counts(numeric_sample(data), edges)
    assert counts.tolist() == np.histogram(data, edges)[0].tolist() == [3, 1, 5]


def test_histogram_counts_equal_numpy_on_sturges_edges() -> None:
    rng = np.random.default_rng(5)
    data = np.round(rng.normal(0, 3, 50_000), 1)  # many ties, values on edges
    edges = np.histogram_bin_edges(data, bins="sturges")
    assert np.array_equal(
        histogram_counts(numeric_sample(data), edges), np.histogram(data, edges)[0]
    )
    edges = np.linspace(-3, 3, 13)  # part of the data outside
    assert np.array_equal(
        histogram_counts(numeric_sample(data), edges), np.histogram(data, edges)[0]
    )


def test_aligned_counts() -> None:
    keys, rc, cc = aligned_counts(
        numeric_sample([1.0, 1.0, 3.0]), numeric_sample([2.0, 3.0, 3.0, 3.0])
    )
    assert keys.tolist() == [1.0, 2.0, 3.0]
    assert rc.tolist() == [2, 0, 1] and cc.tolist() == [0, 1, 3]
    keys, rc, cc = aligned_counts(
        categorical_sample(["b", "a"], [1, 2]), categorical_sample(["c"], [4])
    )
    assert keys.tolist() == ["a", "b", "c"]
    assert rc.tolist() == [2, 1, 0] and cc.tolist() == [0, 0, 4]
    with pytest.raises(ValueError, match="numeric sample with a categorical"):
        aligned_counts(numeric_sample([1.0]), categorical_sample(["a"], [1]))


def test_n_distinct_union() -> None:
    assert n_distinct_union(numeric_sample([1.0, 2.0, 2.0]), numeric_sample([2.0, 3.0])) == 3
    assert n_distinct_union(numeric_sample([5.0]), numeric_sample([1.0, 9.0])) == 3
    assert (
        n_distinct_union(categorical_sample(["a", "b"], [1, 1]), categorical_sample(["b"], [2]))
        == 2
    )


def test_fill_zeroes_is_evidentlys_rule() -> None:
    # min nonzero 0.25 > 1e-4: zeros become 1e-4.
    assert fill_zeroes(np.array([0.0, 0.25, 0.75])).tolist() == [1e-4, 0.25, 0.75]
    # min nonzero 5e-5 <= 1e-4: zeros become 5e-5 / 1e6.
    filled = fill_zeroes(np.array([0.0, 5e-5, 1 - 5e-5]))
    assert filled[0] == 5e-5 / 10**6


def test_binned_proportions_switches_at_20_distinct_reference_values() -> None:
    ref20 = numeric_sample(np.arange(20, dtype=float))
    ref21 = numeric_sample(np.arange(21, dtype=float))
    cur = numeric_sample(np.arange(5, 30, dtype=float))
    r, c = binned_proportions(ref20, cur, "numeric", feel_zeroes=False)
    assert r.size == 30  # one per value of the union
    r, c = binned_proportions(ref21, cur, "numeric", feel_zeroes=False)
    edges = np.histogram_bin_edges(
        np.concatenate((np.arange(21.0), np.arange(5.0, 30.0))), "sturges"
    )
    assert r.size == edges.size - 1
    assert np.allclose(r.sum(), 1) and np.allclose(c.sum(), 1)
