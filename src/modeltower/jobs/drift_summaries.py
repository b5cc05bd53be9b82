"""Keeps every reference ready and its trend summaries up to date.

Every ``interval_s`` seconds, per reference: a window reference whose window has ended gets its
rows; a reference without a profile gets one; and the events stored since the last run (by
``events.seq``, so each event is summarized once, whatever its timestamp) are added to the
per-hour histograms of services/drift_trend.py, in batches, each batch committed together with
the progress marker so that a crash never counts an event twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import numpy as np

from modeltower.ingest.writer import Writer
from modeltower.services.drift_trend import summarize
from modeltower.services.reference import ReferenceService
from modeltower.store.base import AddDriftSummaries, ReferenceRecord, Store

log = logging.getLogger("modeltower.drift")

BATCH_EVENTS = 50_000


class DriftSummaryJob:
    """Brings references and their summaries up to date; ``run_once`` is also used by tests."""

    def __init__(
        self,
        store: Store,
        writer: Writer,
        refs: ReferenceService,
        interval_s: float,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.writer = writer
        self.refs = refs
        self.interval_s = interval_s
        self.leader: Callable[[], bool] | None = None  # see Store.is_leader
        self._clock = clock
        self.runs = 0
        self.failures = 0
        self.task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """One pass over every reference; returns the number of events summarized."""
        now_us = int(self._clock() * 1_000_000)
        done = 0
        for rec in await asyncio.to_thread(self.store.references):
            try:
                if rec.status == "collecting":
                    if int(rec.spec.get("end_us", now_us + 1)) <= now_us:
                        rec = await self.refs.fill(rec)
                    else:
                        continue
                elif rec.profile is None:
                    rec = await self.refs.prepare(rec)
                done += await self.update(rec)
            except Exception as exc:
                self.failures += 1
                log.error("drift summaries of model %r failed: %s", rec.model, exc, exc_info=exc)
        self.runs += 1
        return done

    async def update(self, rec: ReferenceRecord) -> int:
        """Summarize the events stored since the reference's summaries were last updated."""
        if rec.profile is None:
            return 0
        ref = await asyncio.to_thread(self.refs.load, rec)
        specs = ref.specs()
        progress = await asyncio.to_thread(self.store.drift_progress, rec.ref_id)
        top = await asyncio.to_thread(self.store.last_seq)
        done = 0
        while progress < top:
            data = await asyncio.to_thread(
                self.store.new_event_features, rec.model, specs, progress, top, BATCH_EVENTS
            )
            last = data.last_seq if data.rows == BATCH_EVENTS else top
            hours = data.bucket if data.bucket is not None else np.zeros(0, np.int64)
            table = await asyncio.to_thread(summarize, data, ref, hours, True)
            table = table.rename_columns(["hour", *table.column_names[1:]])
            if not await self.writer.write(AddDriftSummaries(rec.ref_id, table, last)):
                break  # replaced or deleted meanwhile, or another run got there first
            done += data.rows
            progress = last
        return done

    def start(self, stop: asyncio.Event) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self._loop(stop), name="modeltower-drift")
        return self.task

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if self.leader is None or await asyncio.to_thread(self.leader):
                    await self.run_once()
            except Exception as exc:  # e.g. the store is closing: try again next time
                self.failures += 1
                log.error("drift summary run failed: %s", exc, exc_info=exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
