"""Drift as a trend: per-bucket histograms on reference-derived bins, merged at query time.

:func:`summarize` turns events into histogram rows — per bucket, column and key, a count and the
minimum and maximum value — on the bins of the reference (numeric columns with many distinct
values) or per value (all others). The drift job stores them per hour, version and group as
events arrive (jobs/drift_summaries.py); a trend query adds up the stored hours of its buckets,
summarizes the few events stored since the job last ran, and scores each bucket with
:func:`modeltower.drift.binned.binned_score`. With tag filters (summaries are not kept per tag)
the window's events are summarized directly, the same way. docs/DRIFT.md states the error of the
binned scores against the exact ones.

Keys: ``#i`` the i-th bin, a value's text for value-keyed columns, and ``~missing``, ``~null``,
``~mismatch`` for events without a usable value (they count towards the null share).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modeltower.drift import (
    Sample,
    categorical_sample,
    default_method,
    get_stattest,
    numeric_sample_from_counts,
)
from modeltower.drift.binned import BinnedSample, bin_index, binned_score, numeric_key
from modeltower.services.drift import STATUS_NO_DATA, DriftService, State
from modeltower.services.profile import RefColumn, ReferenceData, decode_text
from modeltower.services.queries import MAX_POINTS, Filters
from modeltower.services.reference import column_override
from modeltower.store.base import (
    ROLE_FEATURE,
    ST_MISMATCH,
    ST_MISSING,
    ST_NULL,
    ST_OK,
    EventFilter,
    FeatureData,
)
from modeltower.timewindow import BadParameter, Window, parse_duration

HOUR_US = 3_600_000_000
_SPECIAL = {ST_MISSING: "~missing", ST_NULL: "~null", ST_MISMATCH: "~mismatch"}
_NULL_KEYS = ("~missing", "~null")


def _column_keys(ref: RefColumn, data: FeatureData) -> tuple[np.ndarray, np.ndarray | None]:
    col = data.columns[ref.key]
    status = col.status
    keys = np.empty(status.size, dtype=object)
    for st, label in _SPECIAL.items():
        keys[status == st] = label
    ok = status == ST_OK
    values = None
    if ref.type == "numeric":
        assert col.numeric is not None
        v = col.numeric[ok]
        if ref.edges is not None:
            labels = np.array([f"#{i}" for i in range(ref.edges.size + 1)], dtype=object)
            keys[ok] = labels[bin_index(v, ref.edges)]
            values = col.numeric
        elif v.size:
            uniq, inverse = np.unique(v, return_inverse=True)
            keys[ok] = np.array([numeric_key(x) for x in uniq.tolist()], dtype=object)[inverse]
    else:
        assert col.text is not None
        texts = col.text[ok].tolist()
        decoded = {t: decode_text(t) for t in set(texts)}
        keys[ok] = np.array([decoded[t] for t in texts], dtype=object) if texts else keys[ok]
    return keys, values


def summarize(
    data: FeatureData, ref: ReferenceData, bucket: np.ndarray, by_version: bool = False
) -> pa.Table:
    """Histogram rows (bucket, [version, grp,] feature, key, n, lo, hi) of ``data``."""
    parts = []
    group_keys = ["bucket", "version", "grp", "key"] if by_version else ["bucket", "key"]
    for rc in ref.columns:
        keys, values = _column_keys(rc, data)
        cols: dict[str, object] = {
            "bucket": pa.array(bucket, pa.int64()),
            "key": pa.array(keys, pa.string()),
        }
        if by_version:
            assert data.version is not None and data.grp is not None
            cols["version"] = pa.array(data.version, pa.string())
            cols["grp"] = pa.array(data.grp, pa.string())
        if values is None:
            cols["v"] = pa.nulls(data.rows, pa.float64())
        else:
            cols["v"] = pa.array(values, pa.float64(), from_pandas=True)  # NaN -> null
        t = (
            pa.table(cols)
            .group_by(group_keys)
            .aggregate([("bucket", "count"), ("v", "min"), ("v", "max")])
        )
        t = t.rename_columns(
            [{"bucket_count": "n", "v_min": "lo", "v_max": "hi"}.get(c, c) for c in t.column_names]
        )
        parts.append(t.append_column("feature", pa.array([rc.key] * t.num_rows, pa.string())))
    if not parts:
        return _empty(by_version)
    return pa.concat_tables(parts).select(
        [
            *(["bucket", "version", "grp"] if by_version else ["bucket"]),
            "feature",
            "key",
            "n",
            "lo",
            "hi",
        ]
    )


def _empty(by_version: bool) -> pa.Table:
    fields = [("bucket", pa.int64())]
    if by_version:
        fields += [("version", pa.string()), ("grp", pa.string())]
    fields += [
        ("feature", pa.string()),
        ("key", pa.string()),
        ("n", pa.int64()),
        ("lo", pa.float64()),
        ("hi", pa.float64()),
    ]
    return pa.schema(fields).empty_table()


@dataclass(frozen=True)
class ColumnTrend:
    column: RefColumn
    method: str
    kind: str
    threshold: float
    scores: list[float | None]
    drift: list[bool | None]
    null_share: list[float | None]


@dataclass(frozen=True)
class DriftTrend:
    state: State
    window: Window
    bucket_us: int
    starts: list[int]
    count: list[int]
    columns: list[ColumnTrend]
    approximate: bool

    def drifted(self) -> list[int]:
        feats = [c for c in self.columns if c.column.role == ROLE_FEATURE]
        return [sum(bool(c.drift[i]) for c in feats) for i in range(len(self.starts))]

    def drift_share(self) -> list[float | None]:
        feats = [c for c in self.columns if c.column.role == ROLE_FEATURE]
        out: list[float | None] = []
        for i, d in enumerate(self.drifted()):
            scored = sum(c.drift[i] is not None for c in feats)
            out.append(d / scored if scored else None)
        return out


def _window_sample(ref: RefColumn, rows: pa.Table) -> Sample:
    """The whole trend window's values of a value-keyed column (its histogram's keys), so
    that the default method is the one ``/drift`` picks for the same window."""
    if ref.edges is not None:
        return ref.sample  # many distinct reference values: the choice depends on its size only
    keys = rows.column("key").to_pylist()
    n = rows.column("n").to_numpy()
    totals: dict[str, int] = {}
    for k, c in zip(keys, n.tolist(), strict=True):
        if not k.startswith("~"):
            totals[k] = totals.get(k, 0) + int(c)
    if ref.type == "numeric":
        return numeric_sample_from_counts([float(k) for k in totals], list(totals.values()))
    return categorical_sample(list(totals), list(totals.values()))


def trend_method(
    ref: RefColumn, settings: dict[str, object], current: Sample | None = None
) -> tuple[str, float]:
    """The column's method in the trend, the same for every bucket: its override, else the
    default for the reference and the whole window."""
    over = column_override(settings, ref.column)
    method = over.get("method") or default_method(ref.sample, current or ref.sample, ref.type)
    threshold = over.get("threshold", get_stattest(method).default_threshold)
    return str(method), float(threshold)


class ScoreMemo:
    """Scores of histograms already scored: a refresh of the dashboard re-scores only the
    buckets whose counts changed (usually the newest one)."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self._d: OrderedDict[tuple[object, ...], tuple[float, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def score(
        self, key: tuple[object, ...], compute: Callable[[], tuple[float, bool]]
    ) -> tuple[float, bool]:
        with self._lock:
            hit = self._d.get(key)
            if hit is not None:
                self._d.move_to_end(key)
                return hit
        value = compute()
        with self._lock:
            self._d[key] = value
            while len(self._d) > self.size:
                self._d.popitem(last=False)
        return value


