"""Model registry, settings, metrics, timeseries and export endpoints."""

from __future__ import annotations

import os
import tempfile
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from modeltower.api import deps, present
from modeltower.api.error_docs import errors, file_responses
from modeltower.api.params import EndQ, GroupQ, ModelName, StartQ, VersionQ, WindowQ, now_us
from modeltower.api.responses import JSON
from modeltower.ingest.schema import MAX_TS
from modeltower.store.base import ModelSettings
from modeltower.timewindow import Window, resolve_window

router = APIRouter(prefix="/v1/models", tags=["models"], responses=errors(404, 422))

_TAG_DOC = " Filter by tag with `tag.<key>=<value>` (repeatable)."


@router.get("", summary="Every model with its versions")
def list_models(request: Request) -> JSON:
    rows = deps.query_service(request).list_models()
    return JSON({"models": [present.model_json(info, n) for info, n in rows]})


class ModelSettingsIn(BaseModel):
    """Settings a user declares for a model."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"task": "classification", "positive_label": "churn"}]},
    )
    task: Literal["classification", "regression"] | None = Field(
        None,
        description="inferred when unset: strings/booleans -> classification, numbers -> regression",
    )
    positive_label: str | None = Field(
        None, max_length=256, description="positive class for binary metrics"
    )


@router.put("/{model}", summary="Declare a model's task and positive label", responses=errors(400))
async def put_model(model: ModelName, body: ModelSettingsIn, request: Request) -> JSON:
    await deps.ingest_service(request).put_settings(
        model, ModelSettings(task=body.task, positive_label=body.positive_label)
    )
    info = deps.query_service(request).model(model)
    return JSON(present.model_json(info))


@router.get("/{model}", summary="One model")
def get_model(model: ModelName, request: Request) -> JSON:
    return JSON(present.model_json(deps.query_service(request).model(model)))


@router.get(
    "/{model}/metrics",
    summary="Exact metrics over a window",
    description=(
        "Operations, latency percentiles (linear interpolation), classification, regression and "
        "business sections; sections that do not apply are null." + _TAG_DOC
    ),
)
def get_metrics(
    model: ModelName,
    request: Request,
    window: WindowQ = None,
    start: StartQ = None,
    end: EndQ = None,
    version: VersionQ = None,
    group: GroupQ = None,
) -> JSON:
    w = resolve_window(window=window, start=start, end=end, now_us=now_us())
    f = deps.filters(request, version, group)
    _, m = deps.query_service(request).metrics(model, w, f)
    return JSON(present.metrics_json(model, w, present.filters_json(f), m))


@router.get(
    "/{model}/timeseries",
    summary="Metrics per time bucket",
    description=(
        "One point per bucket (aligned to the epoch). With `rolling`, each point is the metric "
        "over the trailing period ending at the bucket's end, e.g. `metrics=f1&bucket=1d&rolling=7d`."
        + _TAG_DOC
    ),
)
def get_timeseries(
    model: ModelName,
    request: Request,
    metrics: Annotated[
        str, Query(description="comma-separated", examples=["count,latency_p99,accuracy,f1"])
    ] = "count",
    bucket: Annotated[str, Query(description="1m, 1h, 1d …", examples=["1h"])] = "1h",
    rolling: Annotated[
        str | None, Query(description="trailing period, a multiple of bucket")
    ] = None,
    window: WindowQ = None,
    start: StartQ = None,
    end: EndQ = None,
    version: VersionQ = None,
    group: GroupQ = None,
) -> JSON:
    w = resolve_window(window=window, start=start, end=end, now_us=now_us())
    f = deps.filters(request, version, group)
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    _, points = deps.query_service(request).timeseries(model, w, f, names, bucket, rolling)
    return JSON(
        present.timeseries_json(model, w, present.filters_json(f), bucket, rolling, names, points)
    )


@router.get(
    "/{model}/export",
    summary="Download events as CSV or Parquet",
    response_class=FileResponse,
    responses=file_responses(json=False),
)
def export(
    model: ModelName,
    request: Request,
    format: Annotated[Literal["csv", "parquet"], Query(description="file format")] = "csv",
    window: Annotated[
        str | None, Query(description="trailing duration (default: everything)")
    ] = None,
    start: StartQ = None,
    end: EndQ = None,
    version: VersionQ = None,
    group: GroupQ = None,
) -> FileResponse:
    qs = deps.query_service(request)
    qs.model(model)
    if window or start:
        w = resolve_window(window=window, start=start, end=end, now_us=now_us())
    else:
        w = Window(0, int(MAX_TS * 1_000_000))  # everything ingestion accepts
    f = deps.filters(request, version, group)
    fd, path = tempfile.mkstemp(prefix="modeltower-export-", suffix=f".{format}")
    os.close(fd)
    try:
        qs.store.export(f.to_filter(model, w), format, path)
    except BaseException:
        os.unlink(path)
        raise
    media = "text/csv" if format == "csv" else "application/vnd.apache.parquet"
    return FileResponse(
        path,
        media_type=media,
        filename=f"{model}.{format}",
        background=BackgroundTask(os.unlink, path),
    )
