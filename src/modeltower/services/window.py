"""Turning one window's aggregate (plus its scored rows) into metrics: one function for all callers.

``/v1/models/{m}/metrics``, every timeseries point (rolling or not) and the seed-compatible
``/metrics/{model}`` all go through :func:`window_metrics`, so a number means the same everywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modeltower.metrics.business import BusinessMetrics, business_metrics
from modeltower.metrics.classification import (
    ClassificationMetrics,
    classification_from_confusion,
    log_loss_binary,
    log_loss_multiclass,
    roc_auc_binary,
    roc_auc_ovr,
)
from modeltower.metrics.latency import LatencySummary
from modeltower.metrics.regression import RegressionMetrics, regression_metrics
from modeltower.metrics.score_sketch import ScoreHistogram, log_loss_from_sums, roc_auc_binned
from modeltower.store.base import WindowAggregate


@dataclass(frozen=True)
class Scored:
    """Labeled events with scores, for one window."""

    label: list[str]
    score: np.ndarray
    scores: list[str | None]


@dataclass(frozen=True)
class WindowMetrics:
    """All metrics of one window (a section is None when it does not apply)."""

    count: int
    throughput_per_min: float
    errors: int
    error_rate: float | None
    latency: LatencySummary | None
    labeled_count: int
    label_coverage: float | None
    classification: ClassificationMetrics | None
    regression: RegressionMetrics | None
    business: BusinessMetrics | None


def latency_from_aggregate(agg: WindowAggregate) -> LatencySummary | None:
    """Latency summary from sums and SQL-computed exact percentiles."""
    if agg.latency_n == 0 or agg.latency_max is None:
        return None
    q = agg.quantiles or {}
    return LatencySummary(
        mean=agg.latency_sum / agg.latency_n,
        p50=q.get("p50", float("nan")),
        p90=q.get("p90", float("nan")),
        p95=q.get("p95", float("nan")),
        p99=q.get("p99", float("nan")),
        max=agg.latency_max,
    )


def _from_histogram(cm: ClassificationMetrics, hist: ScoreHistogram) -> ClassificationMetrics:
    """ROC AUC (with its bound) and log loss of a binary model from the score histogram; a
    histogram holds plain scores only, which multiclass metrics do not use."""
    pos = cm.positive_label
    if cm.average != "binary" or pos is None or hist.total == 0:
        return cm
    auc = roc_auc_binned(*hist.split(pos))
    return dataclasses.replace(
        cm,
        roc_auc=None if auc is None else auc[0],
        roc_auc_max_error=None if auc is None else auc[1],
        log_loss=log_loss_from_sums(hist, pos),
    )


def _with_scores(
    cm: ClassificationMetrics, scored: Scored | ScoreHistogram | None
) -> ClassificationMetrics:
    """Add ROC AUC and log loss when the window's events carry scores."""
    if isinstance(scored, ScoreHistogram):
        return _from_histogram(cm, scored)
    if scored is None or not scored.label:
        return cm
    parsed = [None if s is None else orjson.loads(s) for s in scored.scores]
    if cm.average == "binary" and cm.positive_label is not None:
        pos = cm.positive_label
        p = scored.score.copy()
        for i, obj in enumerate(parsed):
            if obj is not None:
                p[i] = float(obj.get(pos, np.nan)) if pos in obj else np.nan
        ok = ~np.isnan(p)
        if not ok.any():
            return cm
        y = np.array([lab == pos for lab in scored.label])[ok]
        auc = roc_auc_binary(y, p[ok])
        return dataclasses.replace(
            cm,
            roc_auc=auc,
            roc_auc_max_error=None if auc is None else 0.0,
            log_loss=log_loss_binary(y, p[ok]),
        )
    rows = [(lab, obj) for lab, obj in zip(scored.label, parsed, strict=True) if obj]
    if not rows:
        return cm
    classes = sorted(set(cm.labels).union(*(obj.keys() for _, obj in rows)))
    index = {c: j for j, c in enumerate(classes)}
    probs = np.zeros((len(rows), len(classes)))
    for i, (_, obj) in enumerate(rows):
        for c, v in obj.items():
            probs[i, index[c]] = v
    labels = [lab for lab, _ in rows]
    # A row of all-zero probabilities cannot be normalised; leave such events out.
    ok = probs.sum(axis=1) > 0
    if not ok.any():
        return cm
    y = [lab for lab, keep in zip(labels, ok, strict=True) if keep]
    auc = roc_auc_ovr(y, probs[ok], classes)
    return dataclasses.replace(
        cm,
        roc_auc=auc,
        roc_auc_max_error=None if auc is None else 0.0,
        log_loss=log_loss_multiclass(y, probs[ok], classes),
    )


def window_metrics(
    agg: WindowAggregate,
    *,
    task: str | None,
    positive_label: str | None,
    span_minutes: float,
    scored: Scored | ScoreHistogram | None = None,
) -> WindowMetrics:
    """Every metric of one window from its aggregate."""
    served = agg.count - agg.errors
    classification = None
    regression = None
    if task == "classification" and agg.confusion:
        cm = classification_from_confusion(agg.confusion, positive_label)
        classification = None if cm is None else _with_scores(cm, scored)
    elif task == "regression" and agg.regression is not None:
        regression = regression_metrics(agg.regression)
    return WindowMetrics(
        count=agg.count,
        throughput_per_min=agg.count / span_minutes if span_minutes > 0 else 0.0,
        errors=agg.errors,
        error_rate=agg.errors / agg.count if agg.count else None,
        latency=latency_from_aggregate(agg),
        labeled_count=agg.labeled,
        label_coverage=agg.labeled / served if served > 0 else None,
        classification=classification,
        regression=regression,
        business=business_metrics(agg.business) if agg.business else None,
    )


def flatten(m: WindowMetrics) -> dict[str, Any]:
    """Named scalar series for timeseries and alerting."""
    out: dict[str, Any] = {
        "count": m.count,
        "throughput": m.throughput_per_min,
        "errors": m.errors,
        "error_rate": m.error_rate,
        "labeled_count": m.labeled_count,
        "label_coverage": m.label_coverage,
    }
    lat = m.latency
    for name in ("mean", "p50", "p90", "p95", "p99", "max"):
        out[f"latency_{name}"] = None if lat is None else _finite(getattr(lat, name))
    c = m.classification
    for name in (
        "accuracy",
        "precision",
        "recall",
        "f1",
        "f1_macro",
        "f1_weighted",
        "roc_auc",
        "log_loss",
    ):
        out[name] = None if c is None else getattr(c, name)
    r = m.regression
    for name in ("mae", "rmse", "mape", "r2"):
        out[name] = None if r is None else getattr(r, name)
    b = m.business
    if b is None:
        out.update(conversion_rate=None, revenue=None, uplift=None)
    else:
        n = sum(g.count for g in b.groups.values())
        conv = sum(g.conversions for g in b.groups.values())
        out["conversion_rate"] = conv / n if n else None
        out["revenue"] = sum(g.revenue for g in b.groups.values())
        out["uplift"] = None if b.uplift is None else b.uplift.absolute
    return out


METRIC_NAMES: tuple[str, ...] = tuple(
    flatten(WindowMetrics(0, 0.0, 0, None, None, 0, None, None, None, None)).keys()
)


def _finite(x: float) -> float | None:
    return None if x != x else x  # NaN -> None: a percentile that was not computed
