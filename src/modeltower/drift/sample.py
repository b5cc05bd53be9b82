"""The input of every drift statistic: the non-null values of one feature in one dataset.

A :class:`Sample` keeps what the statistics need and nothing else: for numeric features the
sorted values (so that ECDFs, histograms and quantiles are binary searches rather than sorts), and
for every feature the distinct values with their counts. A reference profile is built once and
reused for every comparison; only the current window is built per request.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "FeatureType",
    "Sample",
    "categorical_from_values",
    "categorical_sample",
    "numeric_sample",
    "numeric_sample_from_counts",
]

FeatureType = Literal["numeric", "categorical", "boolean"]


# eq=False: the fields are arrays, whose == is elementwise; identity is the useful equality.
@dataclass(frozen=True, eq=False)
class Sample:
    """Non-null, finite values of one feature in one dataset.

    * ``n``: number of values.
    * ``values``: numeric features: float64, finite, sorted ascending; ``None`` for categorical
      and boolean features, and for numeric samples built from value counts
      (:func:`numeric_sample_from_counts`), which every statistic handles from keys and counts.
    * ``keys``: distinct values, sorted: float64 for numeric features, ``dtype=object`` (str) for
      categorical and boolean ones.
    * ``counts``: int64, number of values per key (sums to ``n``).
    """

    n: int
    values: np.ndarray | None
    keys: np.ndarray
    counts: np.ndarray

    @property
    def is_numeric(self) -> bool:
        """True for samples of numbers (float keys)."""
        return self.keys.dtype.kind == "f"

    def sorted_values(self) -> np.ndarray:
        """All values in ascending order (expanded from the counts when not kept)."""
        if self.values is not None:
            return self.values
        if not self.is_numeric:
            raise ValueError("a categorical sample has no numeric values")
        return np.repeat(self.keys, self.counts)

    def std(self) -> float:
        """Population standard deviation (ddof=0) of a numeric sample, as ``np.std(values)``."""
        if self.values is not None:
            return float(np.std(self.values))
        if not self.is_numeric:
            raise ValueError("a categorical sample has no standard deviation")
        mean = float(np.dot(self.keys, self.counts)) / self.n
        return float(np.sqrt(np.dot((self.keys - mean) ** 2, self.counts) / self.n))


def numeric_sample(values: np.ndarray | Sequence[float], *, assume_sorted: bool = False) -> Sample:
    """Build a numeric sample from raw values.

    NaN and ±inf are dropped, as Evidently drops them before any test. ``assume_sorted=True``
    skips the sort for values already in ascending order (e.g. read back from a stored profile).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(v)
    if not finite.all():
        v = v[finite]
    if not assume_sorted:
        v = np.sort(v)
    elif v.size > 1 and (v[1:] < v[:-1]).any():
        raise ValueError("values are not sorted although assume_sorted=True")
    keys, counts = _runs(v)
    return Sample(n=int(v.size), values=v, keys=keys, counts=counts)


def _runs(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their counts of a sorted array in one linear pass.

    np.unique would sort the (already sorted) array again; on the sorted array the distinct
    values start wherever the value changes.
    """
    if v.size == 0:
        return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int64)
    changes = v[1:] != v[:-1]
    if changes.all():
        # Continuous data: every value distinct; skip the index arithmetic.
        return v, np.ones(v.size, dtype=np.int64)
    starts = np.flatnonzero(changes) + 1
    starts = np.concatenate(([0], starts))
    counts = np.diff(np.append(starts, v.size)).astype(np.int64, copy=False)
    return v[starts], counts


def numeric_sample_from_counts(
    keys: Sequence[float] | np.ndarray, counts: Sequence[int] | np.ndarray
) -> Sample:
    """Build a numeric sample from value counts (e.g. a histogram keyed by value).

    Non-finite keys and zero counts are dropped; repeated keys are merged. The values are not
    expanded (``values`` is ``None``): the statistics work from keys and counts.
    """
    k = np.asarray(keys, dtype=np.float64).ravel()
    c = np.asarray(counts, dtype=np.int64).ravel()
    if k.shape != c.shape:
        raise ValueError("keys and counts differ in length")
    if (c < 0).any():
        raise ValueError("counts must not be negative")
    keep = np.isfinite(k) & (c > 0)
    k, c = k[keep], c[keep]
    order = np.argsort(k, kind="stable")
    k, c = k[order], c[order]
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    merged = np.add.reduceat(c, starts) if k.size else c
    return Sample(n=int(c.sum()), values=None, keys=k[starts], counts=merged.astype(np.int64))


def _key_text(key: object) -> str:
    # JSON spelling for booleans, so that a boolean feature reads "true"/"false" everywhere.
    if isinstance(key, bool | np.bool_):
        return "true" if key else "false"
    return key if isinstance(key, str) else str(key)


def _is_null(key: object) -> bool:
    return key is None or (isinstance(key, float) and math.isnan(key))


def _from_counter(counter: dict[str, int]) -> Sample:
    ordered = sorted(k for k, c in counter.items() if c > 0)
    keys = np.empty(len(ordered), dtype=object)
    keys[:] = ordered
    counts = np.fromiter((counter[k] for k in ordered), dtype=np.int64, count=len(ordered))
    return Sample(n=int(counts.sum()), values=None, keys=keys, counts=counts)


def categorical_sample(
    keys: Sequence[object] | np.ndarray, counts: Sequence[int] | np.ndarray
) -> Sample:
    """Build a categorical (or boolean) sample from value counts.

    Zero counts and null keys are dropped, keys are turned into text (booleans as
    ``"true"``/``"false"``) and repeated keys are merged.
    """
    if len(keys) != len(counts):
        raise ValueError("keys and counts differ in length")
    merged: dict[str, int] = {}
    for key, count in zip(keys, counts, strict=True):
        c = int(count)
        if c < 0:
            raise ValueError("counts must not be negative")
        if c == 0 or _is_null(key):
            continue
        text = _key_text(key)
        merged[text] = merged.get(text, 0) + c
    return _from_counter(merged)


def categorical_from_values(values: np.ndarray | Sequence[object]) -> Sample:
    """Build a categorical (or boolean) sample from raw values; ``None`` and NaN are dropped."""
    seq = values.tolist() if isinstance(values, np.ndarray) else list(values)
    # Counter hashes each value once (C loop); far faster than np.unique on an object array,
    # which sorts Python strings.
    counter = Counter(seq)
    if all(type(k) is str for k in counter):
        return _from_counter(counter)
    return categorical_sample(list(counter.keys()), list(counter.values()))


def require_samples(reference: Sample, current: Sample, method: str, *, numeric: bool) -> None:
    """Raise ``ValueError`` unless both samples are non-empty (and numeric when required).

    Evidently refuses empty columns too; a statistic of an empty sample is undefined.
    """
    for name, s in (("reference", reference), ("current", current)):
        if s.n == 0:
            raise ValueError(f"{method}: the {name} sample has no non-null values")
        if numeric and not s.is_numeric:
            raise ValueError(f"{method} needs numeric samples; the {name} sample is categorical")
