"""The latency sketch of the rollups: DDSketch-style log-spaced bins of relative accuracy
:data:`SKETCH_ALPHA`, and percentiles of any number of merged bin sets. Backend-neutral: both
stores bin latencies with the same arithmetic (their ``BIN_SQL``) and read them back here.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from modeltower.metrics.latency import PERCENTILES

SKETCH_ALPHA = 0.01  # a quantile from the sketch is within 1 % of the true value at its rank
_GAMMA = (1 + SKETCH_ALPHA) / (1 - SKETCH_ALPHA)
LN_GAMMA = math.log(_GAMMA)
ZERO_BIN = -(2**31)  # latencies of 0 (and below the smallest positive bin)
_Q = list(PERCENTILES.items())

Ints = npt.NDArray[np.int64]
Bins = tuple[Ints, Ints, Ints]


def as_bins(bk: Any, bins: Any, n: Any) -> Bins:
    """(bucket, bin, count) arrays of int64."""
    return (
        np.asarray(bk, dtype=np.int64),
        np.asarray(bins, dtype=np.int64),
        np.asarray(n, dtype=np.int64),
    )


def bins_of_rows(rows: list[tuple[Any, ...]]) -> Bins:
    """(bucket, bin, count) arrays from rows of those three."""
    if not rows:
        return as_bins([], [], [])
    # one flat pass over the integers: a month of hourly bins is ~100k rows, and unzipping them
    # into three sequences first took four times as long
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=3 * len(rows))
    table = flat.reshape(-1, 3)
    return table[:, 0], table[:, 1], table[:, 2]


def bin_values(b: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The values bins stand for: the point within SKETCH_ALPHA of everything in each."""
    out: npt.NDArray[np.float64] = np.where(
        b == ZERO_BIN, 0.0, 2 * np.power(_GAMMA, b.astype(np.float64)) / (_GAMMA + 1)
    )
    return out


def _by_bucket_and_bin(bk: Ints, bins: Ints, n: Ints) -> Bins:
    """The rows sorted by (bucket, bin). Both fit one 64-bit key (buckets count from 0, bins
    from ZERO_BIN), which sorts twice as fast as a lexsort of two, and not at all when the rows
    came in that order already (an index scan returns a month of hours so)."""
    if bk.min() < 0 or bk.max() >= 2**31:
        order = np.lexsort((bins, bk))
        return bk[order], bins[order], n[order]
    key = (bk << 32) | (bins - ZERO_BIN)
    if np.all(key[1:] >= key[:-1]):
        return bk, bins, n
    order = np.argsort(key)
    return bk[order], bins[order], n[order]


def sketch_quantiles(*parts: Bins) -> dict[int, dict[str, float]]:
    """p50 … p99 per bucket from sketch bins (any number of parts, a (bucket, bin) pair may
    repeat): the bin holding the value at rank ⌊q·(n−1)⌋ of the bucket's n latencies."""
    bk = np.concatenate([p[0] for p in parts])
    bins = np.concatenate([p[1] for p in parts])
    n = np.concatenate([p[2] for p in parts])
    keep = n > 0
    bk, bins, n = bk[keep], bins[keep], n[keep]
    if bk.size == 0:
        return {}
    bk, bins, n = _by_bucket_and_bin(bk, bins, n)
    cum = np.cumsum(n)
    starts = np.flatnonzero(np.r_[True, bk[1:] != bk[:-1]])
    total = np.add.reduceat(n, starts)
    before = cum[starts] - n[starts]
    values = {}
    for name, q in _Q:
        rank = np.floor(q * (total - 1).astype(np.float64)).astype(np.int64)
        values[name] = bin_values(bins[np.searchsorted(cum, before + rank, side="right")])
    return {
        int(k): {name: float(v[i]) for name, v in values.items()} for i, k in enumerate(bk[starts])
    }
