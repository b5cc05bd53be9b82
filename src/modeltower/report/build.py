"""Report pipeline: fetch (HTTP) → :class:`ReportData` (plain JSON) → figures → HTML.

Fetching is the only step with I/O; everything after it is a pure function of the fetched data.
"""

from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import plotly.graph_objects as go
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from modeltower.timewindow import BadParameter, parse_duration
from modeltower.transfer import TransferError, _client, _describe, _json, _request

__all__ = ["ReportData", "ReportError", "bucket_for", "fetch", "render", "write_report"]

_HOUR_US = 3_600_000_000
_DAY_US = 24 * _HOUR_US
_OPS = ["count", "error_rate", "latency_p50", "latency_p95", "latency_p99", "label_coverage"]
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#17becf"]
_DAILY_COLUMNS = [
    ("event_date", "date"),
    ("model_version", "version"),
    ("daily_accuracy", "accuracy"),
    ("avg_latency_ms", "mean latency (ms)"),
    ("p99_latency_ms", "p99 latency (ms)"),
    ("daily_prediction_volume", "predictions"),
    ("daily_revenue", "revenue"),
]

_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


class ReportError(TransferError):
    """The report cannot be built (unknown model, server refused or unreachable)."""


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows, as the server's JSON answers."""

    url: str
    model: dict[str, Any]
    metrics: dict[str, Any]
    timeseries: dict[str, Any]
    daily: dict[str, Any]
    window: str
    bucket: str
    generated_at: str


@dataclass(frozen=True)
class Figure:
    """One chart of the report: the figure, or a message saying why there is none."""

    id: str
    title: str
    fig: go.Figure | None
    empty: str


@dataclass(frozen=True)
class SummaryRow:
    key: str
    label: str
    value: float | int | None
    text: str


# ---------------------------------------------------------------- fetch


def bucket_for(window: str) -> str:
    """Time-series bucket for a trailing window: ``1h`` up to a day, ``1d`` beyond."""
    try:
        span = parse_duration(window, "window")
    except BadParameter as exc:
        raise ReportError(str(exc)) from None
    return "1h" if span <= _DAY_US else "1d"


def _quality_keys(task: str | None) -> list[tuple[str, str]]:
    if task == "regression":
        return [("mae", "MAE"), ("rmse", "RMSE")]
    return [("accuracy", "accuracy"), ("f1", "F1")]


