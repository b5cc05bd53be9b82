"""Report charts: plotly figures built from the fetched JSON (:class:`ReportData`). Pure functions."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

if TYPE_CHECKING:
    from modeltower.report.build import ReportData

__all__ = ["COLORS", "Figure", "drift_figures", "figures", "quality_keys"]

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#17becf", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22"]  # fmt: skip


@dataclass(frozen=True)
class Figure:
    """One chart of the report: the figure, or a message saying why there is none."""

    id: str
    title: str
    fig: go.Figure | None
    empty: str


def quality_keys(task: str | None) -> list[tuple[str, str]]:
    """Model-quality series of a task: (timeseries metric, label)."""
    if task == "regression":
        return [("mae", "MAE"), ("rmse", "RMSE")]
    return [("accuracy", "accuracy"), ("f1", "F1")]


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
            line={"color": COLORS[i % len(COLORS)]},
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
        _layout(go.Figure([go.Bar(x=x, y=counts, name="events", marker_color=COLORS[0])]))
        if any(counts)
        else None
    )
    q_series = quality_keys(data.model.get("task"))
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
        marker_color=[COLORS[i % len(COLORS)] for i in range(len(names))],
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
        marker={"size": 12, "color": COLORS[0]},
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


# ---------------------------------------------------------------- drift


def _drift_scores(ts: dict[str, Any]) -> go.Figure | None:
    """One line per column; distances and p-values on their own axes when both occur."""
    x = ts.get("timestamps") or []
    cols = [c for c in ts.get("columns") or [] if _has_values(c.get("scores") or [])]
    if not cols:
        return None
    kinds = {c.get("kind") for c in cols}
    two_axes = len(kinds) > 1
    traces = []
    for i, c in enumerate(cols):
        name = c["name"] if c.get("role") == "feature" else f"{c['name']} ({c.get('role')})"
        traces.append(
            go.Scatter(
                x=x,
                y=c["scores"],
                name=_text(name),
                mode="lines+markers",
                yaxis="y2" if two_axes and c.get("kind") == "p_value" else "y",
                line={"color": COLORS[i % len(COLORS)]},
                marker={"size": 4},
            )
        )
    axis_title = "p-value" if kinds == {"p_value"} else "distance"
    extra: dict[str, Any] = {"yaxis": {"title": {"text": axis_title}, "rangemode": "tozero"}}
    if two_axes:
        extra["yaxis2"] = {
            "title": {"text": "p-value"},
            "overlaying": "y",
            "side": "right",
            "range": [0, 1],
            "showgrid": False,
        }
    fig = _layout(go.Figure(traces), height=340, **extra)
    lines = {(c.get("kind"), c.get("threshold")) for c in cols if c.get("threshold") is not None}
    for kind, threshold in sorted(lines, key=str):
        yref = "y2" if two_axes and kind == "p_value" else "y"
        fig.add_shape(
            type="line",
            xref="paper",
            x0=0,
            x1=1,
            yref=yref,
            y0=threshold,
            y1=threshold,
            line={"dash": "dash", "color": "#8b95a7", "width": 1},
        )
    return fig


def _drifted_counts(ts: dict[str, Any]) -> go.Figure | None:
    counts = ts.get("drifted") or []
    if not _has_values(counts):
        return None
    bar = go.Bar(
        x=ts.get("timestamps") or [], y=counts, name="drifted features", marker_color=COLORS[3]
    )
    return _layout(go.Figure([bar]), showlegend=False, yaxis={"rangemode": "tozero"})


def drift_figures(data: ReportData) -> list[Figure]:
    """The drift charts: each column's score per bucket and the drifted features per bucket."""
    ts = data.drift_timeseries
    if ts is None:
        why = "This server has no drift API."
    elif ts.get("status") != "ok":
        why = str(ts.get("message") or f"No drift scores ({ts.get('status')}).")
    else:
        why = "No drift scores in this window."
    ok = ts is not None and ts.get("status") == "ok"
    bucket = (ts or {}).get("bucket") or data.drift_bucket
    return [
        Figure(
            "drift-scores",
            f"Drift score per column (per {bucket}; dashed: thresholds)",
            _drift_scores(ts) if ok and ts else None,
            why,
        ),
        Figure(
            "drift-drifted",
            f"Drifted features per {bucket}",
            _drifted_counts(ts) if ok and ts else None,
            why,
        ),
    ]