def _score_column(
    rc: RefColumn,
    rows: pa.Table,
    n_points: int,
    settings: dict[str, object],
    ref_id: int,
    memo: ScoreMemo,
) -> ColumnTrend:
    method, threshold = trend_method(rc, settings, _window_sample(rc, rows))
    kind = get_stattest(method).kind
    scores: list[float | None] = [None] * n_points
    drift: list[bool | None] = [None] * n_points
    nulls: list[float | None] = [None] * n_points
    b = rows.column("bucket").to_numpy()
    keys = rows.column("key").to_pylist()
    n = rows.column("n").to_numpy()
    lo = rows.column("lo").to_numpy(zero_copy_only=False)
    hi = rows.column("hi").to_numpy(zero_copy_only=False)
    per_bucket: dict[int, list[int]] = {}
    for i, bi in enumerate(b.tolist()):
        per_bucket.setdefault(bi, []).append(i)
    n_bins = None if rc.edges is None else rc.edges.size + 1
    for bi, idx in per_bucket.items():
        if not 0 <= bi < n_points:
            continue
        total = int(n[idx].sum())
        null_n = sum(int(n[i]) for i in idx if keys[i] in _NULL_KEYS)
        nulls[bi] = null_n / total if total else None
        vals = [i for i in idx if not keys[i].startswith("~")]
        count = int(n[vals].sum()) if vals else 0
        if count == 0 or rc.sample.n == 0:
            continue
        if n_bins is not None:
            counts = np.zeros(n_bins, dtype=np.int64)
            for i in vals:
                counts[int(keys[i][1:])] += int(n[i])
            cur = BinnedSample(
                count, counts, None, float(np.nanmin(lo[vals])), float(np.nanmax(hi[vals]))
            )
            ident: tuple[object, ...] = (counts.tobytes(), cur.lo, cur.hi)
        else:
            cur = BinnedSample(count, n[vals].astype(np.int64), [keys[i] for i in vals], None, None)
            ident = (tuple(cur.keys or ()), cur.counts.tobytes())
        score, verdict = memo.score(
            (ref_id, rc.key, method, threshold, *ident),
            functools.partial(
                binned_score, method, rc.binned, cur, rc.edges, rc.std, rc.type, threshold
            ),
        )
        scores[bi], drift[bi] = float(score), bool(verdict)
    return ColumnTrend(rc, method, kind, threshold, scores, drift, nulls)