def fetch(url: str, model: str, window: str = "7d", api_key: str | None = None) -> ReportData:
    """GET the model, its metrics, time series and daily table from a modeltower server."""
    bucket = bucket_for(window)
    base = f"/v1/models/{quote(model, safe='')}"
    with _client(url, api_key) as client:

        def get(path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
            resp = _request(client, "GET", path, params=params)
            if resp.status_code == 404 and path == base:
                raise ReportError(f"unknown model {model!r} at {url}: {_describe(resp)}")
            if not resp.is_success:
                raise ReportError(f"GET {path} failed: {_describe(resp)}")
            body = _json(resp)
            if not isinstance(body, dict):
                raise ReportError(f"GET {path}: the answer is not a JSON object")
            return body

        info = get(base)
        keys = [k for k, _ in _quality_keys(info.get("task"))]
        return ReportData(
            url=url,
            model=info,
            metrics=get(base + "/metrics", {"window": window}),
            timeseries=get(
                base + "/timeseries",
                {"window": window, "bucket": bucket, "metrics": ",".join(_OPS + keys)},
            ),
            daily=get(base + "/daily", {"window": window}),
            window=window,
            bucket=bucket,
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        )


# ---------------------------------------------------------------- figures


def _text(s: object) -> str:
    """A user string for Plotly (which renders a few HTML tags): inert."""
    return html.escape(str(s), quote=False)


def _has_values(values: list[Any]) -> bool:
    return any(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values)


def _layout(fig: go.Figure, **extra: Any) -> go.Figure:
    base: dict[str, Any] = {
        "template": "plotly_white",
        "height": 300,
        "margin": {"l": 56, "r": 16, "t": 16, "b": 40},
        "legend": {"orientation": "h", "y": -0.2},
        "hovermode": "x unified",
    }
    fig.update_layout(**{**base, **extra})
    return fig


def _lines(
    points: list[dict[str, Any]], series: list[tuple[str, str]], **layout: Any
) -> go.Figure | None:
    x = [p["timestamp"] for p in points]
    traces = [
        go.Scatter(
            x=x,
            y=[p.get(k) for p in points],
            name=name,
            mode="lines+markers",
            line={"color": _COLORS[i % len(_COLORS)]},
        )
        for i, (k, name) in enumerate(series)
        if _has_values([p.get(k) for p in points])
    ]
    return _layout(go.Figure(traces), **layout) if traces else None


def figures(data: ReportData) -> list[Figure]:
    """Every chart of the report, in display order."""
    points: list[dict[str, Any]] = data.timeseries.get("points") or []
    x = [p["timestamp"] for p in points]
    m = data.metrics
    pct = {"yaxis": {"tickformat": ".0%", "rangemode": "tozero"}}
    no_events = "No events in this window."
    is_reg = data.model.get("task") == "regression"

    counts = [p.get("count") for p in points]
    volume = (
        _layout(go.Figure([go.Bar(x=x, y=counts, name="events", marker_color=_COLORS[0])]))
        if any(counts)
        else None
    )
    q_series = _quality_keys(data.model.get("task"))
    q_axis = {"yaxis": {"rangemode": "tozero"}} if is_reg else {"yaxis": {"tickformat": ".0%"}}
    out = [
        Figure("volume", f"Volume (events per {data.bucket})", volume, no_events),
        Figure(
            "latency",
            "Latency p50 / p95 / p99 (ms)",
            _lines(
                points,
                [("latency_p50", "p50"), ("latency_p95", "p95"), ("latency_p99", "p99")],
                yaxis={"title": {"text": "ms"}, "rangemode": "tozero"},
            ),
            "No latency reported in this window.",
        ),
        Figure(
            "errors",
            "Error rate",
            _lines(
                points,
                [("error_rate", "error rate")],
                yaxis={"tickformat": ".2%", "rangemode": "tozero"},
            ),
            no_events,
        ),
        Figure(
            "quality",
            "MAE / RMSE" if is_reg else "Accuracy / F1",
            _lines(points, q_series, **q_axis),
            "No ground truth in this window: quality needs labels.",
        ),
        Figure(
            "coverage",
            "Label coverage",
            _lines(points, [("label_coverage", "label coverage")], **pct),
            no_events,
        ),
        Figure(
            "confusion",
            "Confusion matrix (rows: actual, columns: predicted)",
            _confusion(m.get("classification")),
            "Not applicable: this is a regression model."
            if is_reg
            else "No labeled events in this window.",
        ),
        Figure(
            "conversion",
            "Conversion per group (95 % CI)",
            _conversion(m.get("business")),
            "No business outcomes (group, converted) in this window.",
        ),
        Figure(
            "uplift",
            "Uplift: treatment − control (95 % CI)",
            _uplift(m.get("business")),
            "No uplift: it needs events in both the control and the treatment group.",
        ),
    ]
    return out


def _confusion(cls: dict[str, Any] | None) -> go.Figure | None:
    cm = (cls or {}).get("confusion_matrix")
    if not cm or not cm.get("labels"):
        return None
    labels = [_text(lab) for lab in cm["labels"]]
    heat = go.Heatmap(
        z=cm["matrix"],
        x=labels,
        y=labels,
        colorscale="Blues",
        texttemplate="%{z}",
        showscale=False,
        hovertemplate="actual %{y}<br>predicted %{x}<br>%{z} events<extra></extra>",
    )
    return _layout(
        go.Figure([heat]),
        hovermode="closest",
        xaxis={"type": "category", "title": {"text": "predicted"}},
        yaxis={"type": "category", "autorange": "reversed", "title": {"text": "actual"}},
    )


def _conversion(biz: dict[str, Any] | None) -> go.Figure | None:
    groups: dict[str, Any] = (biz or {}).get("groups") or {}
    if not groups:
        return None
    names = sorted(groups)
    rates = [groups[n]["conversion_rate"] for n in names]
    half = [
        1.96 * math.sqrt(r * (1 - r) / max(1, groups[n]["count"]))
        for n, r in zip(names, rates, strict=True)
    ]
    bar = go.Bar(
        x=[_text(n) for n in names],
        y=rates,
        error_y={"type": "data", "array": half, "visible": True},
        marker_color=[_COLORS[i % len(_COLORS)] for i in range(len(names))],
    )
    return _layout(
        go.Figure([bar]),
        hovermode="closest",
        showlegend=False,
        xaxis={"type": "category"},
        yaxis={"tickformat": ".1%", "rangemode": "tozero"},
    )


def _uplift(biz: dict[str, Any] | None) -> go.Figure | None:
    u = (biz or {}).get("uplift")
    if not u:
        return None
    label = f"{_text(u['treatment'])} − {_text(u['control'])}"
    point = go.Scatter(
        x=[u["absolute"]],
        y=[label],
        mode="markers",
        marker={"size": 12, "color": _COLORS[0]},
        error_x={
            "type": "data",
            "symmetric": False,
            "array": [u["ci95_high"] - u["absolute"]],
            "arrayminus": [u["absolute"] - u["ci95_low"]],
        },
        hovertemplate=f"uplift %{{x:.2%}}<br>p = {u['p_value']:.3f}<extra></extra>",
    )
    return _layout(
        go.Figure([point]),
        height=200,
        hovermode="closest",
        showlegend=False,
        xaxis={"tickformat": ".1%", "zeroline": True, "zerolinewidth": 2},
        yaxis={"type": "category"},
    )


# ---------------------------------------------------------------- tables


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


# ---------------------------------------------------------------- HTML


def render(data: ReportData) -> str:
    """The complete report page (plotly.js inlined)."""
    charts = []
    for f in figures(data):
        fig_html = None
        if f.fig is not None:
            fig_html = Markup(
                f.fig.to_html(
                    full_html=False,
                    include_plotlyjs=False,
                    div_id=f"fig-{f.id}",
                    default_width="100%",
                    config={"displaylogo": False, "responsive": True},
                )
            )
        charts.append({"id": f.id, "title": f.title, "html": fig_html, "empty": f.empty})
    header, rows = daily_table(data.daily)
    return _env.get_template("report.html").render(
        data=data,
        model=data.model.get("name", ""),
        task=data.model.get("task") or "",
        window=data.metrics.get("window") or {},
        charts=charts,
        summary=summary_rows(data.metrics),
        daily_header=header,
        daily_rows=rows,
        plotly_js=Markup(get_plotlyjs()),
    )


def write_report(
    *, model: str, url: str, out_path: str, window: str = "7d", api_key: str | None = None
) -> int:
    """Fetch, build and write the report; return the bytes written (the file appears complete
    or not at all)."""
    content = render(fetch(url, model, window, api_key)).encode("utf-8")
    tmp = f"{out_path}.part"
    try:
        with open(tmp, "wb") as f:
            f.write(content)
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return len(content)
