"""Dashboard pages over plain HTTP: headers, escaping, local plotly.js, the seed route."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from modeltower.dashboard import CSP, Thresholds
from modeltower.dashboard.views import PLOTLY_JS
from modeltower.testing import ServerProcess

TEMPLATES = Path(__file__).resolve().parents[2] / "src/modeltower/dashboard/templates"
XSS_MODEL = "<img src=x onerror=alert(2)> never sent"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def assert_no_inline_script(html: str) -> None:
    assert not INLINE_SCRIPT.search(html), "inline <script> found"
    assert not EVENT_HANDLER.search(html), "on*= event-handler attribute found"
    assert "javascript:" not in html.lower()


def test_templates_have_no_inline_script() -> None:
    for path in TEMPLATES.glob("*.html"):
        assert_no_inline_script(path.read_text())


@pytest.mark.parametrize("path", ["/", "/models/churn-classifier", "/dashboard/churn-classifier"])
def test_pages_send_csp_and_no_inline_script(demo_server: ServerProcess, path: str) -> None:
    r = httpx.get(demo_server.url + path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert csp == CSP
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert_no_inline_script(r.text)
    # Every script is ours and same-origin: no CDN.
    for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', r.text):
        assert src.startswith("/dashboard/static/"), src


def test_model_page_has_the_drift_and_quality_panels(demo_server: ServerProcess) -> None:
    text = httpx.get(demo_server.url + "/models/churn-classifier").text
    for marker in ('id="panel-drift"', 'id="drift-columns"', 'id="drift-distribution"',
                   'id="panel-data-quality"', 'id="quality-columns"'):  # fmt: skip
        assert marker in text, marker
    scripts = re.findall(r'<script[^>]*\bsrc="/dashboard/static/([a-z.]+)\?', text)
    # Helpers first; the panels listen for the page's filter changes.
    assert scripts == ["plotly.min.js", "common.js", "charts.js", "model.js", "snapshots.js",
                       "drift.js", "quality.js"]  # fmt: skip


def test_plotly_is_served_from_the_python_package(demo_server: ServerProcess) -> None:
    r = httpx.get(demo_server.url + "/dashboard/static/plotly.min.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.content == PLOTLY_JS.read_bytes()
    page = httpx.get(demo_server.url + "/").text
    assert "cdn" not in page.lower() and "https://" not in page


def test_static_files(demo_server: ServerProcess) -> None:
    names = ("common.js", "overview.js", "charts.js", "model.js", "drift.js", "quality.js")
    for name in (*names, "dashboard.css"):
        r = httpx.get(f"{demo_server.url}/dashboard/static/{name}")
        assert r.status_code == 200, name
        assert "content-security-policy" in r.headers


def test_seed_dashboard_route_uses_hours(demo_server: ServerProcess) -> None:
    r = httpx.get(demo_server.url + "/dashboard/churn-classifier", params={"hours": 3})
    assert r.status_code == 200
    assert "&#34;window&#34;: &#34;3h&#34;" in r.text
    assert 'data-window="3h"' in r.text  # an extra range button for the odd window
    r = httpx.get(demo_server.url + "/dashboard/churn-classifier", params={"hours": 168})
    assert "&#34;window&#34;: &#34;7d&#34;" in r.text
    assert httpx.get(demo_server.url + "/dashboard/churn-classifier?hours=0").status_code == 422


def test_unknown_model_page_is_404_with_escaped_name(demo_server: ServerProcess) -> None:
    r = httpx.get(demo_server.url + "/models/" + httpx.URL(path=XSS_MODEL).raw_path.decode())
    assert r.status_code == 404
    assert XSS_MODEL not in r.text
    assert "&lt;img src=x onerror=alert(2)&gt; never sent" in r.text
    assert "Send your first event" in r.text
    assert_no_inline_script(r.text)


def test_bad_window_parameter_is_refused(demo_server: ServerProcess) -> None:
    r = httpx.get(demo_server.url + "/models/churn-classifier", params={"window": '"><b>'})
    assert r.status_code == 422


def test_api_docs_are_served_under_the_csp(demo_server: ServerProcess) -> None:
    # Swagger UI runs from local assets and a script file (tests/limits/test_security_headers.py
    # renders it in Chromium under the policy).
    r = httpx.get(demo_server.url + "/docs")
    assert r.status_code == 200
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_thresholds_from_env() -> None:
    t = Thresholds.from_env({"MODELTOWER_STATUS_LATENCY_P95_MS": "300, 2000"})
    assert t.latency_p95_ms == (300.0, 2000.0)
    assert t.error_rate == Thresholds().error_rate
    with pytest.raises(ValueError, match="warning,critical"):
        Thresholds.from_env({"MODELTOWER_STATUS_ACCURACY": "0.9"})
