"""Exact drift of a window against the model's reference, per column and for the dataset.

One scan of the window's events gives every column's current sample (:class:`Comparison`);
drift, the distribution overlay and data quality (services/quality.py) are computed from it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from modeltower.drift import NullShareResult, Sample, drift_score, get_stattest, null_share_change
from modeltower.services.profile import (
    RefColumn,
    ReferenceData,
    StatusCounts,
    column_sample,
    status_counts,
)
from modeltower.services.queries import Filters, QueryService
from modeltower.services.reference import (
    DEFAULT_DRIFT_SHARE,
    ReferenceService,
    column_override,
)
from modeltower.store.base import ROLE_FEATURE, ColumnData, FeatureData, ReferenceRecord
from modeltower.timewindow import BadParameter, Window, iso

STATUS_OK = "ok"
STATUS_NO_REFERENCE = "no_reference"
STATUS_COLLECTING = "collecting"
STATUS_NO_DATA = "no_data"
_CACHE_SIZE = 32
_MAX_CATEGORIES = 30


@dataclass(frozen=True, eq=False)
class CurrentColumn:
    """One column of the window next to its reference."""

    ref: RefColumn
    data: ColumnData
    status: StatusCounts
    sample: Sample


@dataclass(frozen=True, eq=False)
class Comparison:
    """The window's events, column by column, next to the reference."""

    reference: ReferenceData
    rows: int
    columns: list[CurrentColumn]
    data: FeatureData


@dataclass(frozen=True)
class State:
    """Whether a comparison is possible, and the message when not."""

    status: str
    message: str | None
    record: ReferenceRecord | None


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    role: str
    type: str
    method: str | None
    kind: str | None
    score: float | None
    threshold: float | None
    drift: bool
    reference: StatusCounts
    reference_count: int
    current: StatusCounts
    current_count: int
    null_change: NullShareResult | None
    message: str | None


@dataclass(frozen=True)
class DriftReport:
    state: State
    ref_rows: int = 0
    cur_rows: int = 0
    columns: tuple[ColumnDrift, ...] = ()
    drift_share_threshold: float = DEFAULT_DRIFT_SHARE
    sampled_from: int = 0  # the window's events when cur_rows are a sample of them

    @property
    def features(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.role == ROLE_FEATURE]

    @property
    def drifted(self) -> int:
        return sum(c.drift for c in self.features)

    @property
    def share(self) -> float | None:
        return self.drifted / len(self.features) if self.features else None

    @property
    def dataset_drift(self) -> bool:
        share = self.share
        return share is not None and share >= self.drift_share_threshold

    @property
    def null_drifted(self) -> int:
        return sum(bool(c.null_change and c.null_change.drift) for c in self.columns)


def no_reference_message(model: str) -> str:
    return (
        f"model {model!r} has no drift reference: PUT /v1/models/{model}/reference with a "
        "dataset (CSV, Parquet, JSON rows) or a window of its own events, or run "
        f"`modeltower reference set --model {model} FILE`"
    )


def column_drift(
    ref: RefColumn, cur: CurrentColumn | None, settings: dict[str, object]
) -> ColumnDrift:
    """Score and verdict of one column; a column without values gets a message, not an error."""
    over = column_override(settings, ref.column)
    cur_status = cur.status if cur is not None else StatusCounts(0, 0, 0, 0)
    cur_n = cur.sample.n if cur is not None else 0
    nulls = None
    if cur is not None and cur_status.total and ref.status.total:
        nulls = null_share_change(
            ref.status.nulls, ref.status.total, cur_status.nulls, cur_status.total
        )
    method, kind, score, threshold, drift, message = None, None, None, None, False, None
    if ref.sample.n == 0:
        message = "the reference has no values for this column"
    elif cur_n == 0:
        message = "no values in the window"
    else:
        assert cur is not None
        res = drift_score(
            ref.sample, cur.sample, ref.type, over.get("method"), over.get("threshold")
        )
        method, kind, score, threshold, drift = (
            res.method,
            res.kind,
            res.score,
            res.threshold,
            res.drift,
        )
    if method is None and over.get("method"):
        method = over["method"]
        test = get_stattest(method)
        kind, threshold = test.kind, over.get("threshold", test.default_threshold)
    return ColumnDrift(
        name=ref.name,
        role=ref.role,
        type=ref.type,
        method=method,
        kind=kind,
        score=None if score is None else float(score),
        threshold=threshold,
        drift=bool(drift),
        reference=ref.status,
        reference_count=ref.sample.n,
        current=cur_status,
        current_count=cur_n,
        null_change=nulls,
        message=message,
    )


