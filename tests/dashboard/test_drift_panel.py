"""The model page's drift and data-quality panels in a real Chromium against the demo server.

The demo sets a window reference (the first four hours of history) for every demo model, and
``churn-classifier``'s inputs drift on purpose (tenure falls, a new contract ``monthly-flex``).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlparse

import httpx
import pytest
from playwright.sync_api import Page
from tests.dashboard.conftest import Watched, wait_rendered
from tests.dashboard.test_browser import api_calls

from modeltower.testing import ServerProcess

DRIFT = "#panel-drift"
QUALITY = "#panel-data-quality"
DIST = "#drift-distribution"
CHURN_FEATURES = {"tenure_months", "monthly_charges", "contract", "has_support", "region"}


def expected_order(columns: list[dict[str, Any]]) -> list[str]:
    """The documented order, computed independently of the page: drifted first, then severity
    (distance: score descending, p-value: score ascending, relative to the threshold), no
    score last, ties in the API's order."""

    def severity(c: dict[str, Any]) -> float | None:
        if c["score"] is None:
            return None
        if c["kind"] == "p_value":
            return float(c["threshold"]) / max(c["score"], 1e-300)
        return c["score"] / c["threshold"] if c["threshold"] > 0 else c["score"]

    def key(c: dict[str, Any]) -> tuple[bool, bool, float]:
        s = severity(c)
        return (not c["drift"], s is None, -(s or 0.0))

    return [f"{c['role']}:{c['name']}" for c in sorted(columns, key=key)]


def drift_rows(page: Page) -> list[dict[str, Any]]:
    return list(
        page.eval_on_selector_all(
            "#drift-columns tr",
            "trs => trs.map(tr => ({key: tr.dataset.role + ':' + tr.dataset.column,"
            " verdict: tr.dataset.verdict, badge: tr.querySelector('.verdict .badge').textContent,"
            " spark: tr.querySelector('td.spark').dataset.state,"
            " points: Number((tr.querySelector('svg.spark') || {dataset: {}}).dataset.points || 0),"
            " lines: tr.querySelectorAll('svg.spark polyline').length}))",
        )
    )


def open_model(w: Watched, server: ServerProcess, model: str) -> dict[str, Any]:
    """Open a model page, wait for both panels; the /drift answer the page drew."""
    with w.page.expect_response(lambda r: urlparse(r.url).path.endswith("/drift")) as resp:
        w.page.goto(f"{server.url}/models/{quote(model, safe='')}")
    wait_rendered(w.page, "#model-page")
    wait_rendered(w.page, DRIFT)
    wait_rendered(w.page, QUALITY)
    body: dict[str, Any] = resp.value.json()
    return body


def test_churn_drift_panel_renders_and_sorts(demo_server: ServerProcess, watched: Watched) -> None:
    page = watched.page
    api = open_model(watched, demo_server, "churn-classifier")
    assert page.get_attribute(DRIFT, "data-state") == "ok", page.inner_text(DRIFT)
    assert api["status"] == "ok"
    rows = drift_rows(page)
    assert {r["key"] for r in rows} >= {f"feature:{f}" for f in CHURN_FEATURES}
    drifted = [r for r in rows if r["verdict"] == "drift"]
    assert drifted, rows
    assert all(r["badge"] == "drift" for r in drifted)
    assert {r["badge"] for r in rows} <= {"drift", "ok", "no data"}
    # The order of the answer the page drew, sorted by the documented rule.
    assert [r["key"] for r in rows] == expected_order(api["columns"])
    verdicts = [r["verdict"] == "drift" for r in rows]
    assert verdicts == sorted(verdicts, reverse=True)  # drifted first
    assert len(drifted) == sum(c["drift"] for c in api["columns"])

    ds = api["dataset"]
    counts = page.text_content("#drift-counts") or ""
    assert counts.startswith(f"{ds['drifted']} of {ds['total']} features drifted")
    verdict = page.text_content("#drift-verdict")
    assert verdict == ("dataset drift" if ds["drift"] else "no dataset drift")

    # Sparklines: the score per hour, at least two buckets of the six hours of history.
    drawn = [r for r in rows if r["spark"] == "drawn"]
    assert drawn and all(r["points"] >= 2 and r["lines"] >= 1 for r in drawn), rows
    assert page.locator("#drift-columns svg.spark polyline").count() >= len(CHURN_FEATURES)
    watched.assert_clean()


