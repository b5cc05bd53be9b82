"""Report tables: formatted rows built from the fetched JSON. Pure functions, plain data out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Cell",
    "DriftRow",
    "QualityRow",
    "SummaryRow",
    "daily_table",
    "drift_rows",
    "drift_summary",
    "quality_rows",
    "quality_summary",
    "summary_rows",
]

_DAILY_COLUMNS = [
    ("event_date", "date"),
    ("model_version", "version"),
    ("daily_accuracy", "accuracy"),
    ("avg_latency_ms", "mean latency (ms)"),
    ("p99_latency_ms", "p99 latency (ms)"),
    ("daily_prediction_volume", "predictions"),
    ("daily_revenue", "revenue"),
]
#: Header of the data-quality table.
QUALITY_HEADER = [
    "column",
    "type",
    "events",
    "null share",
    "reference null share",
    "missing",
    "type mismatches",
    "out of range",
    "new values",
    "distinct (reference)",
]
#: A null share this much above the reference's is flagged in the data-quality table.
NULL_CHANGE = 0.05


@dataclass(frozen=True)
class SummaryRow:
    key: str
    label: str
    value: float | int | None
    text: str


@dataclass(frozen=True)
class DriftRow:
    """One column of the drift table, formatted."""

    name: str
    role: str
    type: str
    method: str
    kind: str
    score: str
    threshold: str
    verdict: str  # "drift", "ok" or "no data"
    nulls: str
    null_drift: bool
    message: str


@dataclass(frozen=True)
class Cell:
    text: str
    num: bool = False
    flag: bool = False


@dataclass(frozen=True)
class QualityRow:
    name: str
    role: str
    cells: list[Cell]


def _fmt(value: Any, kind: str = "num") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if kind == "pct":
        return f"{100 * value:.2f} %"
    if kind == "ms":
        return f"{value:,.1f} ms"
    if kind == "int" or isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.1f}"


def summary_rows(metrics: dict[str, Any]) -> list[SummaryRow]:
    """The summary table: (key, label, exact value from /metrics, formatted text)."""
    rows: list[tuple[str, str, Any, str]] = [
        ("count", "Events", metrics.get("count"), "int"),
        ("throughput_per_min", "Throughput (events / min)", metrics.get("throughput_per_min"), ""),
        ("errors", "Errors", metrics.get("errors"), "int"),
        ("error_rate", "Error rate", metrics.get("error_rate"), "pct"),
    ]
    lat = metrics.get("latency_ms") or {}
    for k in ("mean", "p50", "p95", "p99", "max"):
        rows.append((f"latency_ms.{k}", f"Latency {k}", lat.get(k), "ms"))
    rows += [
        ("labeled_count", "Labeled events", metrics.get("labeled_count"), "int"),
        ("label_coverage", "Label coverage", metrics.get("label_coverage"), "pct"),
    ]
    cls = metrics.get("classification")
    if cls:
        for k in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            rows.append(
                (
                    f"classification.{k}",
                    k.replace("_", " ").upper() if k == "roc_auc" else k.capitalize(),
                    cls.get(k),
                    "pct",
                )
            )
        rows.append(("classification.log_loss", "Log loss", cls.get("log_loss"), ""))
    reg = metrics.get("regression")
    if reg:
        for k, label, kind in (
            ("mae", "MAE", ""),
            ("rmse", "RMSE", ""),
            ("mape", "MAPE", "pct"),
            ("r2", "R²", ""),
        ):
            rows.append((f"regression.{k}", label, reg.get(k), kind))
    u = (metrics.get("business") or {}).get("uplift")
    if u:
        rows.append(("business.uplift.absolute", "Uplift (absolute)", u.get("absolute"), "pct"))
        rows.append(("business.uplift.p_value", "Uplift p-value", u.get("p_value"), ""))
    return [SummaryRow(k, label, v, _fmt(v, kind)) for k, label, v, kind in rows]


def daily_table(daily: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows of the daily health table."""
    kinds = {"daily_accuracy": "pct", "daily_prediction_volume": "int"}
    body = [
        [
            str(r.get(k))
            if k in ("event_date", "model_version")
            else _fmt(r.get(k), kinds.get(k, ""))
            for k, _ in _DAILY_COLUMNS
        ]
        for r in daily.get("rows") or []
    ]
    return [label for _, label in _DAILY_COLUMNS], body


# ---------------------------------------------------------------- drift and data quality


def fmt_score(value: Any) -> str:
    """A drift score or threshold: three significant digits, tiny p-values in e-notation."""
    if value is None:
        return "–"
    if value == 0:
        return "0"
    if abs(value) < 0.001:
        return f"{value:.1e}"
    return f"{value:.3g}"


def severity(col: dict[str, Any]) -> float | None:
    """Score relative to the threshold, above 1 when drifted, comparable across kinds."""
    score, threshold = col.get("score"), col.get("threshold") or 0.0
    if score is None:
        return None
    if col.get("kind") == "p_value":
        return float(threshold) / max(float(score), 1e-300)
    return float(score) / threshold if threshold > 0 else float(score)