@dataclass(frozen=True)
class Distribution:
    state: State
    column: RefColumn | None = None
    labels: tuple[str, ...] = ()
    edges: tuple[float, ...] | None = None
    reference: tuple[float, ...] = ()
    current: tuple[float, ...] = ()
    reference_count: int = 0
    current_count: int = 0


def _props(counts: np.ndarray) -> tuple[float, ...]:
    total = counts.sum()
    return tuple((counts / total).tolist()) if total else tuple(0.0 for _ in counts)


def distribution(ref: RefColumn, cur: Sample, state: State) -> Distribution:
    """Reference and current proportions on common bins (numeric) or values (categorical)."""
    rs = ref.sample
    if ref.type == "numeric":
        parts = [s.keys for s in (rs, cur) if s.n]
        if not parts:
            return Distribution(state, ref)
        lo = float(min(p[0] for p in parts))
        hi = float(max(p[-1] for p in parts))
        n_bins = 1 if lo == hi else min(30, int(np.ceil(np.log2(rs.n + cur.n) + 1)))
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, n_bins + 1)
        counts = []
        for s in (rs, cur):
            c = np.zeros(n_bins, dtype=np.int64)
            if s.n:
                idx = np.clip(np.searchsorted(edges, s.keys, side="right") - 1, 0, n_bins - 1)
                np.add.at(c, idx, s.counts)
            counts.append(c)
        labels = tuple(f"{edges[i]:.4g}–{edges[i + 1]:.4g}" for i in range(n_bins))
        return Distribution(
            state,
            ref,
            labels,
            tuple(edges.tolist()),
            _props(counts[0]),
            _props(counts[1]),
            rs.n,
            cur.n,
        )
    totals: dict[str, list[int]] = {}
    for j, s in enumerate((rs, cur)):
        for k, n in zip(s.keys.tolist(), s.counts.tolist(), strict=True):
            totals.setdefault(str(k), [0, 0])[j] += int(n)
    order = sorted(
        totals, key=lambda k: (-(totals[k][0] / max(rs.n, 1) + totals[k][1] / max(cur.n, 1)), k)
    )
    top, rest = order[:_MAX_CATEGORIES], order[_MAX_CATEGORIES:]
    rc = [totals[k][0] for k in top]
    cc = [totals[k][1] for k in top]
    names = list(top)
    if rest:
        names.append("(other)")
        rc.append(sum(totals[k][0] for k in rest))
        cc.append(sum(totals[k][1] for k in rest))
    return Distribution(
        state, ref, tuple(names), None, _props(np.array(rc)), _props(np.array(cc)), rs.n, cur.n
    )


