"""``GET /metrics``: Prometheus text format, from a registry owned by one app (never the global one).

Per model and version: prediction and error counters and a latency histogram, read incrementally
from the events committed since the previous scrape (by ``seq``, so duplicates that were never
stored are never counted), and gauges of the last hour's accuracy, F1, regression error and label
coverage from :class:`QueryService` (cached for a few seconds so scrapes stay cheap). Label values
are bounded: past ``max_series`` (model, version) pairs, new pairs are counted under ``__other__``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import cast

from fastapi import APIRouter, Request
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString
from starlette.responses import Response

from modeltower.jobs.snapshots import active_versions
from modeltower.services.queries import Filters, QueryService
from modeltower.services.window import WindowMetrics
from modeltower.store.base import OpsCounts
from modeltower.timewindow import Window

log = logging.getLogger("modeltower.prometheus")

router = APIRouter(tags=["health"])

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BOUNDS_MS = tuple(b * 1000 for b in LATENCY_BUCKETS_S)
OTHER = "__other__"
MAX_SERIES = 200
GAUGE_TTL_S = 15.0
GAUGE_WINDOW_US = 3_600_000_000
_LABELS = ("model", "version")


@dataclass
class _Series:
    """Running totals of one (model, version) label pair."""

    count: int = 0
    errors: int = 0
    latency_count: int = 0
    latency_sum_ms: float = 0.0
    le: list[int] = field(default_factory=lambda: [0] * len(_BOUNDS_MS))

    def add(self, c: OpsCounts) -> None:
        self.count += c.count
        self.errors += c.errors
        self.latency_count += c.latency_count
        self.latency_sum_ms += c.latency_sum_ms
        self.le = [a + b for a, b in zip(self.le, c.latency_le, strict=True)]


class PrometheusExporter:
    """A collector in a registry of its own; counters start at zero when the server starts."""

    def __init__(
        self,
        queries: QueryService,
        *,
        max_series: int = MAX_SERIES,
        gauge_ttl_s: float = GAUGE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.queries = queries
        self.max_series = max_series
        self.gauge_ttl_s = gauge_ttl_s
        self._clock = clock
        self._wall = wall_clock
        self._lock = threading.Lock()  # scrapes run in the thread pool, possibly two at once
        self._seq = queries.store.last_seq()
        self._series: dict[tuple[str, str], _Series] = {}
        self._gauges: list[tuple[str, str, WindowMetrics]] = []
        self._gauges_at: float | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """This app's registry in the format the scraper accepts (text format 0.0.4 by default,
        OpenMetrics when asked for) and its content type."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def _key(self, model: str, version: str | None) -> tuple[str, str]:
        key = (model, version or "")
        if key in self._series or len(self._series) < self.max_series:
            return key
        return (OTHER, OTHER)

    def _refresh_counters(self) -> None:
        try:
            seq, rows = self.queries.store.ops_counts_since(self._seq, _BOUNDS_MS)
        except Exception as exc:  # the scrape still answers, with the totals known so far
            log.error("prometheus counters could not be read: %s", exc, exc_info=exc)
            return
        for row in rows:
            self._series.setdefault(self._key(row.model, row.version), _Series()).add(row)
        self._seq = seq

    def _refresh_gauges(self) -> None:
        now = self._clock()
        if self._gauges_at is not None and now - self._gauges_at < self.gauge_ttl_s:
            return
        end_us = int(self._wall() * 1_000_000)
        window = Window(end_us - GAUGE_WINDOW_US, end_us)
        out: list[tuple[str, str, WindowMetrics]] = []
        for info, _ in self.queries.list_models():
            scopes = active_versions(info, window.start_us)
            if not scopes:
                continue
            # Named versions each; a model without versions as a whole (label version="").
            pairs: list[tuple[str | None, str]] = [(v, v) for v in scopes[1:] if v is not None]
            pairs = pairs or [(None, "")]
            for version, label in pairs:
                if len(out) >= self.max_series:
                    break
                try:
                    _, m = self.queries.metrics(info.name, window, Filters(version=version))
                except Exception as exc:
                    log.error(
                        "prometheus gauges of model %r version %r failed: %s",
                        info.name,
                        version,
                        exc,
                        exc_info=exc,
                    )
                    continue
                out.append((info.name, label, m))
        self._gauges = out
        self._gauges_at = now

    def collect(self) -> Iterator[Metric]:
        """Called by the registry on every scrape."""
        with self._lock:
            self._refresh_counters()
            self._refresh_gauges()
            series = sorted(
                (k, _Series(s.count, s.errors, s.latency_count, s.latency_sum_ms, list(s.le)))
                for k, s in self._series.items()
            )
            gauges = list(self._gauges)
        predictions = CounterMetricFamily(
            "modeltower_predictions", "Predictions stored since the server started", labels=_LABELS
        )
        errors = CounterMetricFamily(
            "modeltower_prediction_errors",
            "Predictions stored with an error since the server started",
            labels=_LABELS,
        )
        latency = HistogramMetricFamily(
            "modeltower_prediction_latency_seconds",
            "Reported prediction latency of events stored since the server started",
            labels=_LABELS,
        )
        for (model, version), s in series:
            labels = [model, version]
            predictions.add_metric(labels, s.count)
            errors.add_metric(labels, s.errors)
            buckets = [
                (floatToGoString(b), float(n)) for b, n in zip(LATENCY_BUCKETS_S, s.le, strict=True)
            ]
            buckets.append(("+Inf", float(s.latency_count)))
            latency.add_metric(labels, buckets, sum_value=s.latency_sum_ms / 1000)
        yield predictions
        yield errors
        yield latency
        yield from _gauge_families(gauges)
        yield from self._alert_families()
        yield from self._tag_families()

    def _tag_families(self) -> Iterator[Metric]:
        """Tag values folded into __other__ per model and key (services/tag_limits.py); only
        keys that reached their limit have a series, so the labels stay bounded too."""
        try:
            stats = self.queries.store.tag_stats()
        except Exception as exc:
            log.error("prometheus tag counters could not be read: %s", exc, exc_info=exc)
            return
        folded = CounterMetricFamily(
            "modeltower_tag_values_folded",
            "Tag values stored as __other__ because their key had reached max_tag_values",
            labels=("model", "key"),
        )
        for model, st in [(m, st) for m, st in stats if st.folded][: self.max_series]:
            folded.add_metric([model, st.key], st.folded)
        yield folded

    def _alert_families(self) -> Iterator[Metric]:
        """Alert instances per state and severity, and one series per firing alert (bounded by
        the rules: an instance exists only for a rule on a model)."""
        try:
            states = self.queries.store.alert_states()
        except Exception as exc:
            log.error("prometheus alert gauges could not be read: %s", exc, exc_info=exc)
            return
        counts = GaugeMetricFamily(
            "modeltower_alerts",
            "Alert instances by state and severity",
            labels=("state", "severity"),
        )
        tally: dict[tuple[str, str], int] = {}
        for st in states:
            key = (st.state, st.labels.get("severity", ""))
            tally[key] = tally.get(key, 0) + 1
        for (state, severity), n in sorted(tally.items()):
            counts.add_metric([state, severity], n)
        firing = GaugeMetricFamily(
            "modeltower_alert_firing",
            "1 for every firing alert",
            labels=("alertname", "model", "version", "severity"),
        )
        for st in states[: self.max_series * 5]:
            if st.state == "firing":
                firing.add_metric(
                    [st.rule, st.model, st.version or "", st.labels.get("severity", "")], 1
                )
        yield counts
        yield firing


