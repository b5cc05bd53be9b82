"""sketch_quantiles against the definition: per bucket, the bin value at rank ⌊q·(n−1)⌋ of
the bucket's latencies, whatever order the (bucket, bin) rows come in and however they repeat."""

from __future__ import annotations

import numpy as np

from modeltower.metrics.latency import PERCENTILES
from modeltower.store.latency_sketch import ZERO_BIN, as_bins, bin_values, sketch_quantiles


def _reference(bk: np.ndarray, bins: np.ndarray, n: np.ndarray) -> dict[int, dict[str, float]]:
    out = {}
    for b in np.unique(bk[n > 0]):
        sel = (bk == b) & (n > 0)
        values = np.sort(np.repeat(bin_values(bins[sel]), n[sel]))
        out[int(b)] = {
            name: float(values[int(np.floor(q * (len(values) - 1)))])
            for name, q in PERCENTILES.items()
        }
    return out


def test_quantiles_in_any_row_order_equal_the_definition() -> None:
    rng = np.random.default_rng(5)
    rows = 5_000
    bk = rng.integers(0, 40, rows)
    bins = rng.integers(-150, 400, rows)
    bins[rng.random(rows) < 0.05] = ZERO_BIN  # latencies of 0
    n = rng.integers(0, 6, rows)
    sorted_order = np.lexsort((bins, bk))
    cases = {
        "shuffled": np.arange(rows),
        "sorted": sorted_order,  # as an index scan returns them (no sort needed)
        "sorted, then an edge part": np.r_[sorted_order[100:], sorted_order[:100]],
    }
    want = _reference(bk, bins, n)
    assert len(want) == 40
    for name, order in cases.items():
        got = sketch_quantiles(as_bins(bk[order], bins[order], n[order]))
        assert got == want, name
    # several parts whose (bucket, bin) pairs repeat
    half = rows // 2
    parts = [as_bins(bk[:half], bins[:half], n[:half]), as_bins(bk[half:], bins[half:], n[half:])]
    assert sketch_quantiles(*parts) == want
    # buckets far from 0, and buckets far apart from each other
    far = bk + 2**40
    got = sketch_quantiles(as_bins(far, bins, n))
    assert got == {k + 2**40: v for k, v in want.items()}
    apart = bk * 2**33
    got = sketch_quantiles(as_bins(apart, bins, n))
    assert got == {k * 2**33: v for k, v in want.items()}


def test_a_wide_range_of_bins_over_many_buckets_is_taken_a_slice_at_a_time() -> None:
    # microseconds to hours in one bucket set: ~1,700 bins x 5,000 buckets, 8.5M cells
    rng = np.random.default_rng(9)
    rows = 40_000
    bk = rng.integers(0, 5_000, rows)
    bins = rng.integers(-345, 1_400, rows)
    bins[:50] = ZERO_BIN
    bins[50:60] = [-345, 1_399] * 5
    n = rng.integers(1, 4, rows)
    got = sketch_quantiles(as_bins(bk, bins, n))
    assert got == _reference(bk, bins, n)
    assert len(got) > 4_900


def test_negative_counts_subtract_from_the_rows_they_repeat() -> None:
    # what a complemented edge reads (rollup_plan.SketchPlan.minus): a unit's bins whole, and
    # negated the bins of its raw events outside the window
    rng = np.random.default_rng(9)
    rows = 3_000
    bk = rng.integers(0, 20, rows)
    bins = rng.integers(-50, 300, rows)
    n = rng.integers(1, 6, rows)
    want = _reference(bk, bins, n)
    outside = rng.integers(0, 4, rows)  # more of the same bins, to be taken away again
    whole = as_bins(bk, bins, n + outside)
    minus = as_bins(bk, bins, -outside)
    assert sketch_quantiles(whole, minus) == want
    assert sketch_quantiles(minus, whole) == want
    # a bucket left with nothing has no percentiles
    gone = as_bins(bk[bk == 3], bins[bk == 3], -(n + outside)[bk == 3])
    assert 3 not in sketch_quantiles(whole, minus, gone)
    assert sketch_quantiles(whole, minus) != sketch_quantiles(whole)
