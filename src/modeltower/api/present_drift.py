"""Presentation of references, drift, drift trends, distributions and data quality as JSON
(the shapes of docs/DRIFT_API.md)."""

from __future__ import annotations

import math
from typing import Any

from modeltower.drift import NullShareResult
from modeltower.services.drift import ColumnDrift, Distribution, DriftReport, State
from modeltower.services.drift_trend import DriftTrend
from modeltower.services.profile import StatusCounts, columns_from_profile
from modeltower.services.quality import QualityReport
from modeltower.services.reference import DEFAULT_DRIFT_SHARE, column_override
from modeltower.store.base import ReferenceRecord
from modeltower.timewindow import Window, iso


def _num(x: float | None) -> float | None:
    # JSON has no infinity: a chi-square p-value of 0 stays 0, an infinite distance becomes null
    return None if x is None or math.isnan(x) or math.isinf(x) else float(x)


def _window(w: Window) -> dict[str, str]:
    return {"start": iso(w.start_us), "end": iso(w.end_us)}


def _head(model: str, w: Window, filters: dict[str, Any], state: State) -> dict[str, Any]:
    return {
        "model": model,
        "window": _window(w),
        "filters": filters,
        "status": state.status,
        "message": state.message,
    }


def reference_json(rec: ReferenceRecord) -> dict[str, Any]:
    spec = dict(rec.spec)
    for k in ("start_us", "end_us"):
        if isinstance(spec.get(k), int):
            spec[k[:-3]] = iso(spec.pop(k))
    columns = []
    for c in columns_from_profile(rec.profile or {}):
        over = column_override(rec.settings, c)
        columns.append(
            {
                "name": c.name,
                "role": c.role,
                "type": c.type,
                "inferred_type": c.inferred_type,
                "method": over.get("method"),
                "threshold": over.get("threshold"),
            }
        )
    return {
        "model": rec.model,
        "kind": rec.kind,
        "status": rec.status,
        "rows": rec.row_count,
        "spec": spec,
        "created_at": iso(rec.created_us),
        "drift_share": rec.settings.get("drift_share", DEFAULT_DRIFT_SHARE),
        "columns": columns,
    }


def _ref_summary(rec: ReferenceRecord | None) -> dict[str, Any] | None:
    if rec is None:
        return None
    return {
        "kind": rec.kind,
        "status": rec.status,
        "rows": rec.row_count,
        "created_at": iso(rec.created_us),
    }


def _counts(s: StatusCounts, count: int) -> dict[str, Any]:
    return {"count": count, "nulls": s.nulls, "null_share": _num(s.null_share)}


def _null_change(n: NullShareResult | None) -> dict[str, Any] | None:
    if n is None:
        return None
    return {
        "reference_share": _num(n.reference_share),
        "current_share": _num(n.current_share),
        "change": _num(n.change),
        "p_value": _num(n.p_value),
        "drift": n.drift,
    }


def _column(c: ColumnDrift) -> dict[str, Any]:
    return {
        "name": c.name,
        "role": c.role,
        "type": c.type,
        "method": c.method,
        "kind": c.kind,
        "score": _num(c.score),
        "threshold": c.threshold,
        "drift": c.drift,
        "reference": _counts(c.reference, c.reference_count),
        "current": _counts(c.current, c.current_count),
        "null_change": _null_change(c.null_change),
        "message": c.message,
    }


def _sample(rows: int, sampled_from: int) -> dict[str, Any] | None:
    """How the window's rows were chosen when they are a uniform sample of its events."""
    if not sampled_from:
        return None
    return {"events": sampled_from, "sampled": rows, "method": "uniform, by a hash of the event"}


def drift_json(model: str, w: Window, filters: dict[str, Any], r: DriftReport) -> dict[str, Any]:
    out = _head(model, w, filters, r.state)
    out["reference"] = _ref_summary(r.state.record)
    out["rows"] = {"reference": r.ref_rows, "current": r.cur_rows}
    out["sample"] = _sample(r.cur_rows, r.sampled_from)
    out["dataset"] = (
        {
            "drifted": r.drifted,
            "total": len(r.features),
            "share": _num(r.share),
            "threshold": r.drift_share_threshold,
            "drift": r.dataset_drift,
        }
        if r.columns
        else None
    )
    out["null_drifted"] = r.null_drifted
    out["columns"] = [_column(c) for c in r.columns]
    return out


def trend_json(model: str, filters: dict[str, Any], bucket: str, t: DriftTrend) -> dict[str, Any]:
    out = _head(model, t.window, filters, t.state)
    out.update(
        bucket=bucket,
        approximate=t.approximate,
        timestamps=[iso(s) for s in t.starts],
        count=t.count,
        drifted=t.drifted(),
        drift_share=t.drift_share(),
        columns=[
            {
                "name": c.column.name,
                "role": c.column.role,
                "type": c.column.type,
                "method": c.method,
                "kind": c.kind,
                "threshold": c.threshold,
                "scores": [_num(s) for s in c.scores],
                "drift": c.drift,
                "null_share": c.null_share,
            }
            for c in t.columns
        ],
    )
    return out


def distribution_json(
    model: str, w: Window, filters: dict[str, Any], d: Distribution
) -> dict[str, Any]:
    out = _head(model, w, filters, d.state)
    col = d.column
    out.update(
        name=None if col is None else col.name,
        role=None if col is None else col.role,
        type=None if col is None else col.type,
        labels=list(d.labels),
        edges=None if d.edges is None else list(d.edges),
        reference=list(d.reference),
        current=list(d.current),
        reference_count=d.reference_count,
        current_count=d.current_count,
    )
    return out


def quality_json(
    model: str, w: Window, filters: dict[str, Any], q: QualityReport
) -> dict[str, Any]:
    out = _head(model, w, filters, q.state)
    out.update(
        rows=q.rows,
        sample=_sample(q.rows, q.sampled_from),
        events_with_unknown_features=q.events_with_unknown_features,
        events_missing_features=q.events_missing_features,
        unknown_features=[{"name": k, "count": n} for k, n in q.unknown_features],
        columns=[
            {
                "name": c.name,
                "role": c.role,
                "type": c.type,
                "count": c.count,
                "present": c.present,
                "missing": c.missing,
                "nulls": c.nulls,
                "null_share": c.null_share,
                "reference_null_share": c.reference_null_share,
                "type_mismatches": c.type_mismatches,
                "type_mismatch_share": c.type_mismatch_share,
                "out_of_range": c.out_of_range,
                "out_of_range_share": c.out_of_range_share,
                "reference_range": None if c.reference_range is None else list(c.reference_range),
                "new_values": c.new_values,
                "new_value_share": c.new_value_share,
                "top_new_values": [{"value": v, "count": n} for v, n in c.top_new_values],
                "distinct": c.distinct,
                "reference_distinct": c.reference_distinct,
            }
            for c in q.columns
        ],
    )
    return out
