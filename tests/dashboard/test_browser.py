"""The dashboard in a real headless Chromium against a real server with demo traffic."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import httpx
from tests.dashboard.conftest import (
    DOCS,
    UPDATE_SCREENSHOTS,
    Watched,
    chart_states,
    trace_counts,
    wait_rendered,
)

from modeltower.testing import ServerProcess

ALL_CHARTS = {
    "volume",
    "latency",
    "errors",
    "coverage",
    "quality",
    "confusion",
    "conversion",
    "uplift",
    "revenue",
}
RANK = {"ok": 0, "warning": 1, "critical": 2}


def api_calls(w: Watched, endpoint: str) -> list[dict[str, list[str]]]:
    """Query parameters of every request the page made to a model's ``endpoint`` ("/metrics",
    "/drift", "/drift/timeseries": exactly that one, not /drift/timeseries for /timeseries)."""
    calls = []
    for u in w.requests:
        path = urlparse(u).path
        if not path.startswith("/v1/models/"):
            continue
        rest = path[len("/v1/models/") :].split("/", 1)  # model names have no "/"
        if len(rest) == 2 and "/" + rest[1] == endpoint:
            calls.append(parse_qs(urlparse(u).query))
    return calls


def test_overview_lists_models_worst_first(
    demo_server: ServerProcess, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    page.goto(demo_server.url + "/")
    wait_rendered(page, "#overview")
    rows = page.eval_on_selector_all(
        "#models-body tr",
        "trs => trs.map(tr => [tr.dataset.model, tr.dataset.status,"
        " tr.querySelector('.badge').textContent, tr.querySelector('.spark-card').dataset.state,"
        " tr.querySelector('.plot')._fullData.length])",
    )
    names = {r[0] for r in rows}
    assert {"churn-classifier", "intent-classifier", "price-regressor"} <= names
    for _name, status, label, spark, traces in rows:
        assert status in RANK and label == status  # a word next to the colour
        assert spark == "drawn" and traces == 1
    ranks = [RANK[r[1]] for r in rows]
    assert ranks == sorted(ranks, reverse=True)
    assert page.is_hidden("#empty-state")
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    if UPDATE_SCREENSHOTS:
        shutil.copy(tmp_path / "overview.png", DOCS / "dashboard-overview.png")
    watched.assert_clean()


def test_overview_shows_drifted_features(demo_server: ServerProcess, watched: Watched) -> None:
    page = watched.page
    page.goto(demo_server.url + "/")
    wait_rendered(page, "#overview")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#models-body td.drift')]"
        ".every(td => td.dataset.state === 'loaded') && document.querySelector("
        "'#models-body tr[data-model=\"churn-classifier\"] td.drift[data-state=loaded]')",
        timeout=30_000,
    )
    cell = page.locator('#models-body tr[data-model="churn-classifier"] td.drift')
    api = httpx.get(
        demo_server.url + "/v1/models/churn-classifier/drift", params={"window": "24h"}
    ).json()
    assert cell.get_attribute("data-status") == api["status"] == "ok"
    drifted, total = (int(x) for x in cell.inner_text().split(" / "))
    assert total == api["dataset"]["total"] == 5
    assert drifted >= 1
    assert "drifted" in (cell.get_attribute("class") or "")  # highlighted
    assert "features drifted" in (cell.get_attribute("title") or "")
    link = cell.locator("a")
    assert link.get_attribute("href") == "/models/churn-classifier#panel-drift"
    # Overview drift requests ask for the last 24 hours, once per model, not every 5 s.
    calls = api_calls(watched, "/drift")
    assert calls and all(c["window"] == ["24h"] for c in calls)
    models = page.eval_on_selector_all("#models-body tr", "trs => trs.length")
    assert len(calls) <= models
    watched.assert_clean()


def test_model_page_draws_every_chart(
    demo_server: ServerProcess, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    page.goto(demo_server.url + "/models/churn-classifier")
    wait_rendered(page, "#model-page")
    assert chart_states(page) == dict.fromkeys(ALL_CHARTS, "drawn")
    counts = trace_counts(page)
    assert all(n > 0 for n in counts.values()), counts
    assert counts["latency"] == 3  # p50, p95, p99
    assert page.locator("#model-page .plot .main-svg").count() >= len(ALL_CHARTS)
    for panel in ("drift", "data-quality", "alerts"):
        assert page.is_visible(f"#panel-{panel}")
    # The screenshot shows the drift panel with a distribution drawn.
    wait_rendered(page, "#panel-drift")
    wait_rendered(page, "#panel-data-quality")
    page.wait_for_function(
        "() => document.getElementById('drift-distribution').dataset.state === 'drawn'",
        timeout=15_000,
    )
    page.screenshot(path=str(tmp_path / "model.png"), full_page=True)
    if UPDATE_SCREENSHOTS:
        shutil.copy(tmp_path / "model.png", DOCS / "dashboard-model.png")
    watched.assert_clean()


def test_regression_page_explains_what_does_not_apply(
    demo_server: ServerProcess, watched: Watched
) -> None:
    page = watched.page
    page.goto(demo_server.url + "/models/price-regressor")
    wait_rendered(page, "#model-page")
    states = chart_states(page)
    assert states["quality"] == "drawn" and states["volume"] == "drawn"
    assert states["confusion"] == "empty"
    assert "regression" in page.inner_text("#chart-confusion .chart-empty")
    assert page.inner_text("#chart-quality h3").startswith("MAE / RMSE")
    watched.assert_clean()


def test_time_range_version_and_comparison_redraw(
    demo_server: ServerProcess, watched: Watched
) -> None:
    page = watched.page
    page.goto(demo_server.url + "/dashboard/churn-classifier?hours=24")
    n = wait_rendered(page, "#model-page")

    page.click('#ranges button[data-window="1h"]')
    n = wait_rendered(page, "#model-page", n)
    assert page.get_attribute('#ranges button[data-window="1h"]', "aria-pressed") == "true"
    assert {"window": ["1h"], "metrics": api_calls(watched, "/timeseries")[-1]["metrics"]} in [
        {"window": c.get("window"), "metrics": c["metrics"]}
        for c in api_calls(watched, "/timeseries")
    ]
    assert "window=1h" in page.url

    page.select_option("#version", "v2")
    n = wait_rendered(page, "#model-page", n)
    assert any(c.get("version") == ["v2"] for c in api_calls(watched, "/metrics"))
    assert chart_states(page)["volume"] == "drawn"

    page.check("#compare")
    n = wait_rendered(page, "#model-page", n)
    names = page.eval_on_selector("#chart-volume .plot", "p => p._fullData.map(t => t.name).sort()")
    assert names == ["v1", "v2"]
    assert page.is_disabled("#version")

    page.select_option("#rolling", "6")
    n = wait_rendered(page, "#model-page", n)
    assert any("rolling" in c for c in api_calls(watched, "/timeseries"))
    assert "rolling 6 buckets" in page.inner_text("#chart-quality h3")
    watched.assert_clean()


def test_custom_range_and_empty_window(demo_server: ServerProcess, watched: Watched) -> None:
    page = watched.page
    # A window long before any event: every chart shows a message instead of an empty chart.
    page.goto(
        demo_server.url + "/models/churn-classifier?start=2001-01-01T00:00:00Z"
        "&end=2001-01-02T00:00:00Z"
    )
    n = wait_rendered(page, "#model-page")
    assert set(chart_states(page).values()) == {"empty"}
    assert "No events in this window" in page.inner_text("#chart-volume .chart-empty")
    assert page.is_visible("#custom-range")
    page.click('#ranges button[data-window="15m"]')
    wait_rendered(page, "#model-page", n)
    assert chart_states(page)["volume"] == "drawn"
    watched.assert_clean()


def test_user_strings_are_inert(demo_server: ServerProcess, watched: Watched) -> None:
    model = "<img src=x onerror=alert(1)>"
    tag = '"><script>alert(1)</script>'
    events = [
        {
            "model": model,
            "version": f"<b>v{i % 2}</b>",
            "prediction": "yes" if i % 3 else "no",
            "label": "yes",
            "latency_ms": 10 + i,
            "tags": {"k": tag},
            "group": "control" if i % 2 else "treatment",
            "converted": i % 4 == 0,
            "features": {"<svg onload=alert(1)>": i},
        }
        for i in range(20)
    ]
    httpx.post(demo_server.url + "/v1/events", json=events).raise_for_status()
    page = watched.page
    page.goto(demo_server.url + "/")
    wait_rendered(page, "#overview")
    link = page.locator("#models-body a.model-link", has_text=model)
    assert link.inner_text() == model
    assert page.locator("img[src='x']").count() == 0

    link.click()
    page.wait_for_url("**/models/**")
    page.goto(page.url + "?compare=1&tag.k=" + quote(tag))
    wait_rendered(page, "#model-page")
    assert page.inner_text("#model-title") == model
    assert page.title().startswith(model)
    assert tag in page.inner_text("#tag-chips")
    assert chart_states(page)["volume"] == "drawn"
    names = page.eval_on_selector("#chart-volume .plot", "p => p._fullData.map(t => t.name)")
    assert sorted(names) == ["&lt;b&gt;v0&lt;/b&gt;", "&lt;b&gt;v1&lt;/b&gt;"]
    assert "<b>v0</b>" in page.inner_text("#chart-volume")  # shown as text in the legend
    assert page.locator("img[src='x'], #model-page script, #chart-volume b").count() == 0
    page.wait_for_timeout(500)
    watched.assert_clean()


def test_empty_state_then_first_event(empty_server: ServerProcess, watched: Watched) -> None:
    page = watched.page
    page.goto(empty_server.url + "/")
    n = wait_rendered(page, "#overview")
    assert page.is_visible("#empty-state")
    assert page.is_hidden("#models-card")
    curl = page.inner_text("#snippet-curl")
    assert curl.startswith(f"curl -X POST {empty_server.url}/v1/events")
    assert "from modeltower import Client" in page.inner_text("#snippet-sdk")
    assert page.locator("button.copy").count() == 2

    event = {"model": "first", "prediction": "yes", "latency_ms": 5}
    httpx.post(empty_server.url + "/v1/events", json=event).raise_for_status()
    wait_rendered(page, "#overview", n)
    page.wait_for_selector("#models-body tr[data-model='first']", timeout=15_000)
    assert page.is_hidden("#empty-state")
    watched.assert_clean()
