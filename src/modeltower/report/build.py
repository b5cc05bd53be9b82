"""Report pipeline: fetch (HTTP) → :class:`ReportData` (plain JSON) → figures and tables → HTML.

Fetching is the only step with I/O; everything after it is a pure function of the fetched data
(:mod:`modeltower.report.figures`, :mod:`modeltower.report.tables`), and the page is the Jinja
template ``templates/report.html``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from modeltower.report.figures import Figure, drift_figures, figures, quality_keys
from modeltower.report.tables import (
    QUALITY_HEADER,
    daily_table,
    drift_rows,
    drift_summary,
    quality_rows,
    quality_summary,
    summary_rows,
)
from modeltower.timewindow import BadParameter, parse_duration
from modeltower.transfer import TransferError, _client, _describe, _json, _request

__all__ = [
    "ReportData",
    "ReportError",
    "bucket_for",
    "drift_bucket_for",
    "fetch",
    "render",
    "write_report",
]

_HOUR_US = 3_600_000_000
_DAY_US = 24 * _HOUR_US
_OPS = ["count", "error_rate", "latency_p50", "latency_p95", "latency_p99", "label_coverage"]

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
    """Everything a report shows, as the server's JSON answers.

    ``drift``, ``drift_timeseries`` and ``quality`` are None when the server has no drift API.
    """

    url: str
    model: dict[str, Any]
    metrics: dict[str, Any]
    timeseries: dict[str, Any]
    daily: dict[str, Any]
    window: str
    bucket: str
    generated_at: str
    drift: dict[str, Any] | None = None
    drift_timeseries: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    drift_bucket: str = "1h"


# ---------------------------------------------------------------- fetch


def _span(window: str) -> int:
    try:
        return parse_duration(window, "window")
    except BadParameter as exc:
        raise ReportError(str(exc)) from None


def bucket_for(window: str) -> str:
    """Time-series bucket for a trailing window: ``1h`` up to a day, ``1d`` beyond."""
    return "1h" if _span(window) <= _DAY_US else "1d"


def drift_bucket_for(window: str) -> str:
    """Bucket of the drift scores over time: ``1h`` up to seven days, ``1d`` beyond (as the
    dashboard's sparklines)."""
    return "1h" if _span(window) <= 7 * _DAY_US else "1d"


def fetch(url: str, model: str, window: str = "7d", api_key: str | None = None) -> ReportData:
    """GET the model, its metrics, time series, daily table, drift and data quality."""
    bucket = bucket_for(window)
    dbucket = drift_bucket_for(window)
    base = f"/v1/models/{quote(model, safe='')}"
    with _client(url, api_key) as client:

        def get(
            path: str, params: dict[str, str] | None = None, optional: bool = False
        ) -> dict[str, Any] | None:
            resp = _request(client, "GET", path, params=params)
            if resp.status_code == 404 and path == base:
                raise ReportError(f"unknown model {model!r} at {url}: {_describe(resp)}")
            if resp.status_code == 404 and optional:
                return None  # a server from before the drift API
            if not resp.is_success:
                raise ReportError(f"GET {path} failed: {_describe(resp)}")
            body = _json(resp)
            if not isinstance(body, dict):
                raise ReportError(f"GET {path}: the answer is not a JSON object")
            return body

        def need(path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
            body = get(path, params)
            if body is None:  # only optional requests answer None
                raise ReportError(f"GET {path}: no answer")
            return body

        info = need(base)
        keys = [k for k, _ in quality_keys(info.get("task"))]
        return ReportData(
            url=url,
            model=info,
            metrics=need(base + "/metrics", {"window": window}),
            timeseries=need(
                base + "/timeseries",
                {"window": window, "bucket": bucket, "metrics": ",".join(_OPS + keys)},
            ),
            daily=need(base + "/daily", {"window": window}),
            window=window,
            bucket=bucket,
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            drift=get(base + "/drift", {"window": window}, optional=True),
            drift_timeseries=get(
                base + "/drift/timeseries", {"window": window, "bucket": dbucket}, optional=True
            ),
            quality=get(base + "/quality", {"window": window}, optional=True),
            drift_bucket=dbucket,
        )


# ---------------------------------------------------------------- HTML


def _charts(figs: list[Figure]) -> list[dict[str, Any]]:
    charts = []
    for f in figs:
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
    return charts


def _status(body: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """Whether a drift/quality answer has a verdict, and the message to show when not."""
    if body is None:
        return {"ok": False, "message": f"This server has no {what} API.", "no_reference": False}
    return {
        "ok": body.get("status") == "ok",
        "message": body.get("message") or f"No {what} for this window ({body.get('status')}).",
        # how to set a reference, unless the server's message says it already
        "no_reference": "reference" in body
        and not body.get("reference")
        and "/reference" not in str(body.get("message") or ""),
    }


def render(data: ReportData) -> str:
    """The complete report page (plotly.js inlined)."""
    header, rows = daily_table(data.daily)
    model = data.model.get("name", "")
    return _env.get_template("report.html").render(
        data=data,
        model=model,
        model_path=f"/v1/models/{quote(str(model), safe='')}",
        task=data.model.get("task") or "",
        window=data.metrics.get("window") or {},
        charts=_charts(figures(data)),
        summary=summary_rows(data.metrics),
        daily_header=header,
        daily_rows=rows,
        drift=_status(data.drift, "drift"),
        drift_summary=drift_summary(data.drift),
        drift_dataset=(data.drift or {}).get("dataset") or {},
        drift_rows=drift_rows(data.drift),
        drift_charts=_charts(drift_figures(data)),
        quality=_status(data.quality, "data quality"),
        quality_summary=quality_summary(data.quality),
        quality_header=QUALITY_HEADER,
        quality_rows=quality_rows(data.quality),
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
