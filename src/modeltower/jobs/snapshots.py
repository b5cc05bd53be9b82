"""Health snapshots: a periodic job plus on-demand snapshots.

A snapshot's values come from :meth:`QueryService.metrics` for its window and version, so a stored
snapshot always equals what ``/v1/models/{m}/metrics`` answers for the same window and filter.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from modeltower.ingest.writer import Writer
from modeltower.jobs.periodic import every
from modeltower.services.queries import Filters, QueryService
from modeltower.services.window import WindowMetrics
from modeltower.store.base import HealthSnapshot, InsertSnapshots, ModelInfo
from modeltower.timewindow import Window

log = logging.getLogger("modeltower.snapshots")

# The seed's snapshot covers the last hour; the periodic job never covers less, so that with any
# interval every event falls into at least one snapshot.
SNAPSHOT_WINDOW_US = 3_600_000_000


def _finite(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else x


def snapshot_from_metrics(
    model: str,
    version: str | None,
    window: Window,
    created_us: int,
    task: str | None,
    m: WindowMetrics,
) -> HealthSnapshot:
    """The snapshot fields of one window's metrics (no rounding: the API's exact values)."""
    cls, reg, lat = m.classification, m.regression, m.latency
    return HealthSnapshot(
        model=model,
        version=version,
        window_start_us=window.start_us,
        window_end_us=window.end_us,
        created_us=created_us,
        task=task,
        total_predictions=m.count,
        labeled_count=m.labeled_count,
        accuracy=None if cls is None else cls.accuracy,
        f1=None if cls is None else cls.f1,
        mae=None if reg is None else reg.mae,
        rmse=None if reg is None else reg.rmse,
        latency_mean_ms=None if lat is None else _finite(lat.mean),
        latency_p95_ms=None if lat is None else _finite(lat.p95),
        latency_p99_ms=None if lat is None else _finite(lat.p99),
        error_rate=m.error_rate,
        label_coverage=m.label_coverage,
    )


def active_versions(info: ModelInfo, since_us: int) -> list[str | None]:
    """What the job snapshots for a model: ``None`` (all versions together) when the model had
    events since ``since_us``, then each named version that had. Idle models and versions are
    skipped, so the table does not fill with empty rows of retired versions."""
    if info.last_seen_us is None or info.last_seen_us < since_us:
        return []
    named = [
        v["version"]
        for v in info.versions
        if v["version"] is not None
        and v["last_seen_us"] is not None
        and v["last_seen_us"] >= since_us
    ]
    return [None, *named]


class SnapshotJob:
    """Stores a snapshot per model and version every ``interval_s`` seconds (first after one
    interval), and computes snapshots on demand for the API."""

    def __init__(
        self,
        queries: QueryService,
        writer: Writer,
        interval_s: float,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queries = queries
        self.writer = writer
        self.interval_s = interval_s
        self.window_us = max(SNAPSHOT_WINDOW_US, int(interval_s * 1_000_000))
        self._clock = clock
        self.runs = 0  # completed periodic runs
        self.failures = 0  # models (or whole runs) whose snapshot failed; each one is logged
        self.task: asyncio.Task[None] | None = None
        self.leader: Callable[[], bool] | None = None  # see Store.is_leader

    def _now_us(self) -> int:
        return int(self._clock() * 1_000_000)

    # ---- blocking parts: run in a worker thread ----------------------------------------------
    def compute(
        self, model: str, window: Window, version: str | None, created_us: int | None = None
    ) -> HealthSnapshot:
        """One snapshot, from the same metrics the API answers (raises UnknownModel)."""
        info, m = self.queries.metrics(model, window, Filters(version=version))
        created = self._now_us() if created_us is None else created_us
        return snapshot_from_metrics(model, version, window, created, info.task, m)

    def compute_model(self, model: str, now_us: int, window_us: int) -> list[HealthSnapshot]:
        """Snapshots of a model over [now - window, now): all versions, then each active one."""
        window = Window(now_us - window_us, now_us)
        info = self.queries.model(model)
        return [
            self.compute(model, window, version, now_us)
            for version in active_versions(info, window.start_us)
        ]

    # ---- async API ---------------------------------------------------------------------------
    async def snapshot(self, model: str, window: Window, version: str | None) -> HealthSnapshot:
        """Compute one snapshot now, store it, and return it."""
        snap = await asyncio.to_thread(self.compute, model, window, version)
        await self.writer.write(InsertSnapshots((snap,)))
        return snap

    async def snapshot_model(
        self, model: str, now_us: int | None = None, window_us: int = SNAPSHOT_WINDOW_US
    ) -> list[HealthSnapshot]:
        """Compute and store a model's snapshots over the window ending at ``now_us``."""
        now = self._now_us() if now_us is None else now_us
        snaps = await asyncio.to_thread(self.compute_model, model, now, window_us)
        if snaps:
            await self.writer.write(InsertSnapshots(tuple(snaps)))
        return snaps

    async def run_once(self, now_us: int | None = None) -> list[HealthSnapshot]:
        """One periodic run over every model. A failing model is logged with its reason and
        counted; the other models are still snapshotted."""
        now = self._now_us() if now_us is None else now_us
        models = await asyncio.to_thread(self.queries.list_models)
        stored: list[HealthSnapshot] = []
        for info, _ in models:
            try:
                stored += await self.snapshot_model(info.name, now, self.window_us)
            except Exception as exc:
                self.failures += 1
                log.error(
                    "health snapshot of model %r failed: %s",
                    info.name,
                    exc or type(exc).__name__,
                    exc_info=exc,
                )
        self.runs += 1
        return stored

    def start(self, stop: asyncio.Event) -> asyncio.Task[None]:
        """Run the periodic job until ``stop`` is set."""
        self.task = asyncio.create_task(self._loop(stop), name="modeltower-snapshots")
        return self.task

    async def _loop(self, stop: asyncio.Event) -> None:
        def failed() -> None:  # e.g. the model list could not be read: try next time
            self.failures += 1

        await every(
            self.interval_s,
            stop,
            self.run_once,
            log=log,
            what="health snapshot run",
            on_error=failed,
            leader=self.leader,
        )
