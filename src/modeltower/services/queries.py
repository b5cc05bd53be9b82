"""Query orchestration: windows and filters in, :class:`WindowMetrics` out. No SQL here."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from modeltower.metrics.score_sketch import ScoreHistogram
from modeltower.services.window import METRIC_NAMES, Scored, WindowMetrics, flatten, window_metrics
from modeltower.store.base import (
    PART_BUSINESS,
    PART_CONFUSION,
    PART_OPS,
    PART_QUANTILES,
    PART_REGRESSION,
    EventFilter,
    ModelInfo,
    ScoredRows,
    Store,
    WindowAggregate,
)
from modeltower.timewindow import BadParameter, Window, parse_duration

MAX_POINTS = 5000
ALL_PARTS = frozenset({PART_OPS, PART_QUANTILES, PART_CONFUSION, PART_REGRESSION, PART_BUSINESS})
_QUANTILE_METRICS = {"latency_p50", "latency_p90", "latency_p95", "latency_p99"}
_CONFUSION_METRICS = {"accuracy", "precision", "recall", "f1", "f1_macro", "f1_weighted"}
_SCORE_METRICS = {"roc_auc", "log_loss"}
_REGRESSION_METRICS = {"mae", "rmse", "mape", "r2"}
_BUSINESS_METRICS = {"conversion_rate", "revenue", "uplift"}
# Metrics computed from labeled events only (performance): their sample size is the label count.
LABELED_METRICS = frozenset(_CONFUSION_METRICS | _SCORE_METRICS | _REGRESSION_METRICS)


def parts_for(wanted: Collection[str]) -> set[str]:
    """The aggregate parts that the named metrics need (counts always)."""
    names = set(wanted)
    parts = {PART_OPS}
    if names & _CONFUSION_METRICS or names & _SCORE_METRICS:
        parts.add(PART_CONFUSION)
    if names & _REGRESSION_METRICS:
        parts.add(PART_REGRESSION)
    if names & _BUSINESS_METRICS:
        parts.add(PART_BUSINESS)
    if names & _QUANTILE_METRICS:
        parts.add(PART_QUANTILES)
    return parts


class UnknownModel(LookupError):
    """No event and no settings were ever recorded for this model."""


@dataclass(frozen=True)
class Filters:
    """Optional filters shared by every query endpoint."""

    version: str | None = None
    group: str | None = None
    tags: tuple[tuple[str, str], ...] = ()

    def to_filter(self, model: str, window: Window) -> EventFilter:
        return EventFilter(
            model, window.start_us, window.end_us, self.version, self.group, self.tags
        )


@dataclass(frozen=True)
class TimeseriesPoint:
    start_us: int
    values: dict[str, float | int | None]


class QueryService:
    """Answers metric questions from a store's aggregates."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def model(self, name: str) -> ModelInfo:
        info = self.store.get_model(name)
        if info is None:
            raise UnknownModel(name)
        return info

    def metrics(
        self,
        name: str,
        window: Window,
        filters: Filters,
        wanted: Collection[str] | None = None,
    ) -> tuple[ModelInfo, WindowMetrics]:
        """All metrics for one window; with ``wanted`` only the parts those metrics need are
        read (the others come back empty), which is what the alert evaluator asks for."""
        info = self.model(name)
        flt = filters.to_filter(name, window)
        if wanted is None:
            parts = set(ALL_PARTS)
            parts.discard(PART_REGRESSION if info.task == "classification" else PART_CONFUSION)
            need_scores = True
        else:
            parts = parts_for(wanted)
            need_scores = bool(set(wanted) & _SCORE_METRICS)
        agg = self.store.aggregate(flt, None, frozenset(parts)).get(0, WindowAggregate())
        scored: Scored | ScoreHistogram | None = None
        if need_scores and info.task == "classification" and agg.labeled:
            hist = self.store.score_histograms(flt, None, agg.labeled)
            if hist is not None:
                scored = hist.get(0, ScoreHistogram())
            else:
                rows = self.store.scored_rows(flt, None)
                scored = Scored(rows.label, rows.score, rows.scores)
        return info, window_metrics(
            agg,
            task=info.task,
            positive_label=info.settings.positive_label,
            span_minutes=window.minutes,
            scored=scored,
        )

    def timeseries(
        self,
        name: str,
        window: Window,
        filters: Filters,
        metrics: Sequence[str],
        bucket: str,
        rolling: str | None,
    ) -> tuple[ModelInfo, list[TimeseriesPoint]]:
        """One point per bucket; with ``rolling`` each point covers the trailing period."""
        unknown = [m for m in metrics if m not in METRIC_NAMES]
        if unknown:
            raise BadParameter(
                "metrics", f"unknown metric(s) {unknown}; known: {list(METRIC_NAMES)}"
            )
        if not metrics:
            raise BadParameter("metrics", "name at least one metric")
        info = self.model(name)
        bucket_us = parse_duration(bucket, "bucket")
        rolling_us = parse_duration(rolling, "rolling") if rolling else bucket_us
        if rolling_us % bucket_us or rolling_us < bucket_us:
            raise BadParameter("rolling", "must be a whole multiple of bucket")
        # Buckets are aligned to the epoch so that points are stable between refreshes.
        start = window.start_us - window.start_us % bucket_us
        n_points = -(-(window.end_us - start) // bucket_us)
        if n_points > MAX_POINTS:
            raise BadParameter("bucket", f"would give {n_points} points; at most {MAX_POINTS}")
        span = rolling_us // bucket_us
        lead = (span - 1) * bucket_us  # extra history so the first rolling point is complete
        flt = filters.to_filter(name, Window(start - lead, window.end_us))
        wanted = set(metrics)
        parts = parts_for(wanted) - {PART_QUANTILES}
        need_q = bool(wanted & _QUANTILE_METRICS)
        if need_q and span == 1:
            parts.add(PART_QUANTILES)
        aggs = self.store.aggregate(flt, bucket_us, frozenset(parts))
        rolling_q: dict[int, dict[str, float]] = {}
        if need_q and span > 1:
            qflt = filters.to_filter(name, Window(start, window.end_us))
            rolling_q = self.store.rolling_quantiles(qflt, bucket_us, rolling_us)
        rows: ScoredRows | None = None
        hists: dict[int, ScoreHistogram] | None = None
        if wanted & _SCORE_METRICS and info.task == "classification":
            labeled = sum(a.labeled for a in aggs.values())
            hists = self.store.score_histograms(flt, bucket_us, labeled)
            if hists is None:
                rows = self.store.scored_rows(flt, bucket_us)
        points: list[TimeseriesPoint] = []
        offset = span - 1  # aggregate bucket index of output point 0
        for i in range(n_points):
            agg = WindowAggregate()
            for j in range(i, i + span):
                part = aggs.get(j)
                if part is not None:
                    agg = agg.merge(part) if span > 1 else part
            if span > 1:
                agg.quantiles = rolling_q.get(i)
            scored: Scored | ScoreHistogram | None = None
            if hists is not None:
                scored = ScoreHistogram()
                for j in range(i, i + span):
                    if j in hists:
                        scored = scored.merge(hists[j])
            elif rows is not None:
                sel = (rows.bucket >= i) & (rows.bucket <= i + offset)
                idx = np.nonzero(sel)[0]
                scored = Scored(
                    [rows.label[k] for k in idx], rows.score[idx], [rows.scores[k] for k in idx]
                )
            wm = window_metrics(
                agg,
                task=info.task,
                positive_label=info.settings.positive_label,
                span_minutes=rolling_us / 60_000_000,
                scored=scored,
            )
            flat = flatten(wm)
            points.append(TimeseriesPoint(start + i * bucket_us, {m: flat[m] for m in metrics}))
        return info, points

    def list_models(self) -> list[tuple[ModelInfo, int]]:
        now_us = int(time.time() * 1_000_000)
        return self.store.list_models(now_us - 86_400_000_000)
