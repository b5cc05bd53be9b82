"""The retention job: raw events expire after ``raw_days``, rollups after ``rollup_days``.

Long windows keep working once raw events are gone: they read the rollups (per-minute counts and
sums, the hourly latency sketch), so the dashboard's 30- and 90-day views are unaffected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from modeltower.ingest.writer import Writer
from modeltower.jobs.periodic import every
from modeltower.store.base import EnforceRetention, RetentionResult

log = logging.getLogger("modeltower.retention")

DAY_US = 86_400_000_000


class RetentionJob:
    """Deletes what has expired every ``interval_s`` (the first time one interval after start)."""

    def __init__(
        self,
        writer: Writer,
        *,
        raw_days: float,
        rollup_days: float,
        interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.writer = writer
        self.raw_us = int(raw_days * DAY_US)
        self.rollup_us = int(rollup_days * DAY_US)
        self.interval_s = interval_s
        self._clock = clock
        self.runs = 0
        self.failures = 0
        self.task: asyncio.Task[None] | None = None
        self.leader: Callable[[], bool] | None = None  # see Store.is_leader

    async def run_once(self, now_us: int | None = None) -> RetentionResult:
        """Delete what expired by ``now_us`` (default: now)."""
        now = int(self._clock() * 1_000_000) if now_us is None else now_us
        result: RetentionResult = await self.writer.write(
            EnforceRetention(now - self.raw_us, now - self.rollup_us)
        )
        self.runs += 1
        if result.events or result.rollup_rows:
            log.info(
                "retention: deleted %d raw events and %d rollup rows",
                result.events,
                result.rollup_rows,
            )
        return result

    def start(self, stop: asyncio.Event) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self._loop(stop), name="modeltower-retention")
        return self.task

    async def _loop(self, stop: asyncio.Event) -> None:
        def failed() -> None:
            self.failures += 1

        await every(
            self.interval_s,
            stop,
            self.run_once,
            log=log,
            what="retention",
            on_error=failed,
            leader=self.leader,
        )