def _gauge_families(gauges: list[tuple[str, str, WindowMetrics]]) -> Iterator[Metric]:
    specs = {
        "modeltower_accuracy": "Accuracy over the last hour",
        "modeltower_f1": "F1 over the last hour (binary for the positive label, else macro)",
        "modeltower_regression_mae": "Mean absolute error over the last hour",
        "modeltower_regression_rmse": "Root mean squared error over the last hour",
        "modeltower_label_coverage": "Share of served predictions with a label, last hour",
    }
    families = {name: GaugeMetricFamily(name, doc, labels=_LABELS) for name, doc in specs.items()}
    for model, version, m in gauges:
        cls, reg = m.classification, m.regression
        values = {
            "modeltower_accuracy": None if cls is None else cls.accuracy,
            "modeltower_f1": None if cls is None else cls.f1,
            "modeltower_regression_mae": None if reg is None else reg.mae,
            "modeltower_regression_rmse": None if reg is None else reg.rmse,
            "modeltower_label_coverage": m.label_coverage,
        }
        for name, value in values.items():
            if value is not None:  # no sample rather than NaN: "unknown", not "broken"
                families[name].add_metric([model, version], value)
    yield from families.values()


@router.get(
    "/metrics",
    summary="Prometheus metrics (text format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4: {}}}},
)
def prometheus_metrics(request: Request) -> Response:
    exporter = cast(PrometheusExporter, request.app.state.prometheus)
    body, content_type = exporter.render(request.headers.get("accept", ""))
    return Response(body, media_type=content_type)
