"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request

from modeltower.api.responses import JSON

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> JSON:
    return JSON({"status": "ok"})


@router.get("/readyz", summary="Readiness: the store is open and the writer runs")
async def readyz(request: Request) -> JSON:
    writer = request.app.state.writer
    ready = writer is not None and writer.running
    return JSON({"status": "ready" if ready else "starting"}, status_code=200 if ready else 503)