class DriftTrendService:
    """Per-bucket drift scores of every column."""

    def __init__(self, drift: DriftService) -> None:
        self.drift = drift
        self.store = drift.store
        self.memo = ScoreMemo()

    def timeseries(
        self, model: str, window: Window, filters: Filters, bucket: str, names: list[str] | None
    ) -> DriftTrend:
        bucket_us = parse_duration(bucket, "bucket")
        if bucket_us % HOUR_US:
            raise BadParameter("bucket", "must be a whole number of hours, e.g. 1h, 6h or 1d")
        # Whole buckets aligned to the epoch, so that stored hours fall into one bucket each.
        start = window.start_us - window.start_us % bucket_us
        end = -(-window.end_us // bucket_us) * bucket_us
        n_points = (end - start) // bucket_us
        if n_points > MAX_POINTS:
            raise BadParameter("bucket", f"would give {n_points} points; at most {MAX_POINTS}")
        aligned = Window(start, end)
        starts = [start + i * bucket_us for i in range(n_points)]
        state, ref = self.drift.state(model)
        if ref is None:
            return DriftTrend(state, aligned, bucket_us, starts, [0] * n_points, [], False)
        columns = ref.columns
        if names:
            unknown = sorted(set(names) - {c.name for c in columns})
            if unknown:
                raise BadParameter("columns", f"unknown column(s) {unknown}")
            columns = [c for c in columns if c.name in set(names)]
        flt = filters.to_filter(model, aligned)
        rows = self._rows(ref, flt, bucket_us)
        counts = np.zeros(n_points, dtype=np.int64)
        if ref.columns and rows.num_rows:
            first = rows.filter(pc.equal(rows.column("feature"), ref.columns[0].key))
            np.add.at(counts, first.column("bucket").to_numpy(), first.column("n").to_numpy())
        if counts.sum() == 0:
            state = State(STATUS_NO_DATA, "no events in the window", state.record)
        settings = ref.record.settings
        trends = []
        for rc in columns:
            sel = rows.filter(pc.equal(rows.column("feature"), rc.key))
            trends.append(_score_column(rc, sel, n_points, settings, ref.record.ref_id, self.memo))
        approximate = any(c.edges is not None for c in columns)
        return DriftTrend(state, aligned, bucket_us, starts, counts.tolist(), trends, approximate)

    def _rows(self, ref: ReferenceData, flt: EventFilter, bucket_us: int) -> pa.Table:
        """Merged histogram rows (bucket, feature, key, n, lo, hi) of the window."""
        specs = ref.specs()
        if flt.tags:
            data = self.store.window_features(flt, specs, bucket_us)
            return summarize(data, ref, data.bucket if data.bucket is not None else np.zeros(0))
        stored = self.store.drift_summaries(ref.record.ref_id, flt, bucket_us, flt.start_us)
        tail = self.store.window_features(flt, specs, bucket_us, after_seq=stored.last_seq)
        parts = [
            pa.table(
                {
                    "bucket": pa.array(stored.bucket, pa.int64()),
                    "feature": pa.array(stored.feature, pa.string()),
                    "key": pa.array(stored.key, pa.string()),
                    "n": pa.array(stored.n, pa.int64()),
                    "lo": pa.array(stored.lo, pa.float64(), from_pandas=True),
                    "hi": pa.array(stored.hi, pa.float64(), from_pandas=True),
                }
            )
        ]
        if tail.rows:
            assert tail.bucket is not None
            parts.append(summarize(tail, ref, tail.bucket))
        merged = pa.concat_tables(parts)
        t = merged.group_by(["bucket", "feature", "key"]).aggregate(
            [("n", "sum"), ("lo", "min"), ("hi", "max")]
        )
        return t.rename_columns(
            [{"n_sum": "n", "lo_min": "lo", "hi_max": "hi"}.get(c, c) for c in t.column_names]
        )
