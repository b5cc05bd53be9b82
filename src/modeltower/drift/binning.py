"""Binning helpers shared by the statistics, reproducing Evidently 0.7.23's legacy
``get_binned_data`` and the numpy histograms it relies on.

Everything works on :class:`~modeltower.drift.sample.Sample` keys and counts. Because the keys are
sorted, a histogram on given edges is a handful of binary searches into the keys instead of a pass
over (and, inside ``np.histogram``, a sort of) every value, which is where most of the speed of
this package comes from.
"""

from __future__ import annotations

import numpy as np

from modeltower.drift.sample import FeatureType, Sample

__all__ = [
    "EVIDENTLY_KEYED_MAX_DISTINCT",
    "aligned_counts",
    "binned_proportions",
    "fill_zeroes",
    "histogram_counts",
    "merged_ecdfs",
    "n_distinct_union",
    "sturges_edges",
]

# get_binned_data histograms a numeric feature only when the reference has more distinct values
# than this; with fewer it compares value by value.
EVIDENTLY_KEYED_MAX_DISTINCT = 20


def sturges_edges(lo: float, hi: float, size: int) -> np.ndarray:
    """``np.histogram_bin_edges(a, bins="sturges")`` for float data with min ``lo``, max ``hi``
    and ``size`` elements, without the data.

    Mirrors numpy's ``_get_bin_edges``: width = ptp / (log2(size) + 1), number of bins =
    ceil(range / width), a degenerate range widened by 0.5 on each side, edges by ``linspace``.
    """
    if size < 1:
        raise ValueError("sturges edges need at least one value")
    first, last = float(lo), float(hi)
    width = (last - first) / (np.log2(size) + 1.0)
    if first == last:
        first, last = first - 0.5, last + 0.5
    n_bins = int(np.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, n_bins + 1)


def histogram_counts(sample: Sample, edges: np.ndarray) -> np.ndarray:
    """Counts of ``np.histogram(values, edges)``: bins ``[e_i, e_i+1)``, the last one closed.

    Values outside ``[edges[0], edges[-1]]`` are not counted, as in numpy.
    """
    cum = np.concatenate(([0], np.cumsum(sample.counts)))
    below = cum[np.searchsorted(sample.keys, edges[:-1], side="left")]
    through_last = cum[np.searchsorted(sample.keys, edges[-1:], side="right")]
    return np.diff(np.concatenate((below, through_last)))


def _is_numeric_keys(keys: np.ndarray) -> bool:
    return keys.dtype.kind == "f"


def aligned_counts(reference: Sample, current: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of the keys of both samples (sorted) with each sample's count per key (0 if absent)."""
    rk, ck = reference.keys, current.keys
    if _is_numeric_keys(rk) != _is_numeric_keys(ck):
        raise ValueError("cannot compare a numeric sample with a categorical one")
    if _is_numeric_keys(rk):
        keys = np.union1d(rk, ck)
        rc = np.zeros(keys.size, dtype=np.int64)
        cc = np.zeros(keys.size, dtype=np.int64)
        rc[np.searchsorted(keys, rk)] = reference.counts
        cc[np.searchsorted(keys, ck)] = current.counts
        return keys, rc, cc
    ordered = sorted(set(rk.tolist()) | set(ck.tolist()))
    index = {k: i for i, k in enumerate(ordered)}
    keys = np.empty(len(ordered), dtype=object)
    keys[:] = ordered
    rc = np.zeros(len(ordered), dtype=np.int64)
    cc = np.zeros(len(ordered), dtype=np.int64)
    rc[[index[k] for k in rk.tolist()]] = reference.counts
    cc[[index[k] for k in ck.tolist()]] = current.counts
    return keys, rc, cc


def n_distinct_union(reference: Sample, current: Sample) -> int:
    """Number of distinct values in both samples together."""
    rk, ck = reference.keys, current.keys
    if _is_numeric_keys(rk) and _is_numeric_keys(ck):
        if rk.size == 0 or ck.size == 0:
            return int(rk.size + ck.size)
        pos = np.minimum(np.searchsorted(rk, ck), rk.size - 1)
        common = int(np.count_nonzero(rk[pos] == ck))
        return int(rk.size + ck.size - common)
    return len(set(rk.tolist()) | set(ck.tolist()))


def fill_zeroes(percents: np.ndarray) -> np.ndarray:
    """Evidently's ``feel_zeroes``: zero proportions become min(nonzero)/1e6 when that minimum is
    at most 1e-4, else 1e-4, so that logarithms (PSI, KL) stay finite."""
    out = np.array(percents, dtype=np.float64)
    zero = out == 0
    if zero.any() and not zero.all():
        smallest = float(out[~zero].min())
        out[zero] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return out


def binned_proportions(
    reference: Sample, current: Sample, feature_type: FeatureType, *, feel_zeroes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's ``get_binned_data``: proportions of each sample per bin or per value.

    Numeric features whose reference has more than 20 distinct values are histogrammed on the
    Sturges edges of reference and current together; everything else is compared per value over
    the union of the values of both samples.
    """
    if (
        feature_type == "numeric"
        and reference.is_numeric
        and reference.keys.size > EVIDENTLY_KEYED_MAX_DISTINCT
    ):
        lo = min(reference.keys[0], current.keys[0])
        hi = max(reference.keys[-1], current.keys[-1])
        edges = sturges_edges(lo, hi, reference.n + current.n)
        ref_pct = histogram_counts(reference, edges) / reference.n
        cur_pct = histogram_counts(current, edges) / current.n
    else:
        _, rc, cc = aligned_counts(reference, current)
        ref_pct = rc / reference.n
        cur_pct = cc / current.n
    if feel_zeroes:
        ref_pct, cur_pct = fill_zeroes(ref_pct), fill_zeroes(cur_pct)
    return ref_pct, cur_pct


def merged_ecdfs(reference: Sample, current: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The difference of the two empirical CDFs on the merged distinct values of two numeric
    samples.

    Returns ``(grid, scaled_diff, step)``: the keys of both samples merged in order (a value
    present in both appears twice, the reference's copy first); ``n_cur·c_ref − n_ref·c_cur``
    where c are the numbers of reference and current values ``<=`` each grid point, i.e.
    ``F_ref − F_cur`` times ``n_ref·n_cur``, kept in exact integers; and the gap to the next grid
    point (0 after the first copy of a shared value, where the current count is not complete
    yet; the last gap is 0).

    The keys are already sorted, so a stable argsort of their concatenation is a merge of two
    runs (timsort), linear time, instead of the full sorts scipy does on raw data; signed weights
    make one cumulative sum carry both CDFs.
    """
    n_ref_keys = reference.keys.size
    all_keys = np.concatenate((reference.keys, current.keys))
    order = np.argsort(all_keys, kind="stable")
    # In-place steps where possible: these arrays are as long as both samples, and fresh large
    # allocations cost page faults comparable to the arithmetic itself.
    weights = np.empty(all_keys.size, dtype=np.int64)
    np.multiply(reference.counts, current.n, out=weights[:n_ref_keys])
    np.multiply(current.counts, -reference.n, out=weights[n_ref_keys:])
    scaled_diff = weights[order]
    np.cumsum(scaled_diff, out=scaled_diff)
    grid = all_keys[order]
    step = np.empty(grid.size, dtype=np.float64)
    np.subtract(grid[1:], grid[:-1], out=step[:-1])
    step[-1:] = 0.0
    return grid, scaled_diff, step
