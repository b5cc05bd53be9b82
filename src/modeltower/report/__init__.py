"""``modeltower report``: one self-contained HTML file with a model's charts and tables.

The report is built from the same ``/v1`` JSON the dashboard draws from, fetched over HTTP, so it
works against any running server. plotly.js is inlined: the file opens offline.
"""

from __future__ import annotations

from modeltower.report.build import (
    ReportData,
    ReportError,
    bucket_for,
    fetch,
    render,
    write_report,
)

__all__ = ["ReportData", "ReportError", "bucket_for", "fetch", "render", "write_report"]
