"""Presentation: plain results (dataclasses) to the JSON shapes the API documents."""

from __future__ import annotations

import dataclasses
from typing import Any

from modeltower.services.queries import Filters, TimeseriesPoint
from modeltower.services.window import WindowMetrics
from modeltower.store.base import ModelInfo
from modeltower.timewindow import Window, iso


def _iso(us: int | None) -> str | None:
    return None if us is None else iso(us)


def filters_json(f: Filters) -> dict[str, Any]:
    """The filters a query answer echoes back."""
    return {"version": f.version, "group": f.group, "tags": dict(f.tags)}


def model_json(info: ModelInfo, events_24h: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": info.name,
        "task": info.task,
        "task_declared": info.settings.task,
        "positive_label": info.settings.positive_label,
        "first_seen": _iso(info.first_seen_us),
        "last_seen": _iso(info.last_seen_us),
        "event_count": info.event_count,
        "versions": [
            {
                "version": v["version"],
                "first_seen": _iso(v["first_seen_us"]),
                "last_seen": _iso(v["last_seen_us"]),
                "event_count": v["event_count"],
            }
            for v in info.versions
        ],
    }
    if events_24h is not None:
        out["events_24h"] = events_24h
    return out


def window_json(window: Window) -> dict[str, Any]:
    return {"start": iso(window.start_us), "end": iso(window.end_us), "minutes": window.minutes}


def _section(obj: Any) -> Any:
    return None if obj is None else dataclasses.asdict(obj)


def metrics_json(
    model: str, window: Window, filters: dict[str, Any], m: WindowMetrics
) -> dict[str, Any]:
    cls = _section(m.classification)
    if cls is not None:
        cls["confusion_matrix"] = {"labels": cls.pop("labels"), "matrix": cls.pop("matrix")}
    biz = None
    if m.business is not None:
        biz = {
            "groups": {k: dataclasses.asdict(v) for k, v in m.business.groups.items()},
            "uplift": _section(m.business.uplift),
        }
    return {
        "model": model,
        "window": window_json(window),
        "filters": filters,
        "count": m.count,
        "throughput_per_min": m.throughput_per_min,
        "errors": m.errors,
        "error_rate": m.error_rate,
        "latency_ms": _section(m.latency),
        "labeled_count": m.labeled_count,
        "label_coverage": m.label_coverage,
        "classification": cls,
        "regression": _section(m.regression),
        "business": biz,
    }


def timeseries_json(
    model: str,
    window: Window,
    filters: dict[str, Any],
    bucket: str,
    rolling: str | None,
    metrics: list[str],
    points: list[TimeseriesPoint],
) -> dict[str, Any]:
    return {
        "model": model,
        "window": window_json(window),
        "filters": filters,
        "bucket": bucket,
        "rolling": rolling,
        "metrics": metrics,
        "points": [{"timestamp": iso(p.start_us), **p.values} for p in points],
    }