def test_clicking_a_feature_draws_its_distributions(
    demo_server: ServerProcess, watched: Watched
) -> None:
    page = watched.page
    open_model(watched, demo_server, "churn-classifier")
    first = drift_rows(page)[0]["key"]
    assert page.get_attribute("#drift-columns tr.selected", "data-column") == first.split(":")[1]
    page.wait_for_function(
        "sel => document.querySelector(sel).dataset.state === 'drawn'", arg=DIST, timeout=15_000
    )
    # Categorical columns: their labels (the values) do not move with the live window.
    target = "contract" if first != "feature:contract" else "has_support"
    n = int(page.get_attribute(DIST, "data-rendered") or 0)
    page.click(f"#drift-columns tr[data-column='{target}'][data-role='feature']")
    wait_rendered(page, DIST, n)
    assert page.get_attribute(DIST, "data-column") == target
    assert page.get_attribute("#drift-columns tr.selected", "data-column") == target
    assert page.get_attribute(DIST, "data-state") == "drawn"
    assert target in page.inner_text("#drift-distribution-title")
    traces = page.eval_on_selector(
        DIST + " .plot", "p => p._fullData.map(t => ({name: t.name, x: t.x, y: t.y}))"
    )
    assert [t["name"] for t in traces] == ["reference", "current"]
    api = httpx.get(
        demo_server.url + "/v1/models/churn-classifier/drift/distribution",
        params={"column": target, "role": "feature", "window": "24h"},
    ).json()
    assert traces[0]["x"] == api["labels"] and traces[1]["x"] == api["labels"]
    assert traces[0]["y"] == pytest.approx(api["reference"])  # the reference does not move
    assert sum(traces[1]["y"]) == pytest.approx(1.0, abs=1e-6)  # proportions
    if target == "contract":
        assert "monthly-flex" in traces[1]["x"]
    assert page.locator(DIST + " .plot .main-svg").count() >= 1

    # Keyboard: Enter on a focused row selects it too.
    other = next(r["key"] for r in drift_rows(page) if r["key"] != f"feature:{target}")
    role, name = other.split(":", 1)
    n = int(page.get_attribute(DIST, "data-rendered") or 0)
    page.focus(f"#drift-columns tr[data-column='{name}'][data-role='{role}']")
    page.keyboard.press("Enter")
    wait_rendered(page, DIST, n)
    assert page.get_attribute(DIST, "data-column") == name
    watched.assert_clean()


def test_quality_table_shows_the_new_category(demo_server: ServerProcess, watched: Watched) -> None:
    page = watched.page
    open_model(watched, demo_server, "churn-classifier")
    assert page.get_attribute(QUALITY, "data-state") == "ok", page.inner_text(QUALITY)
    names = page.eval_on_selector_all(
        "#quality-columns tr", "trs => trs.map(tr => tr.dataset.column)"
    )
    assert set(names) >= CHURN_FEATURES
    cell = page.locator("#quality-columns tr[data-column='contract'] td[data-key='new_values']")
    assert "monthly-flex" in cell.inner_text()
    assert "flag-cell" in (cell.get_attribute("class") or "")
    api = httpx.get(
        demo_server.url + "/v1/models/churn-classifier/quality", params={"window": "24h"}
    ).json()
    contract = next(c for c in api["columns"] if c["name"] == "contract")
    assert contract["new_values"] > 0
    assert "events in the window" in page.inner_text("#quality-summary")
    # tenure_months is numeric: no new values, an out-of-range share instead.
    assert page.inner_text(
        "#quality-columns tr[data-column='tenure_months'] td[data-key='new_values']"
    ) == ("–")
    watched.assert_clean()