def _sort_key(col: dict[str, Any]) -> tuple[bool, bool, float]:
    sev = severity(col)
    return (not col.get("drift"), sev is None, -(sev or 0.0))


def drift_rows(drift: dict[str, Any] | None) -> list[DriftRow]:
    """Drifted columns first, then the most severe (distances: score descending; p-values:
    score ascending); columns without a score last; ties in the API's order."""
    if not drift:
        return []
    rows = []
    for c in sorted(drift.get("columns") or [], key=_sort_key):
        nc = c.get("null_change") or {}
        nulls = (
            f"{_fmt(nc.get('reference_share'), 'pct')} → {_fmt(nc.get('current_share'), 'pct')}"
            if nc
            else "–"
        )
        verdict = "no data" if c.get("score") is None else ("drift" if c.get("drift") else "ok")
        rows.append(
            DriftRow(
                name=str(c.get("name")),
                role=str(c.get("role") or ""),
                type=str(c.get("type") or "–"),
                method=str(c.get("method") or "–"),
                kind=str(c.get("kind") or ""),
                score=fmt_score(c.get("score")),
                threshold=fmt_score(c.get("threshold")),
                verdict=verdict,
                nulls=nulls,
                null_drift=bool(nc.get("drift")),
                message=str(c.get("message") or ""),
            )
        )
    return rows


def drift_summary(drift: dict[str, Any] | None) -> str:
    """The dataset verdict in words, or "" without one."""
    ds = (drift or {}).get("dataset")
    if not drift or drift.get("status") != "ok" or not ds:
        return ""
    text = (
        f"{ds.get('drifted')} of {ds.get('total')} features drifted "
        f"(share {_fmt(ds.get('share'), 'pct')}; dataset drift at {_fmt(ds.get('threshold'), 'pct')})"
    )
    if drift.get("null_drifted"):
        text += f"; the null share changed in {drift['null_drifted']} column(s)"
    rows = drift.get("rows") or {}
    if rows:
        text += f". Reference {_fmt(rows.get('reference'), 'int')} rows"
        text += f", current window {_fmt(rows.get('current'), 'int')} rows"
    return text + "."


def _count_share(count: Any, share: Any) -> str:
    if count is None:
        return "–"
    return _fmt(count, "int") + (f" ({_fmt(share, 'pct')})" if share is not None else "")


def quality_rows(quality: dict[str, Any] | None) -> list[QualityRow]:
    """One row per column of ``/quality``, in the API's order, notable cells flagged."""
    rows = []
    for c in (quality or {}).get("columns") or []:
        null_share, ref_share = c.get("null_share"), c.get("reference_null_share")
        null_up = null_share is not None and ref_share is not None
        null_up = null_up and null_share - ref_share >= NULL_CHANGE
        top = ", ".join(
            f"{v.get('value')} ({_fmt(v.get('count'), 'int')})"
            for v in c.get("top_new_values") or []
        )
        new = _count_share(c.get("new_values"), c.get("new_value_share"))
        distinct = _fmt(c.get("distinct"), "int")
        if c.get("reference_distinct") is not None:
            distinct += f" ({_fmt(c.get('reference_distinct'), 'int')})"
        cells = [
            Cell(str(c.get("type") or "–")),
            Cell(_fmt(c.get("count"), "int"), num=True),
            Cell(_fmt(null_share, "pct"), num=True, flag=null_up),
            Cell(_fmt(ref_share, "pct"), num=True),
            Cell(_fmt(c.get("missing"), "int"), num=True),
            Cell(
                _count_share(c.get("type_mismatches"), c.get("type_mismatch_share")),
                num=True,
                flag=bool(c.get("type_mismatches")),
            ),
            Cell(
                _count_share(c.get("out_of_range"), c.get("out_of_range_share")),
                num=True,
                flag=bool(c.get("out_of_range")),
            ),
            Cell(new + (f": {top}" if top else ""), flag=bool(c.get("new_values"))),
            Cell(distinct, num=True),
        ]
        rows.append(QualityRow(str(c.get("name")), str(c.get("role") or ""), cells))
    return rows


def quality_summary(quality: dict[str, Any] | None) -> str:
    """Events whose feature keys differ from the reference's, in words."""
    if not quality or not quality.get("columns"):
        return ""
    parts = [f"{_fmt(quality.get('rows'), 'int')} events in the window."]
    unknown = quality.get("unknown_features") or []
    if quality.get("events_with_unknown_features"):
        names = ", ".join(f"{u.get('name')} ({_fmt(u.get('count'), 'int')})" for u in unknown)
        parts.append(
            f"{quality['events_with_unknown_features']:,} with features the reference does not have"
            + (f": {names}." if names else ".")
        )
    if quality.get("events_missing_features"):
        parts.append(
            f"{quality['events_missing_features']:,} missing at least one reference feature."
        )
    return " ".join(parts)
