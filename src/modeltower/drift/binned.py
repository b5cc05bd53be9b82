"""Approximate drift scores from histograms, for the drift trend.

The service keeps, per feature and per time bucket, a histogram on bins fixed by the reference,
and draws the trend of the drift score from those histograms alone, without raw values:

* numeric features with more than 20 distinct reference values: counts on the bins of
  :func:`reference_edges` (assign values with :func:`bin_index`), plus the minimum and maximum;
* every other feature: counts per value (numeric values keyed by :func:`numeric_key`).

Value-keyed histograms hold the whole sample, so every score computed from them is exact. On
numeric bins each histogram is turned into a CDF that is exact at every bin edge: values spread
uniformly inside each bin, one-value bins ``[v, v⁺)`` as point masses, and in the two outer bins
(values beyond the reference range) an exponential decay from the range boundary, truncated at
the observed extreme, which is a point mass of its own. Then:

* ``wasserstein``: ∫|F_ref − F_cur| dx of those CDFs (exact for the linear parts, on a fine grid
  in the outer bins), divided by the exact reference standard deviation;
* ``ks``: D = max |F_ref − F_cur| over the grid, p-value by the asymptotic
  ``kstwo.sf(D, round(n₁n₂/(n₁+n₂)))``;
* ``psi``, ``kl_div``, ``jensenshannon``, ``hellinger``: proportions on the very Sturges bins the
  exact statistic uses (they depend only on the minimum, the maximum and the sizes), read from the
  CDFs, then the exact formulas with the same zero filling;
* ``chi2``, ``chi2_gof``, ``z``: on the bin counts as categories, adjacent bins merged until each
  holds at least 5 reference values.

docs/DRIFT.md gives the measured error of these approximations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

from modeltower.drift.binning import EVIDENTLY_KEYED_MAX_DISTINCT, fill_zeroes, sturges_edges
from modeltower.drift.chi2 import chi2_from_counts
from modeltower.drift.chi2_gof import chi2_gof_from_counts
from modeltower.drift.hellinger import hellinger_from_proportions
from modeltower.drift.ks import ks_asymptotic_p
from modeltower.drift.registry import get_stattest
from modeltower.drift.sample import (
    FeatureType,
    Sample,
    categorical_sample,
    numeric_sample_from_counts,
)
from modeltower.drift.select import check_method
from modeltower.drift.wasserstein import MIN_STD
from modeltower.drift.z import z_from_counts

__all__ = [
    "BinnedSample",
    "bin_index",
    "binned_ks_statistic",
    "binned_sample",
    "binned_score",
    "numeric_key",
    "reference_edges",
]

DEFAULT_MAX_BINS = 64


def _after(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x, np.inf)


def reference_edges(ref: Sample, max_bins: int = DEFAULT_MAX_BINS) -> np.ndarray | None:
    """Interior edges of the bins of a numeric reference, or ``None`` (histogram by value).

    ``None`` for categorical and boolean features and for numeric ones with at most 20 distinct
    reference values: those are histogrammed by value, which is exact and is how the exact
    statistics bin them. Otherwise the edges are strictly increasing; a value equal to an edge
    belongs to the bin above it, and ``v⁺`` below means the next float after ``v``, so the bin
    ``[v, v⁺)`` holds exactly the value ``v`` (a point mass):

    * with at most ``max_bins`` distinct values (e.g. integer-valued features), the edges
      ``v, v⁺`` of every distinct value ``v``: a bin per value and a bin for the gap between
      consecutive values, so that values repeated from the reference are counted exactly (at most
      ``2·max_bins + 1`` bins);
    * otherwise the quantiles i/B, i = 1..B−1, of B = ``max_bins`` − 2·(max_bins // 8)
      equal-frequency bins; ``max_bins // 8`` more edges in each tail at the quantiles 2⁻ᵏ/B and
      1 − 2⁻ᵏ/B, so that the outermost bins, whose values the approximation spreads up to the
      minimum or maximum, hold little mass even for long-tailed data; ``v, v⁺`` for each value
      holding more than 1/B of the data (a point mass stays a point mass); and the reference
      minimum and maximum⁺, so that current values outside the reference range have outer bins of
      their own. That is about ``max_bins`` bins, plus two per heavy value.
    """
    if max_bins < 8:
        raise ValueError("max_bins must be at least 8")
    if not ref.is_numeric or ref.keys.size <= EVIDENTLY_KEYED_MAX_DISTINCT:
        return None
    keys = ref.keys
    if keys.size <= max_bins:
        return np.unique(np.concatenate((keys, _after(keys))))
    n_tail = max_bins // 8
    n_equal = max_bins - 2 * n_tail
    tail = 2.0 ** -np.arange(1, n_tail + 1) / n_equal
    levels = np.concatenate((tail, np.arange(1, n_equal) / n_equal, 1.0 - tail))
    # The value at rank floor(level·n) (0-based), found on the cumulative counts.
    ranks = np.minimum(np.floor(levels * ref.n), ref.n - 1)
    edges = keys[np.searchsorted(np.cumsum(ref.counts), ranks, side="right")]
    heavy = keys[ref.counts * n_equal > ref.n]
    extra = np.concatenate((heavy, _after(heavy), keys[:1], _after(keys[-1:])))
    return np.union1d(edges, extra)


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: 0 below ``edges[0]``, i for ``edges[i-1] <= v < edges[i]``, and
    ``len(edges)`` at or above the last edge (sorted or unsorted input)."""
    return np.searchsorted(edges, values, side="right")


def numeric_key(value: float) -> str:
    """Text key of a numeric value in a value-keyed histogram (``repr`` round-trips floats)."""
    return repr(float(value))


@dataclass(frozen=True, eq=False)
class BinnedSample:
    """Histogram of one feature in one dataset (the reference, or one time bucket).

    ``counts`` has ``len(edges) + 1`` entries for binned numeric features, else one per entry of
    ``keys``; ``lo``/``hi`` are the minimum and maximum value of a binned numeric feature (they
    bound the outer bins) and ``None`` otherwise.
    """

    n: int
    counts: np.ndarray
    keys: list[str] | None
    lo: float | None
    hi: float | None


def binned_sample(sample: Sample, edges: np.ndarray | None) -> BinnedSample:
    """The histogram the service stores for ``sample`` (bins of ``edges``, or per value)."""
    if edges is None:
        if sample.is_numeric:
            keys = [numeric_key(k) for k in sample.keys.tolist()]
        else:
            keys = [str(k) for k in sample.keys.tolist()]
        return BinnedSample(sample.n, sample.counts.copy(), keys, None, None)
    if not sample.is_numeric:
        raise ValueError("edges apply to numeric samples only")
    cum = np.concatenate(([0], np.cumsum(sample.counts)))
    below = cum[np.searchsorted(sample.keys, edges, side="left")]
    counts = np.diff(np.concatenate(([0], below, [sample.n])))
    if sample.n == 0:
        return BinnedSample(0, counts, None, None, None)
    return BinnedSample(sample.n, counts, None, float(sample.keys[0]), float(sample.keys[-1]))


# --------------------------------------------------------------------------------------------
# CDF of a histogram
# --------------------------------------------------------------------------------------------

_TAIL_POINTS = 128  # grid points across an outer bin, where the CDF is not linear


class _BinnedCdf:
    """CDF of a histogram, in counts (exactly 0 below and n above the data).

    Inner bins: values spread uniformly over the bin clipped to [lo, hi]; a support of zero width
    (a constant sample) or of one float (``[v, v⁺)`` of :func:`reference_edges`) is a point mass.

    Outer bins (below ``edges[0]``, at or above ``edges[-1]``, i.e. beyond the reference range):
    spreading their values uniformly up to the extreme value badly overstates how far they reach
    when the tail is long (one outlier stretches the bin). Instead the extreme value (``lo`` or
    ``hi``, known exactly) is a point mass and the other values follow an exponential decay away
    from the range, truncated at the extreme, whose scale makes the density at the range boundary
    equal to that of the adjacent inner bin (scale = tail count / boundary density: the mean
    excess of an exponential tail). Without a usable adjacent bin the decay is flat (uniform).
    """

    def __init__(self, sample: BinnedSample, edges: np.ndarray) -> None:
        if sample.lo is None or sample.hi is None:
            raise ValueError("a binned numeric histogram needs lo and hi")
        if sample.counts.size != edges.size + 1:
            raise ValueError(f"expected {edges.size + 1} bin counts, got {sample.counts.size}")
        counts = sample.counts.astype(np.float64)
        lower = np.maximum(np.concatenate(([-np.inf], edges)), sample.lo)
        upper = np.minimum(np.concatenate((edges, [np.inf])), sample.hi)
        nonempty = counts > 0
        if (lower[nonempty] > upper[nonempty]).any():
            raise ValueError("lo/hi are inconsistent with the bin counts")
        self.n = sample.n
        self.lo, self.hi = float(sample.lo), float(sample.hi)
        self.edges = edges
        point = upper <= _after(lower)
        inner = nonempty.copy()
        inner[[0, -1]] = False
        self.a, self.b, self.counts = lower[inner], upper[inner], counts[inner]
        self.width = self.b - self.a
        self.point = point[inner]
        # (count, width, scale) of the outer bins; scale = inf is a flat spread.
        # The inner bins next to each outer one, skipping one-value bins (a reference extreme).
        spread_bins = np.flatnonzero(~point[1:-1]) + 1
        first = int(spread_bins[0]) if spread_bins.size else 0
        last = int(spread_bins[-1]) if spread_bins.size else 0
        self.below = self._tail(
            counts[0], edges[0] - self.lo, counts[first], lower[first], upper[first]
        )
        self.above = self._tail(
            counts[-1], self.hi - edges[-1], counts[last], lower[last], upper[last]
        )
        # Distinct values known: one per point mass (and per extreme), at most the count of every
        # spread bin (as for continuous data).
        points = self.a[self.point].tolist()
        spread = float(self.counts[~self.point].sum())
        for (c, _w, _s), extreme in ((self.below, self.lo), (self.above, self.hi)):
            if c > 0:
                points.append(extreme)
                spread += c - 1
        self.point_values = np.array(points, dtype=np.float64)
        self.spread_count = int(spread)

    @staticmethod
    def _tail(
        count: float, width: float, adj_count: float, adj_lo: float, adj_hi: float
    ) -> tuple[float, float, float]:
        spread = count - 1  # the extreme value itself is a point mass
        scale = np.inf
        adj_width = adj_hi - adj_lo
        if spread > 0 and adj_count > 0 and adj_width > 0 and adj_hi > np.nextafter(adj_lo, np.inf):
            scale = spread / (adj_count / adj_width)
        return float(count), float(max(width, 0.0)), float(scale)

    @staticmethod
    def _truncated_exp(t: np.ndarray, width: float, scale: float) -> np.ndarray:
        """CDF on [0, width] of an exponential of ``scale`` truncated at ``width``."""
        t = np.clip(t, 0.0, width)
        if width <= 0:
            return np.ones_like(t)
        if not np.isfinite(scale) or width / scale < 1e-9:
            return t / width
        return np.expm1(-t / scale) / np.expm1(-width / scale)

    def count_below(self, x: np.ndarray, *, inclusive: bool) -> np.ndarray:
        """Number of values ``<= x`` (``inclusive``) or ``< x``, at each point of ``x``."""
        xs = x[:, None]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            frac = np.clip((xs - self.a) / self.width, 0.0, 1.0)
        mass = (xs >= self.a) if inclusive else (xs > self.a)
        total = np.where(self.point, mass, frac) @ self.counts
        c, w, scale = self.below
        if c > 0:
            start = self.edges[0]
            extreme = (x >= self.lo) if inclusive else (x > self.lo)
            beyond = 1.0 - self._truncated_exp(start - x, w, scale)
            total += np.where(x >= start, c, (c - 1) * beyond + extreme)
        c, w, scale = self.above
        if c > 0:
            start = self.edges[-1]
            extreme = (x >= self.hi) if inclusive else (x > self.hi)
            if w > 0:
                inside = (c - 1) * self._truncated_exp(x - start, w, scale) + extreme
                total += np.where(x < start, 0.0, inside)
            else:  # every value of the bin equals its lower edge
                total += c * extreme
        return total

    def tail_grid(self) -> np.ndarray:
        """Points across the outer bins, fine enough for the curved CDF there."""
        parts = [np.array([self.lo, self.hi])]
        for (c, w, scale), start, sign in (
            (self.below, self.edges[0], -1.0),
            (self.above, self.edges[-1], 1.0),
        ):
            if c > 0 and w > 0:
                t = np.linspace(0.0, 1.0, _TAIL_POINTS) * w
                if np.isfinite(scale):
                    t = np.concatenate((t, np.minimum(scale * np.linspace(0, 8, _TAIL_POINTS), w)))
                parts.append(start + sign * t)
        return np.concatenate(parts)


def _integral_abs_linear(d0: np.ndarray, d1: np.ndarray, h: np.ndarray) -> float:
    """Σ ∫ over each interval of |d| for d linear from d0 to d1 across width h."""
    a0, a1 = np.abs(d0), np.abs(d1)
    same_sign = d0 * d1 >= 0
    total = a0 + a1
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(total > 0, (d0 * d0 + d1 * d1) / (2 * total), 0.0)
    return float(np.sum(h * np.where(same_sign, total / 2, crossing)))


def _cdf_differences(
    ref: _BinnedCdf, cur: _BinnedCdf, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid of all bin ends (and points across the outer bins), and F_ref − F_cur at each grid
    point as left limits and as (right-continuous) values."""
    grid = np.unique(
        np.concatenate((edges, ref.a, ref.b, cur.a, cur.b, ref.tail_grid(), cur.tail_grid()))
    )
    lo, hi = min(ref.lo, cur.lo), max(ref.hi, cur.hi)
    grid = grid[(grid >= lo) & (grid <= hi)]
    left = (
        ref.count_below(grid, inclusive=False) / ref.n
        - cur.count_below(grid, inclusive=False) / cur.n
    )
    right = (
        ref.count_below(grid, inclusive=True) / ref.n
        - cur.count_below(grid, inclusive=True) / cur.n
    )
    return grid, left, right


def _sturges_proportions(
    ref: _BinnedCdf, cur: _BinnedCdf, lo: float, hi: float, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Proportions of each sample on Sturges edges over [lo, hi], like ``np.histogram``: bins
    [s_i, s_i+1), the last one closed."""
    edges = sturges_edges(lo, hi, size)
    out = []
    for cdf in (ref, cur):
        below = cdf.count_below(edges, inclusive=False)
        below[-1] = cdf.count_below(edges[-1:], inclusive=True)[0]
        out.append(np.diff(below) / cdf.n)
    return out[0], out[1]


# The usual rule of thumb for chi-square tests: at least 5 expected values per cell.
_MIN_CELL = 5


def _merge_small_bins(
    ref_counts: np.ndarray, cur_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge adjacent bins, left to right, until each holds at least 5 reference values (a short
    remainder joins the last group). The finest tail bins and the bins outside the reference
    range hold few or no reference values; as cells of their own they would dominate the
    statistic with noise."""
    cum = np.cumsum(ref_counts)
    # A short loop: there are at most ~130 bins.
    ends = []
    start_total = 0
    for i, total in enumerate(cum.tolist()):
        if total - start_total >= _MIN_CELL:
            ends.append(i + 1)
            start_total = total
    if not ends:
        ends = [ref_counts.size]
    ends[-1] = ref_counts.size
    starts = [0, *ends[:-1]]
    return np.add.reduceat(ref_counts, starts), np.add.reduceat(cur_counts, starts)


def binned_ks_statistic(ref: BinnedSample, cur: BinnedSample, edges: np.ndarray) -> float:
    """Approximate KS statistic D = max |F_ref − F_cur| of two numeric histograms on ``edges``."""
    _, left, right = _cdf_differences(_BinnedCdf(ref, edges), _BinnedCdf(cur, edges), edges)
    return float(max(np.abs(left).max(), np.abs(right).max()))


def _numeric_binned_score(
    method: str,
    ref: BinnedSample,
    cur: BinnedSample,
    edges: np.ndarray,
    ref_std: float | None,
) -> float:
    ref_cdf, cur_cdf = _BinnedCdf(ref, edges), _BinnedCdf(cur, edges)
    if method in ("wasserstein", "ks"):
        grid, left, right = _cdf_differences(ref_cdf, cur_cdf, edges)
        if method == "ks":
            d = float(max(np.abs(left).max(), np.abs(right).max()))
            return ks_asymptotic_p(d, ref.n, cur.n)
        w = _integral_abs_linear(right[:-1], left[1:], np.diff(grid))
        if ref_std is None:
            raise ValueError("wasserstein on binned data needs the reference standard deviation")
        return w / max(ref_std, MIN_STD)
    if method in ("psi", "kl_div", "jensenshannon", "hellinger"):
        lo, hi = min(ref_cdf.lo, cur_cdf.lo), max(ref_cdf.hi, cur_cdf.hi)
        if method == "hellinger":
            # Evidently sizes these Sturges bins by the number of distinct values: point masses
            # count once, spread bins as if their values were all distinct (continuous data).
            points = np.union1d(ref_cdf.point_values, cur_cdf.point_values).size
            distinct = points + ref_cdf.spread_count + cur_cdf.spread_count
            ref_pct, cur_pct = _sturges_proportions(ref_cdf, cur_cdf, lo, hi, distinct)
            return hellinger_from_proportions(ref_pct, cur_pct)
        ref_pct, cur_pct = _sturges_proportions(ref_cdf, cur_cdf, lo, hi, ref.n + cur.n)
        if method == "jensenshannon":
            return float(distance.jensenshannon(ref_pct, cur_pct))
        ref_pct, cur_pct = fill_zeroes(ref_pct), fill_zeroes(cur_pct)
        if method == "kl_div":
            return float(stats.entropy(ref_pct, cur_pct))
        return float(np.sum((ref_pct - cur_pct) * np.log(ref_pct / cur_pct)))
    # chi2, chi2_gof, z: the bins are the categories, merged so that each holds enough
    # reference values for the chi-square approximation.
    rc, cc = _merge_small_bins(ref.counts, cur.counts)
    if method == "chi2":
        return chi2_from_counts(rc, cc)
    if method == "chi2_gof":
        return chi2_gof_from_counts(rc, cc)
    return z_from_counts(rc, cc)


def _keyed_sample(sample: BinnedSample, feature_type: FeatureType) -> Sample:
    if sample.keys is None or len(sample.keys) != sample.counts.size:
        raise ValueError("a value-keyed histogram needs one key per count")
    if feature_type == "numeric":
        return numeric_sample_from_counts([float(k) for k in sample.keys], sample.counts)
    return categorical_sample(sample.keys, sample.counts)


def binned_score(
    method: str,
    ref: BinnedSample,
    cur: BinnedSample,
    edges: np.ndarray | None,
    ref_std: float | None,
    feature_type: FeatureType,
    threshold: float,
) -> tuple[float, bool]:
    """Score and verdict of ``method`` from two histograms.

    ``edges`` is what :func:`reference_edges` returned for the reference (``None``: both
    histograms are keyed by value and the result is exact). ``ref_std`` is the standard deviation
    of the raw reference values, needed by ``wasserstein`` on numeric bins.
    """
    check_method(method, feature_type)
    test = get_stattest(method)
    if ref.n == 0 or cur.n == 0:
        raise ValueError(f"{method}: a histogram holds no values")
    if edges is None:
        return test.func(
            _keyed_sample(ref, feature_type),
            _keyed_sample(cur, feature_type),
            feature_type,
            threshold,
        )
    if feature_type != "numeric":
        raise ValueError("bin edges apply to numeric features only")
    score = _numeric_binned_score(method, ref, cur, edges, ref_std)
    if test.kind == "distance":
        return score, score >= threshold
    # ks compares with <=, the other p-value tests with <, as their exact versions do.
    return score, (score <= threshold) if method == "ks" else (score < threshold)
