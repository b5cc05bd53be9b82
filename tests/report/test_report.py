"""``modeltower report`` against a real server with demo traffic."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modeltower.testing import ServerProcess

XSS = "<img src=x onerror=alert(1)>"
XSS_GROUP = "</script><script>alert(2)</script>"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("report") / "demo.duckdb"
    with ServerProcess(db, args=["--demo", "--demo-backfill-hours", "3"]) as s:
        # A model no live traffic touches, an hour in the past: its numbers do not move.
        now = time.time()
        events = [
            {
                "model": XSS,
                "id": f"e{i}",
                "timestamp": now - 3600 + i,
                "version": "<b>v1</b>",
                "prediction": "yes" if i % 3 else "no",
                "label": "yes" if i % 4 else "no",
                "latency_ms": 10 + i,
                "group": "control" if i % 2 else XSS_GROUP,
                "converted": i % 5 == 0,
            }
            for i in range(40)
        ]
        httpx.post(s.url + "/v1/events", json=events).raise_for_status()
        # The demo sets its drift references once its backfill is written: wait for them.
        deadline = time.monotonic() + 90
        while httpx.get(s.url + "/v1/models/churn-classifier/reference").status_code != 200:
            assert time.monotonic() < deadline, "the demo set no reference"
            time.sleep(0.5)
        yield s


def run_report(
    server: ServerProcess, model: str, out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "modeltower", "report", "--model", model, "--out", str(out)]
    return subprocess.run(
        [*cmd, "--url", server.url, *extra], capture_output=True, text=True, timeout=120
    )


def test_report_is_self_contained(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    proc = run_report(server, "churn-classifier", out, "--window", "7d")
    assert proc.returncode == 0, proc.stderr
    assert f"to {out}" in proc.stdout
    text = out.read_text()
    assert len(text) > 1_000_000  # plotly.js inlined
    assert "plotly.js v" in text
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?https?:", text, re.I)
    for chart in ("volume", "latency", "errors", "quality", "coverage", "confusion", "conversion"):
        assert f'id="chart-{chart}" data-state="drawn"' in text, chart
        assert f'id="fig-{chart}"' in text
    assert "Daily health" in text and "churn-classifier" in text
    assert not (tmp_path / "report.html.part").exists()


def section(text: str, id_: str) -> str:
    """The HTML of ``<section ... id="id_" ...>…</section>``."""
    m = re.search(rf'<section[^>]*\bid="{id_}"[^>]*>(.*?)</section>', text, re.S)
    assert m, f"no section {id_}"
    return m.group(1)


def test_report_has_drift_and_quality_tables(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "drift.html"
    proc = run_report(server, "churn-classifier", out, "--window", "24h")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    drift = section(text, "drift")
    assert 'id="drift-table"' in drift
    rows = re.findall(
        r'<tr data-column="([^"]+)" data-role="([^"]+)" data-verdict="([^"]+)">', drift
    )
    api = httpx.get(
        server.url + "/v1/models/churn-classifier/drift", params={"window": "24h"}
    ).json()
    assert api["status"] == "ok"
    assert {(n, r) for n, r, _ in rows} == {(c["name"], c["role"]) for c in api["columns"]}
    verdicts = [v for _, _, v in rows]
    assert set(verdicts) <= {"drift", "ok", "no data"}
    assert "drift" in verdicts  # churn-classifier's inputs drift on purpose
    flags = [v == "drift" for v in verdicts]
    assert flags == sorted(flags, reverse=True)  # drifted columns first
    summary = re.search(r'<p id="drift-summary">(.*?)</p>', drift, re.S)
    assert summary, drift[:500]
    features = sum(1 for _, r, _ in rows if r == "feature")
    drifted = sum(1 for _, r, v in rows if r == "feature" and v == "drift")
    assert f"{drifted} of {features} features drifted" in summary.group(1)
    assert re.search(r'class="verdict drift">drift</span>', drift)

    quality = section(text, "quality")
    assert 'id="quality-table"' in quality
    contract = re.search(
        r'<tr data-column="contract" data-role="feature">(.*?)</tr>', quality, re.S
    )
    assert contract and "monthly-flex" in contract.group(1)
    assert "events in the window" in quality

    assert 'id="chart-drift-scores" data-state="drawn"' in text
    assert 'id="fig-drift-scores"' in text
    assert 'id="chart-drift-drifted" data-state="drawn"' in text
    assert "Drift score per column (per 1h" in text


def test_short_window_uses_hourly_buckets(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    proc = run_report(server, "price-regressor", out, "--window", "24h")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "1h buckets" in text and "MAE / RMSE" in text
    assert 'id="chart-confusion" data-state="empty"' in text


def test_user_strings_are_escaped(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "xss.html"
    proc = run_report(server, XSS, out)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert XSS not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert XSS_GROUP not in text and "<script>alert" not in text
    assert "&lt;script&gt;alert(2)" in text  # the group name is shown, as text
    assert "<b>v1</b>" not in text
    # No reference (and no features): the drift section says how to set one, no table.
    drift = section(text, "drift")
    assert 'id="drift-message"' in drift and 'id="drift-table"' not in drift
    assert "/reference" in drift and "modeltower reference set" in drift
    assert 'id="chart-drift-scores" data-state="empty"' in text


def test_summary_equals_metrics_api(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "summary.html"
    assert run_report(server, XSS, out, "--window", "7d").returncode == 0
    rows = dict(re.findall(r'<tr data-metric="([^"]+)" data-value="([^"]*)"', out.read_text()))
    metrics = httpx.get(
        f"{server.url}/v1/models/{httpx.URL(path=XSS).raw_path.decode()}/metrics",
        params={"window": "7d"},
    ).json()
    assert metrics["count"] == 40
    assert rows, "no summary rows"
    for key, raw in rows.items():
        expected = metrics
        for part in key.split("."):
            expected = expected[part]
        assert json.loads(raw.replace("&#34;", '"')) == expected, key
    for key in ("count", "error_rate", "latency_ms.p95", "classification.accuracy"):
        assert key in rows


def test_unknown_model_fails_clearly(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "nope.html"
    proc = run_report(server, "no-such-model", out)
    assert proc.returncode != 0
    assert "unknown model 'no-such-model'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_unreachable_server_fails_clearly(tmp_path: Path) -> None:
    out = tmp_path / "x.html"
    cmd = [sys.executable, "-m", "modeltower", "report", "--model", "m", "--out", str(out)]
    proc = subprocess.run(
        [*cmd, "--url", "http://127.0.0.1:9", "--window", "bogus"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "window" in proc.stderr
    assert not out.exists()
