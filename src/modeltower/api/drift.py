"""Drift references, drift, the drift trend, distributions and data quality (docs/DRIFT_API.md)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from typing import Annotated, Any, Literal, cast

import orjson
from fastapi import APIRouter, Query, Request

from modeltower.api import deps, present, present_drift
from modeltower.api.error_docs import errors
from modeltower.api.errors import BodyTooLarge
from modeltower.api.params import EndQ, GroupQ, ModelName, StartQ, VersionQ, WindowQ, now_us
from modeltower.api.responses import JSON
from modeltower.services.drift import DriftService
from modeltower.services.drift_trend import DriftTrendService
from modeltower.services.quality import QualityService
from modeltower.services.reference import (
    NoReference,
    ReferenceService,
    WindowSpec,
    validate_settings,
)
from modeltower.store.reference_files import FORMATS, ReferenceFileInvalid, load_reference_file
from modeltower.timewindow import (
    BadParameter,
    Window,
    parse_duration,
    parse_instant,
    resolve_window,
)

router = APIRouter(prefix="/v1/models", tags=["drift and data quality"], responses=errors(404, 422))

_CONTENT_FORMATS = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/json": "json",
    "application/x-ndjson": "json",
    "application/jsonl": "json",
}
_WINDOW_KEYS = {
    "start",
    "end",
    "first",
    "version",
    "features",
    "prediction",
    "score",
    "drift_share",
}
_FILTER_DOC = " Same window and filters as `/metrics` (`tag.<key>=<value>` repeatable)."


def _refs(request: Request) -> ReferenceService:
    return cast(ReferenceService, request.app.state.references)


def _drift(request: Request) -> DriftService:
    return cast(DriftService, request.app.state.drift)


def _window(window: str | None, start: str | None, end: str | None) -> Window:
    return resolve_window(window=window, start=start, end=end, now_us=now_us())


async def _spool(request: Request, limit: int) -> tuple[str, bytes]:
    """The body in a temporary file (refused beyond ``limit`` bytes); returns its path and the
    first bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    fd, path = tempfile.mkstemp(prefix="modeltower-reference-")
    head = b""
    size = 0
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(limit)
                if len(head) < 64:
                    head += chunk[:64]
                f.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return path, head


def _window_spec(body: dict[str, Any]) -> WindowSpec:
    unknown = sorted(set(body) - _WINDOW_KEYS)
    if unknown:
        hint = (
            "; rows as JSON lines need Content-Type application/x-ndjson"
            if not set(body) & {"start", "end", "first"}
            else ""
        )
        raise BadParameter(
            unknown[0], f"unknown field; a window takes {sorted(_WINDOW_KEYS)}{hint}"
        )
    version = body.get("version")
    if version is not None and (not isinstance(version, str) or not version):
        raise BadParameter("version", "must be a non-empty string")
    if "first" in body:
        if "start" in body or "end" in body:
            raise BadParameter("first", "give first, or start and end, not both")
        text = body["first"]
        if not isinstance(text, str):
            raise BadParameter("first", "expected a duration such as 1d or 7d")
        return WindowSpec(first_us=parse_duration(text, "first"), version=version, first_text=text)
    if "start" not in body or "end" not in body:
        raise BadParameter("start", "a window reference needs start and end, or first")

    def instant(field: str) -> int:
        v = body[field]
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise BadParameter(field, "expected RFC 3339 time or epoch seconds")
        return parse_instant(str(v), field)

    return WindowSpec(instant("start"), instant("end"), version=version)


