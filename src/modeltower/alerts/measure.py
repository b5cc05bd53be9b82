"""Measuring a rule on one model and version: the value, its baseline and the verdict.

Values come from the same services as the API (``/metrics``, ``/drift``, ``/quality``), so an
alert's value is exactly what the dashboard shows for that window. Results are cached per
evaluation run by (source, model, filters, window), so rules that share a window share a query.
"""

from __future__ import annotations

import math
import operator
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modeltower.alerts.rules import Rule, metric_source, samples_kind
from modeltower.alerts.state import Observation
from modeltower.services.drift import STATUS_OK, DriftService
from modeltower.services.quality import QualityService
from modeltower.services.queries import Filters, QueryService, UnknownModel
from modeltower.services.window import flatten
from modeltower.store.base import Store
from modeltower.timewindow import Window

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class NoValue(Exception):
    """The metric cannot be measured for this window; the message says why."""


class _Failed:
    """A query that raised: kept so that the other rules reading it do not run it again."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


class BaselineCache:
    """Baselines kept between evaluation runs: a reference window's value changes only as late
    labels arrive, and a trailing window of days hardly moves in 30 s, so each is recomputed at
    most every ``ttl_s`` (real time) instead of at every run."""

    def __init__(self, ttl_s: float = 300.0, size: int = 512) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], compute: Callable[[], float]) -> float:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and now - hit[0] <= self.ttl_s:
            if isinstance(hit[1], NoValue):
                raise hit[1]
            return float(hit[1])
        try:
            value: Any = compute()
        except NoValue as exc:
            value = exc
        with self._lock:
            self._items[key] = (now, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        if isinstance(value, NoValue):
            raise value
        return float(value)


def trailing_end(now_us: int, window_us: int, baseline_us: int) -> int:
    """Where a trailing baseline ends: at the evaluated window's start, rounded down to 1 % of
    the baseline's length (at least a minute), so that successive runs share one baseline."""
    step = max(60_000_000, baseline_us // 100)
    return (now_us - window_us) // step * step


class Measurer:
    """Measures rules; one instance per evaluation run (its cache lives as long as the run)."""

    def __init__(
        self,
        store: Store,
        queries: QueryService,
        drift: DriftService,
        quality: QualityService,
        baselines: BaselineCache | None = None,
    ) -> None:
        self.store = store
        self.baselines = baselines or BaselineCache(ttl_s=0.0)
        # Window metrics this run needs (all rules together): one query reads just their parts.
        self.wanted: set[str] | None = None
        self.queries = queries
        self.drift = drift
        self.quality = quality
        self._cache: dict[tuple[Any, ...], Any] = {}

    def _cached(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            try:
                self._cache[key] = compute()
            except Exception as exc:  # e.g. UnknownModel: every rule on it learns it once
                self._cache[key] = _Failed(exc)
        hit = self._cache[key]
        if isinstance(hit, _Failed):
            raise hit.exc
        return hit

    def _query(
        self, rule: Rule, model: str, window: Window, filters: Filters
    ) -> tuple[tuple[Any, ...], Callable[[], Any]]:
        """The cache key and the query of what ``rule`` reads over ``window``."""
        source = metric_source(rule.metric)
        if source == "window":

            def compute() -> dict[str, Any]:
                _, m = self.queries.metrics(model, window, filters, self.wanted)
                return flatten(m)

            return ("window", model, filters, window), compute
        if source == "drift" and rule.metric == "drift_score":  # one column: read only that one
            feature = rule.feature or ""
            return ("drift", model, filters, window, feature), lambda: self.drift.columns_drift(
                model, window, filters, [feature]
            )
        if source == "drift":
            return ("drift", model, filters, window), lambda: self.drift.drift(
                model, window, filters
            )
        return ("quality", model, filters, window), lambda: self.quality.quality(
            model, window, filters
        )

    def prefetch(
        self, items: list[tuple[Rule, str, Window, Filters]], pool: ThreadPoolExecutor
    ) -> None:
        """Run the distinct queries of ``items`` concurrently (DuckDB releases the GIL), so that
        one run's evaluations use both cores instead of one."""
        jobs: dict[tuple[Any, ...], Callable[[], Any]] = {}
        for rule, model, window, filters in items:
            key, compute = self._query(rule, model, window, filters)
            if key not in self._cache:
                jobs.setdefault(key, compute)
        if len(jobs) < 2:
            return

        def run(item: tuple[tuple[Any, ...], Callable[[], Any]]) -> None:
            key, compute = item
            try:
                self._cache[key] = compute()
            except Exception as exc:
                self._cache[key] = _Failed(exc)

        list(pool.map(run, jobs.items()))

    def value(
        self, rule: Rule, model: str, window: Window, filters: Filters
    ) -> tuple[float, int | None]:
        """The metric over ``window`` and the sample count ``min_samples`` applies to."""
        source = metric_source(rule.metric)
        raw = self._cached(*self._query(rule, model, window, filters))
        if source == "window":
            values = raw
            kind = samples_kind(rule.metric)
            samples = {
                "none": None,
                "labeled": values["labeled_count"],
                "events": values["count"],
            }[kind]
            if samples is not None and samples < rule.min_samples:
                raise NoValue(
                    f"{samples} {kind} event(s) in the window, fewer than min_samples {rule.min_samples}"
                )
            v = values[rule.metric]
            if v is None:
                raise NoValue(f"{rule.metric} is not available for this window")
            return float(v), samples
        if source == "drift":
            report = raw
            if report.state.status != STATUS_OK:
                raise NoValue(report.state.message or report.state.status)
            if report.cur_rows < rule.min_samples:
                raise NoValue(
                    f"{report.cur_rows} event(s) in the window, fewer than min_samples {rule.min_samples}"
                )
            if rule.metric == "drift_score":
                col = _column(report.columns, rule.feature)
                if col.score is None:
                    raise NoValue(col.message or f"no drift score for {rule.feature!r}")
                return float(col.score), report.cur_rows
            if rule.metric == "drifted_features":
                return float(report.drifted), report.cur_rows
            if rule.metric == "dataset_drift":
                return float(report.dataset_drift), report.cur_rows
            if report.share is None:
                raise NoValue("the reference has no features")
            return float(report.share), report.cur_rows
        q = raw
        if q.state.status != STATUS_OK:
            raise NoValue(q.state.message or q.state.status)
        if q.rows < rule.min_samples:
            raise NoValue(
                f"{q.rows} event(s) in the window, fewer than min_samples {rule.min_samples}"
            )
        col = _column(q.columns, rule.feature)
        v = getattr(col, rule.metric)
        if v is None:
            raise NoValue(f"{rule.metric} does not apply to {rule.feature!r}")
        return float(v), q.rows

    def baseline(
        self, rule: Rule, model: str, version: str | None, filters: Filters, now_us: int
    ) -> float:
        """The same metric over the baseline: the reference's window, or the trailing window that
        ends where the evaluated one starts."""
        assert rule.baseline is not None
        key = (rule.metric, rule.feature, rule.min_samples, model)
        if rule.baseline.source == "trailing":
            assert rule.baseline.window_us is not None
            end = trailing_end(now_us, rule.window_us, rule.baseline.window_us)
            window = Window(end - rule.baseline.window_us, end)
            return self.baselines.get(
                (*key, filters, window), lambda: self.value(rule, model, window, filters)[0]
            )
        rec = self.store.reference(model)
        if rec is None:
            raise NoValue(f"model {model!r} has no reference to compare with")
        if rec.kind != "window" or rec.status != "ready":
            raise NoValue(
                "the reference is a dataset without this metric"
                if rec.kind != "window"
                else "the reference window is still collecting"
            )
        ref_version = rec.spec.get("version") or version
        ref_filters = Filters(version=ref_version, group=filters.group, tags=filters.tags)
        window = Window(int(rec.spec["start_us"]), int(rec.spec["end_us"]))
        return self.baselines.get(
            (*key, ref_filters, window, rec.ref_id),
            lambda: self.value(rule, model, window, ref_filters)[0],
        )

    def observe(self, rule: Rule, model: str, version: str | None, now_us: int) -> Observation:
        """Evaluate a rule on one instance at ``now_us``."""
        filters = Filters(version=version, group=rule.group, tags=rule.tags)
        window = Window(now_us - rule.window_us, now_us)
        try:
            value, samples = self.value(rule, model, window, filters)
            base = None
            compared = value
            if rule.baseline is not None:
                base = self.baseline(rule, model, version, filters, now_us)
                compared = value - base
                if rule.change == "relative":
                    if base == 0:
                        raise NoValue("the baseline is 0: a relative change is undefined")
                    compared = compared / abs(base)
        except UnknownModel:
            return Observation(None, message=f"model {model!r} has sent no events yet")
        except NoValue as exc:
            return Observation(None, message=str(exc))
        if not math.isfinite(compared):
            return Observation(None, value, base, samples, "the value is not a finite number")
        holds = COMPARE[rule.op](compared, rule.threshold)
        return Observation(holds, value, base, samples)


def _column(columns: Any, name: str | None) -> Any:
    """The report column named ``name`` (features first, then prediction and score)."""
    found = [c for c in columns if c.name == name]
    if not found:
        raise NoValue(f"there is no column {name!r} in the reference")
    found.sort(key=lambda c: c.role != "feature")
    return found[0]
