"""Health snapshots and the daily health table, plus the seed's ``POST /snapshot/{model_name}``."""

from __future__ import annotations

import io
import logging
import re
from typing import Annotated, Any, Literal, cast

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from fastapi import APIRouter, BackgroundTasks, Query, Request
from starlette.responses import Response

from modeltower.api import deps, present
from modeltower.api.error_docs import errors, file_responses
from modeltower.api.params import EndQ, ModelName, StartQ, VersionQ, WindowQ, now_us
from modeltower.api.responses import JSON
from modeltower.jobs.snapshots import SnapshotJob
from modeltower.store.base import DailyHealth, EventFilter, HealthSnapshot
from modeltower.timewindow import Window, iso, resolve_window

log = logging.getLogger("modeltower.api")

router = APIRouter(tags=["health snapshots"], responses=errors(404, 422))

_DAY_US = 86_400_000_000


def _job(request: Request) -> SnapshotJob:
    return cast(SnapshotJob, request.app.state.snapshots)


def snapshot_json(s: HealthSnapshot) -> dict[str, Any]:
    """A snapshot as the API documents it (``version`` null: all versions together)."""
    return {
        "model": s.model,
        "version": s.version,
        "window": present.window_json(Window(s.window_start_us, s.window_end_us)),
        "created_at": iso(s.created_us),
        "task": s.task,
        "total_predictions": s.total_predictions,
        "labeled_count": s.labeled_count,
        "accuracy": s.accuracy,
        "f1": s.f1,
        "mae": s.mae,
        "rmse": s.rmse,
        "latency_mean_ms": s.latency_mean_ms,
        "latency_p95_ms": s.latency_p95_ms,
        "latency_p99_ms": s.latency_p99_ms,
        "error_rate": s.error_rate,
        "label_coverage": s.label_coverage,
    }


def daily_json(row: DailyHealth) -> dict[str, Any]:
    return {
        "event_date": row.event_date.isoformat(),
        "model_version": row.model_version,
        "daily_accuracy": row.daily_accuracy,
        "avg_latency_ms": row.avg_latency_ms,
        "p99_latency_ms": row.p99_latency_ms,
        "daily_prediction_volume": row.daily_prediction_volume,
        "daily_revenue": row.daily_revenue,
    }


_DAILY_SCHEMA = pa.schema(
    [
        ("event_date", pa.date32()),
        ("model_version", pa.string()),
        ("daily_accuracy", pa.float64()),
        ("avg_latency_ms", pa.float64()),
        ("p99_latency_ms", pa.float64()),
        ("daily_prediction_volume", pa.int64()),
        ("daily_revenue", pa.float64()),
    ]
)


def daily_file(rows: list[DailyHealth], fmt: str) -> bytes:
    """The daily table as CSV or Parquet bytes (it has one row per day and version: small)."""
    table = pa.table(
        {f.name: [getattr(r, f.name) for r in rows] for f in _DAILY_SCHEMA}, schema=_DAILY_SCHEMA
    )
    buf = io.BytesIO()
    if fmt == "csv":
        pa_csv.write_csv(table, buf)
    else:
        pq.write_table(table, buf)
    return buf.getvalue()


@router.post(
    "/v1/models/{model}/snapshots",
    summary="Compute a health snapshot now, store it and return it",
    description="Values are those of `/v1/models/{model}/metrics` for the same window and version.",
)
async def create_snapshot(
    model: ModelName,
    request: Request,
    window: WindowQ = None,
    start: StartQ = None,
    end: EndQ = None,
    version: VersionQ = None,
) -> JSON:
    w = resolve_window(window=window, start=start, end=end, now_us=now_us(), default="1h")
    snap = await _job(request).snapshot(model, w, version)
    return JSON(snapshot_json(snap))


@router.get(
    "/v1/models/{model}/snapshots",
    summary="Stored health snapshots whose window ends in a range",
    description="Oldest first. Without `version`, every snapshot (also the all-versions ones).",
)
def list_snapshots(
    model: ModelName,
    request: Request,
    window: WindowQ = None,
    start: StartQ = None,
    end: EndQ = None,
    version: VersionQ = None,
) -> JSON:
    qs = deps.query_service(request)
    qs.model(model)
    w = resolve_window(window=window, start=start, end=end, now_us=now_us() + 1)
    snaps = qs.store.snapshots(model, w.start_us, w.end_us, version)
    return JSON(
        {
            "model": model,
            "window": present.window_json(w),
            "snapshots": [snapshot_json(s) for s in snaps],
        }
    )


@router.get(
    "/v1/models/{model}/daily",
    summary="Daily health table: accuracy, latency, volume and revenue per UTC date and version",
    description=(
        "One row per UTC date and model version (default window 30d; the start is rounded down "
        "to midnight UTC so every row covers its whole day). `format=csv|parquet` downloads it."
    ),
    responses=file_responses(json=True),
)
def get_daily(
    model: ModelName,
    request: Request,
    window: WindowQ = None,
    start: StartQ = None,
    end: EndQ = None,
    version: VersionQ = None,
    format: Annotated[
        Literal["json", "csv", "parquet"], Query(description="answer format")
    ] = "json",
) -> Response:
    qs = deps.query_service(request)
    qs.model(model)
    w = resolve_window(window=window, start=start, end=end, now_us=now_us(), default="30d")
    w = Window(w.start_us - w.start_us % _DAY_US, w.end_us)
    rows = qs.store.daily_health(EventFilter(model, w.start_us, w.end_us, version))
    if format == "json":
        return JSON(
            {
                "model": model,
                "window": present.window_json(w),
                "filters": {"version": version},
                "rows": [daily_json(r) for r in rows],
            }
        )
    media = "text/csv" if format == "csv" else "application/vnd.apache.parquet"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", model)  # a model name is free text; a header is not
    return Response(
        daily_file(rows, format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{safe}-daily.{format}"'},
    )


async def _background_snapshot(job: SnapshotJob, model: str) -> None:
    # Runs after the answer was sent: nobody else would hear of a failure, so it is logged here.
    try:
        await job.snapshot_model(model)
    except Exception as exc:
        job.failures += 1
        log.error("health snapshot of model %r failed: %s", model, exc, exc_info=exc)


@router.post(
    "/snapshot/{model_name}",
    summary="Schedule a health snapshot of the last hour (original interface)",
    tags=["seed-compatible"],
)
async def schedule_snapshot(
    model_name: ModelName, request: Request, background: BackgroundTasks
) -> dict[str, str]:
    deps.query_service(request).model(model_name)  # an unknown model is a 404 now, not a log line
    background.add_task(_background_snapshot, _job(request), model_name)
    return {"status": "snapshot scheduled"}
