"""One loop for the periodic jobs: run at a fixed schedule until asked to stop."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable


async def every(
    interval_s: float,
    stop: asyncio.Event,
    run: Callable[[], Awaitable[object]],
    *,
    log: logging.Logger,
    what: str,
    on_error: Callable[[], None] = lambda: None,
    leader: Callable[[], bool] | None = None,
) -> None:
    """Call ``run`` every ``interval_s`` (the first one interval in) until ``stop`` is set.

    The schedule is fixed — it does not drift by the runs' duration — and runs missed while one
    was busy are skipped rather than run back to back. A failing run is logged (and counted with
    ``on_error``) and the next one happens on schedule: a job never dies of one bad run. With
    ``leader``, a tick runs only while it answers True (one process of several runs the job)."""
    loop = asyncio.get_running_loop()
    next_at = loop.time() + interval_s
    while True:
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_at - loop.time()))
            return
        except TimeoutError:
            pass
        try:
            if leader is None or await asyncio.to_thread(leader):
                await run()
        except Exception as exc:  # e.g. the database is unavailable: try next interval
            on_error()
            log.error("%s failed: %s", what, exc, exc_info=exc)
        next_at += interval_s
        behind = loop.time() - next_at
        if behind > 0:
            next_at += interval_s * math.ceil(behind / interval_s)