class DriftService:
    """Compares windows of a model's events with its reference."""

    def __init__(
        self, queries: QueryService, refs: ReferenceService, sample_max: int | None = None
    ) -> None:
        self.queries = queries
        self.refs = refs
        # A window of more events is compared through a uniform sample of about this many:
        # drift statistics of 200k events are as good as of millions, and reading millions of
        # feature values costs seconds and gigabytes.
        self.sample_max = sample_max
        self.store = queries.store
        self._cache: OrderedDict[tuple[object, ...], tuple[float, int, Window, DriftReport]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def state(self, model: str) -> tuple[State, ReferenceData | None]:
        self.queries.model(model)  # 404 for a model never seen
        rec = self.store.reference(model)
        if rec is None:
            return State(STATUS_NO_REFERENCE, no_reference_message(model), None), None
        if rec.status != "ready" or rec.profile is None:
            end = rec.spec.get("end_us")
            when = f" when its window ends at {iso(end)}" if isinstance(end, int) else " shortly"
            msg = f"the reference of {model!r} is still collecting events; drift is available{when}"
            return State(STATUS_COLLECTING, msg, rec), None
        return State(STATUS_OK, None, rec), self.refs.load(rec)

    def compare(
        self,
        model: str,
        window: Window,
        filters: Filters,
        names: Collection[str] | None = None,
    ) -> tuple[State, Comparison | None]:
        """The window's samples next to the reference (None with a state saying why); with
        ``names`` only the reference columns of those names are read."""
        state, ref = self.state(model)
        if ref is None:
            return state, None
        columns = [rc for rc in ref.columns if names is None or rc.name in names]
        specs = ref.specs() if names is None else [rc.column.spec for rc in columns]
        flt = filters.to_filter(model, window)
        data = self.store.window_features(flt, specs, sample_max=self.sample_max)
        if data.rows == 0:
            return State(STATUS_NO_DATA, "no events in the window", state.record), None
        cols = []
        for rc in columns:
            cd = data.columns[rc.key]
            cols.append(
                CurrentColumn(rc, cd, status_counts(cd), column_sample(cd, rc.type == "numeric"))
            )
        return state, Comparison(ref, data.rows, cols, data)

    def drift(
        self, model: str, window: Window, filters: Filters, max_age_s: float = 0.0
    ) -> DriftReport:
        """Exact drift of every column; with ``max_age_s`` a result for the same trailing span
        computed at most that long ago may be returned (the overview's many models)."""
        rec = self.store.reference(model)
        # a new, changed or deleted reference is another comparison: never served from cache
        ref_state = (
            None if rec is None else (rec.ref_id, rec.status, repr(rec.settings), repr(rec.profile))
        )
        key = (model, window.end_us - window.start_us, filters, ref_state)
        seq = self.store.last_seq()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            at, hit_seq, hit_w, report = hit
            if (hit_w == window and hit_seq == seq) or (max_age_s > 0 and now - at <= max_age_s):
                return report
        report = self._drift(model, window, filters)
        with self._lock:
            self._cache[key] = (now, seq, window, report)
            self._cache.move_to_end(key)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return report

    def columns_drift(
        self, model: str, window: Window, filters: Filters, names: Collection[str]
    ) -> DriftReport:
        """Exact drift of the named columns only (an alert on one feature's score reads that
        feature alone); the report's share covers just these columns."""
        return self._drift(model, window, filters, names)

    def _drift(
        self, model: str, window: Window, filters: Filters, names: Collection[str] | None = None
    ) -> DriftReport:
        state, comp = self.compare(model, window, filters, names)
        rec = state.record
        share = float(rec.settings.get("drift_share", DEFAULT_DRIFT_SHARE)) if rec else 0.5
        if comp is None:
            ref_rows = rec.row_count if rec is not None else 0
            return DriftReport(state, ref_rows, 0, (), share)
        settings = comp.reference.record.settings
        cols = tuple(column_drift(c.ref, c, settings) for c in comp.columns)
        return DriftReport(
            state, comp.reference.rows, comp.rows, cols, share, comp.data.sampled_from
        )

    def distribution(
        self, model: str, window: Window, filters: Filters, name: str, role: str
    ) -> Distribution:
        state, ref = self.state(model)
        if ref is None:
            return Distribution(state)
        col = next((c for c in ref.columns if c.name == name and c.role == role), None)
        if col is None:
            raise BadParameter("column", f"the reference has no {role} column {name!r}")
        data = self.store.window_features(
            filters.to_filter(model, window), [col.column.spec], sample_max=self.sample_max
        )
        cur = column_sample(data.columns[col.key], col.type == "numeric")
        if data.rows == 0:
            state = State(STATUS_NO_DATA, "no events in the window", state.record)
        return distribution(col, cur, state)
