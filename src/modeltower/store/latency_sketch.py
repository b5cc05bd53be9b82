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


# Cells (buckets x bins) of the count matrix sketch_quantiles() fills at a time: 8 MB of
# int64 counts, whatever the number of buckets.
_CELLS = 1 << 20


def _dense_buckets(bk: Ints) -> tuple[Ints, Ints]:
    """Bucket codes 0..k-1 and the bucket of each code: the offsets from the smallest bucket
    when they are dense (timeseries buckets are), else the ranks of the distinct buckets."""
    lo = int(bk.min())
    span = int(bk.max()) - lo + 1
    if span <= max(2 * bk.size, 1024):
        return bk - lo, np.arange(lo, lo + span, dtype=np.int64)
    keys, codes = np.unique(bk, return_inverse=True)
    return codes.astype(np.int64).reshape(-1), keys.astype(np.int64)


def sketch_quantiles(*parts: Bins) -> dict[int, dict[str, float]]:
    """p50 … p99 per bucket from sketch bins (any number of parts, a (bucket, bin) pair may
    repeat): the bin holding the value at rank ⌊q·(n−1)⌋ of the bucket's n latencies.

    The counts go into a (bucket x bin) matrix by one bincount, whose cumulative sums along the
    bins give every rank at once: no sort of the rows (a month of hourly bins is ~150k of them,
    and sorting them cost more than the rest). Bins are log-spaced, so a row of the matrix is at
    most a few thousand cells even for latencies from microseconds to hours; the buckets are
    taken a slice at a time to bound its size."""
    bk, bins, n = (np.concatenate(c) if len(parts) > 1 else c[0] for c in zip(*parts, strict=True))
    # (negative counts are kept: they subtract raw events outside a window, rollup_plan's
    # SketchPlan.minus, from the unit whose sketch holds them)
    if n.size and not n.all():
        keep = n != 0
        bk, bins, n = bk[keep], bins[keep], n[keep]
    if bk.size == 0:
        return {}
    code, bucket_of = _dense_buckets(bk)
    zero = bins == ZERO_BIN
    lo = int(bins[~zero].min()) if not zero.all() else 0
    slot = np.where(zero, 0, bins - lo + 1)  # slot 0: latencies of 0, the lowest value
    width = int(slot.max()) + 1
    per_slice = max(_CELLS // width, 1)
    out: dict[int, dict[str, float]] = {}
    for first in range(0, len(bucket_of), per_slice):
        sel = (code >= first) & (code < first + per_slice)
        rows = min(per_slice, len(bucket_of) - first)
        flat = (code[sel] - first) * width + slot[sel]
        counts = np.bincount(flat, weights=n[sel], minlength=rows * width)
        cum = np.cumsum(counts.astype(np.int64).reshape(rows, width), axis=1)
        total = cum[:, -1]
        present = np.flatnonzero(total > 0)
        cum, total = cum[present], total[present]
        values = {}
        for name, q in _Q:
            rank = np.floor(q * (total - 1).astype(np.float64)).astype(np.int64)
            # the first slot whose cumulative count passes the rank
            at = (cum <= rank[:, None]).sum(axis=1)
            values[name] = bin_values(np.where(at == 0, ZERO_BIN, at - 1 + lo))
        for i, b in enumerate(bucket_of[first + present]):
            out[int(b)] = {name: float(v[i]) for name, v in values.items()}
    return out