@router.put(
    "/{model}/reference",
    summary="Set the drift reference: a dataset or a window of the model's own events",
    description=(
        "A dataset as CSV, Parquet, a JSON array of rows or NDJSON (the content type, or "
        '`format`, says which), or a JSON object naming a window: `{"start", "end"}` or '
        '`{"first": "7d"}`, optionally with `version` and settings (`features`, '
        "`drift_share`)."
    ),
)
async def put_reference(
    model: ModelName,
    request: Request,
    format: Annotated[
        Literal["csv", "parquet", "json"] | None, Query(description="overrides the content type")
    ] = None,
) -> JSON:
    settings = deps.settings(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = format or _CONTENT_FORMATS.get(ctype)
    if fmt is None:
        raise BadParameter(
            "content-type",
            f"unsupported {ctype or 'missing'} content type; send text/csv, "
            "application/vnd.apache.parquet, application/json or application/x-ndjson, "
            f"or give format ({', '.join(FORMATS)})",
        )
    path, head = await _spool(request, settings.max_reference_bytes)
    try:
        refs = _refs(request)
        if fmt == "json" and head.lstrip()[:1] == b"{" and ctype != "application/x-ndjson":
            with open(path, "rb") as f:
                raw = f.read()
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise BadParameter("body", f"malformed JSON: {exc}") from None
            spec = _window_spec(body)
            checked = validate_settings(body)
            rec = await refs.set_window(model, spec, checked, now_us())
        else:
            try:
                table = await asyncio.to_thread(
                    load_reference_file, path, fmt, settings.max_reference_rows
                )
            except ReferenceFileInvalid as exc:
                raise BadParameter("body", str(exc)) from None
            spec_json = {"format": fmt, "content_type": ctype or None}
            rec = await refs.set_dataset(model, table, spec_json, {})
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return JSON(present_drift.reference_json(rec))


@router.patch("/{model}/reference", summary="Change the reference's per-column settings")
async def patch_reference(model: ModelName, request: Request) -> JSON:
    raw = await deps.read_body(request, 1024 * 1024)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadParameter("body", f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadParameter("body", "expected an object with features and/or drift_share")
    extra = sorted(set(body) - {"features", "prediction", "score", "drift_share"})
    if extra:
        raise BadParameter(
            extra[0], "unknown field; expected features, prediction, score, drift_share"
        )
    rec = await _refs(request).update_settings(model, validate_settings(body))
    return JSON(present_drift.reference_json(rec))


@router.get("/{model}/reference", summary="The model's drift reference")
def get_reference(model: ModelName, request: Request) -> JSON:
    return JSON(present_drift.reference_json(_refs(request).record(model)))


@router.delete("/{model}/reference", summary="Remove the model's drift reference")
async def delete_reference(model: ModelName, request: Request) -> JSON:
    if not await _refs(request).delete(model):
        raise NoReference(model)
    return JSON({"deleted": True, "model": model})


@router.get(
    "/{model}/drift",
    summary="Drift of every feature, the prediction and the score against the reference",
    description="Exact scores (Evidently's statistics), verdicts and the dataset's drift share."
    + _FILTER_DOC,
)
def get_drift(
    model: ModelName,
    request: Request,
    window: WindowQ = None,
    start: StartQ = None,
    end: EndQ = None,
    version: VersionQ = None,
    group: GroupQ = None,
) -> JSON:
    w = _window(window, start, end)
    f = deps.filters(request, version, group)
    report = _drift(request).drift(model, w, f)
    return JSON(present_drift.drift_json(model, w, present.filters_json(f), report))


@router.get(
    "/{model}/drift/timeseries",
    summary="Drift scores per time bucket (from per-hour summaries)",
    description="Buckets of whole hours (1h, 6h, 1d …) aligned to the epoch." + _FILTER_DOC,
)
def get_drift_timeseries(
    model: ModelName,
    request: Request,
    bucket: Annotated[str, Query(description="1h, 6h, 1d …")] = "1h",
    columns: Annotated[str | None, Query(description="comma-separated column names")] = None,
    window: WindowQ = None,
    start: StartQ = None,
    end: EndQ = None,
    version: VersionQ = None,
    group: GroupQ = None,
) -> JSON:
    w = _window(window, start, end)
    f = deps.filters(request, version, group)
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    trend = cast(DriftTrendService, request.app.state.drift_trend).timeseries(
        model, w, f, bucket, names
    )
    return JSON(present_drift.trend_json(model, present.filters_json(f), bucket, trend))


@router.get(
    "/{model}/drift/distribution",
    summary="Reference and current distribution of one column",
    description=_FILTER_DOC.strip(),
)
def get_distribution(
    model: ModelName,
    request: Request,
    column: Annotated[str, Query(min_length=1, description="column name")],
    role: Annotated[Literal["feature", "prediction", "score"], Query()] = "feature",
    window: WindowQ = None,
    start: StartQ = None,
    end: EndQ = None,
    version: VersionQ = None,
    group: GroupQ = None,
) -> JSON:
    w = _window(window, start, end)
    f = deps.filters(request, version, group)
    d = _drift(request).distribution(model, w, f, column, role)
    return JSON(present_drift.distribution_json(model, w, present.filters_json(f), d))


@router.get(
    "/{model}/quality",
    summary="Data quality per feature: nulls, type mismatches, range, new values",
    description=_FILTER_DOC.strip(),
)
def get_quality(
    model: ModelName,
    request: Request,
    window: WindowQ = None,
    start: StartQ = None,
    end: EndQ = None,
    version: VersionQ = None,
    group: GroupQ = None,
) -> JSON:
    w = _window(window, start, end)
    f = deps.filters(request, version, group)
    q = cast(QualityService, request.app.state.quality).quality(model, w, f)
    return JSON(present_drift.quality_json(model, w, present.filters_json(f), q))
