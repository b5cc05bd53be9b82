"""The model page's health-history panel, drawn from stored snapshots, in a real Chromium."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from tests.dashboard.conftest import Watched, wait_rendered

from modeltower.testing import ServerProcess

PANEL = "#panel-snapshots"


def snapshot_traces(page: Watched) -> dict[str, list[str]]:
    """Snapshot chart -> names of the traces Plotly drew."""
    return dict(
        page.page.eval_on_selector_all(
            PANEL + " .snapshot-plot",
            "els => els.map(e => { const p = e.querySelector('.plot');"
            " return [e.dataset.snapshot, p && p._fullData ? p._fullData.map(t => t.name) : []]; })",
        )
    )


def test_snapshot_panel_draws_history(demo_server: ServerProcess, watched: Watched) -> None:
    for model in ("churn-classifier", "price-regressor"):
        for _ in range(2):
            r = httpx.post(
                f"{demo_server.url}/v1/models/{model}/snapshots", params={"window": "1h"}
            )
            r.raise_for_status()
    page = watched.page
    page.goto(demo_server.url + "/models/churn-classifier")
    wait_rendered(page, PANEL)
    assert page.get_attribute(PANEL, "data-state") == "drawn"
    assert page.is_hidden(PANEL + " .snapshots-empty")
    assert snapshot_traces(watched) == {"quality": ["accuracy", "F1"], "latency": ["p95", "p99"]}
    points = page.eval_on_selector(
        PANEL + ' [data-snapshot="latency"] .plot', "p => p._fullData[0].x.length"
    )
    assert points >= 2
    assert page.locator(PANEL + " .plot .main-svg").count() >= 2

    page.goto(demo_server.url + "/models/price-regressor")
    wait_rendered(page, PANEL)
    assert snapshot_traces(watched)["quality"] == ["MAE", "RMSE"]
    watched.assert_clean()


def test_snapshot_panel_explains_when_there_are_none(
    empty_server: ServerProcess, watched: Watched
) -> None:
    model = "<img src=x onerror=alert(1)>"
    event = {"model": model, "prediction": "yes", "label": "yes", "latency_ms": 5}
    httpx.post(empty_server.url + "/v1/events", json=event).raise_for_status()
    page = watched.page
    page.goto(empty_server.url + "/models/" + quote(model, safe=""))
    wait_rendered(page, PANEL)
    assert page.get_attribute(PANEL, "data-state") == "empty"
    text = page.inner_text(PANEL + " .snapshots-empty")
    assert "No health snapshots yet" in text and "interval" in text
    path = quote(model, safe="!~*'()")  # as encodeURIComponent writes it
    assert f"POST /v1/models/{path}/snapshots" in text
    assert page.locator("img[src='x']").count() == 0
    watched.assert_clean()
