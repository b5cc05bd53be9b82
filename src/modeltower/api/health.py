"""Liveness and readiness."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Request

from modeltower.api.responses import JSON
from modeltower.store.availability import StoreUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> JSON:
    return JSON({"status": "ok"})


@router.get("/readyz", summary="Readiness: the store is open and the writer runs")
async def readyz(request: Request) -> JSON:
    """503 while starting or while the database is unreachable; ``degraded`` (200, reads work)
    while it refuses writes (disk full, read-only), with the reason."""
    writer = request.app.state.writer
    if writer is None or not writer.running:
        return JSON({"status": "starting"}, status_code=503)
    store = request.app.state.store
    availability = getattr(store, "availability", None)
    if availability is not None and availability.unreachable:
        # Look again (bounded by the connect timeout): the fault may be over without traffic.
        with contextlib.suppress(StoreUnavailable):
            await asyncio.to_thread(store.ping)
    if availability is not None and availability.unreachable:
        return JSON({"status": "unavailable", "reason": availability.unreachable}, status_code=503)
    if availability is not None and availability.writes_refused:
        return JSON({"status": "degraded", "reason": availability.writes_refused})
    return JSON({"status": "ready"})