def test_panels_follow_the_filters_and_refresh_slowly(
    demo_server: ServerProcess, watched: Watched
) -> None:
    page = watched.page
    open_model(watched, demo_server, "churn-classifier")
    assert [c.get("window") for c in api_calls(watched, "/drift")] == [["24h"]]
    assert api_calls(watched, "/drift/timeseries")[-1]["bucket"] == ["1h"]

    n = int(page.get_attribute(DRIFT, "data-rendered") or 0)
    page.click('#ranges button[data-window="30d"]')
    wait_rendered(page, DRIFT, n)
    assert api_calls(watched, "/drift")[-1]["window"] == ["30d"]
    assert api_calls(watched, "/drift/timeseries")[-1]["bucket"] == ["1d"]  # above 7 days
    page.wait_for_function(
        "() => [...document.querySelectorAll('#drift-columns svg.spark')]"
        ".some(s => Number(s.dataset.points) >= 1)",
        timeout=15_000,
    )

    n = int(page.get_attribute(QUALITY, "data-rendered") or 0)
    page.select_option("#version", "v2")
    wait_rendered(page, QUALITY, n)
    assert api_calls(watched, "/quality")[-1].get("version") == ["v2"]
    assert api_calls(watched, "/drift")[-1].get("version") == ["v2"]
    # the distribution is fetched after the drift table has drawn, possibly after quality:
    # wait (at most 15 s) for that request before checking it
    deadline = time.monotonic() + 15
    while api_calls(watched, "/drift/distribution")[-1].get("version") != ["v2"]:
        if time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)
    assert api_calls(watched, "/drift/distribution")[-1].get("version") == ["v2"]

    # Idle: the charts refresh every 5 s, drift and quality only every 30 s.
    drift_before = len(api_calls(watched, "/drift"))
    metrics_before = len(api_calls(watched, "/metrics"))
    page.wait_for_timeout(11_000)
    assert len(api_calls(watched, "/drift")) == drift_before
    assert len(api_calls(watched, "/metrics")) >= metrics_before + 2
    watched.assert_clean()


def test_model_without_reference_says_how_to_set_one(
    demo_server: ServerProcess, watched: Watched
) -> None:
    model = "no-ref <img src=x onerror=alert(3)>"
    events = [
        {"model": model, "prediction": "yes", "latency_ms": 5, "features": {"x": i}}
        for i in range(5)
    ]
    httpx.post(demo_server.url + "/v1/events", json=events).raise_for_status()
    page = watched.page
    open_model(watched, demo_server, model)
    assert page.get_attribute(DRIFT, "data-status") == "no_reference"
    assert page.get_attribute(DRIFT, "data-state") == "message"
    text = page.inner_text("#drift-message")
    assert "PUT /v1/models/" in text and "/reference" in text
    assert "modeltower reference set --model" in text
    assert page.is_hidden("#drift-body") and page.is_hidden("#drift-summary")
    assert page.locator("img[src='x']").count() == 0
    assert page.get_attribute(QUALITY, "data-status") == "no_reference"
    assert page.get_attribute(QUALITY, "data-state") == "message"
    assert "reference" in page.inner_text("#quality-message")
    watched.assert_clean()


def test_sort_order_of_mixed_kinds(demo_server: ServerProcess, watched: Watched) -> None:
    """The page's sort on a hand-made answer: p-values ascending, distances descending."""
    page = watched.page
    open_model(watched, demo_server, "churn-classifier")
    cols = [
        {"name": "a", "role": "feature", "kind": "distance", "score": 0.05, "threshold": 0.1},
        {"name": "b", "role": "feature", "kind": "p_value", "score": 0.001, "threshold": 0.05},
        {"name": "c", "role": "feature", "kind": "distance", "score": 0.4, "threshold": 0.1},
        {"name": "d", "role": "feature", "kind": "distance", "score": None, "threshold": 0.1},
        {"name": "e", "role": "feature", "kind": "p_value", "score": 0.2, "threshold": 0.05},
        {"name": "f", "role": "feature", "kind": "p_value", "score": 1e-9, "threshold": 0.05},
        {"name": "g", "role": "prediction", "kind": "distance", "score": 0.2, "threshold": 0.1},
        {"name": "h", "role": "feature", "kind": "distance", "score": 0.09, "threshold": 0.1},
    ]
    for c in cols:
        c["drift"] = c["score"] is not None and (
            c["score"] < c["threshold"] if c["kind"] == "p_value" else c["score"] >= c["threshold"]
        )
    got = page.evaluate("cols => MTDrift.sortColumns(cols).map(c => c.name)", cols)
    assert got == ["f", "b", "c", "g", "h", "a", "e", "d"]
    assert got == [k.split(":")[1] for k in expected_order(cols)]
    assert page.evaluate("() => [MTDrift.bucketFor(7 * 86400), MTDrift.bucketFor(30 * 86400)]") == [
        "1h",
        "1d",
    ]
