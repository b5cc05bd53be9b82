"""Alerts on the dashboard, in a real Chromium against a real server.

The server evaluates its rules only when told to (``POST /v1/alerts/evaluate``; the interval is an
hour), so every state the pages show was made by the test:

* ``fraud-clf`` answers 70 % right: between the overview's metric limits for a warning (80 %) and
  for critical (60 %). Its rule ``fraud-accuracy`` (critical, accuracy < 0.9) fires, so the model
  is critical *because of the alert*; ``fraud-accuracy-slow`` (warning, for 1 h) stays pending;
  ``fraud-volume`` (info, on the event count) fired and resolved again.
* ``ranker-clf`` is right every time but slow (100 ms, under the metric limit of 250 ms); its rule
  ``ranker-latency`` (warning, p95 > 50 ms) fires: the model is a warning.
* ``healthy-clf`` has no rule: its status still comes from its metrics.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page
from tests.dashboard.conftest import Watched, wait_rendered
from tests.dashboard.test_pages_http import assert_no_inline_script

from modeltower.testing import ServerProcess

ALERTS = "#alerts-panel"
PANEL = "#panel-alerts"
TIMELINE = "#alert-timeline"
THREE = {"fraud-clf", "ranker-clf", "healthy-clf"}  # the models of ``alert_server``


def events(model: str, n: int, correct: int, latency_ms: float) -> list[dict[str, Any]]:
    """``n`` labeled events over the last ten minutes; the first ``correct`` are right."""
    now = time.time()
    return [
        {
            "model": model,
            "id": f"{model}-{i}",
            "timestamp": now - 600 + i * 600 / n,
            "prediction": "1",
            "label": "1" if i < correct else "0",
            "latency_ms": latency_ms,
            "features": {"amount": 10 + i % 7, "country": "de" if i % 2 else "fr"},
        }
        for i in range(n)
    ]


def send(server: ServerProcess, model: str, batch: list[dict[str, Any]]) -> None:
    body = {"task": "classification", "positive_label": "1"}
    httpx.put(f"{server.url}/v1/models/{quote(model, safe='')}", json=body).raise_for_status()
    httpx.post(server.url + "/v1/events", json=batch).raise_for_status()


def rule(server: ServerProcess, spec: dict[str, Any]) -> None:
    r = httpx.post(server.url + "/v1/alerts/rules", json=spec)
    assert r.status_code == 201, r.text


def evaluate(server: ServerProcess) -> dict[str, Any]:
    r = httpx.post(server.url + "/v1/alerts/evaluate", timeout=30)
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    assert body["errors"] == 0, body
    return body


@pytest.fixture(scope="module")
def alert_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Three models and their alerts (see the module's docstring), evaluated by hand."""
    db = tmp_path_factory.mktemp("alerts") / "alerts.duckdb"
    with ServerProcess(db, args=["--alert-interval", "3600"]) as server:
        send(server, "fraud-clf", events("fraud-clf", 100, 70, 12.0))
        send(server, "ranker-clf", events("ranker-clf", 100, 100, 100.0))
        send(server, "healthy-clf", events("healthy-clf", 100, 100, 8.0))
        accuracy = {"model": "fraud-clf", "metric": "accuracy", "window": "1h", "op": "<"}
        rule(server, {**accuracy, "name": "fraud-accuracy", "threshold": 0.9,
                      "severity": "critical"})  # fmt: skip
        rule(server, {**accuracy, "name": "fraud-accuracy-slow", "threshold": 0.9, "for": "1h"})
        volume = {"name": "fraud-volume", "model": "fraud-clf", "metric": "count", "window": "1h"}
        rule(server, {**volume, "op": ">", "threshold": 10, "severity": "info"})
        rule(server, {"name": "ranker-latency", "model": "ranker-clf", "metric": "latency_p95",
                      "window": "1h", "op": ">", "threshold": 50, "severity": "warning"})  # fmt: skip
        first = evaluate(server)
        moves = {(t["rule"], t["from"], t["to"]) for t in first["transitions"]}
        assert moves == {
            ("fraud-accuracy", "ok", "firing"),
            ("fraud-accuracy-slow", "ok", "pending"),
            ("fraud-volume", "ok", "firing"),
            ("ranker-latency", "ok", "firing"),
        }
        # fraud-volume stops holding: it resolves.
        r = httpx.put(
            server.url + "/v1/alerts/rules/fraud-volume",
            json={**volume, "op": ">", "threshold": 10_000, "severity": "info"},
        )
        r.raise_for_status()
        second = evaluate(server)
        assert [(t["rule"], t["to"]) for t in second["transitions"]] == [
            ("fraud-volume", "resolved")
        ]
        yield server


def open_overview(w: Watched, server: ServerProcess) -> Page:
    page = w.page
    page.goto(server.url + "/")
    wait_rendered(page, "#overview")
    page.wait_for_function(
        "sel => document.querySelector(sel).dataset.state === 'ok'", arg=ALERTS, timeout=15_000
    )
    return page


def open_model(w: Watched, server: ServerProcess, model: str) -> Page:
    page = w.page
    page.goto(f"{server.url}/models/{quote(model, safe='')}")
    wait_rendered(page, PANEL)
    return page


def test_pages_have_the_alert_panels(alert_server: ServerProcess) -> None:
    overview = httpx.get(alert_server.url + "/").text
    for marker in ('id="alerts-panel"', 'id="alerts-list"', 'id="alerts-empty"',
                   "No alerts firing", 'id="alerts-no-rules"', "modeltower serve --rules",
                   "Enable recommended alerts"):  # fmt: skip
        assert marker in overview, marker
    # Above the model table.
    assert overview.index('id="alerts-panel"') < overview.index('id="models-table"')
    assert_no_inline_script(overview)

    page = httpx.get(alert_server.url + "/models/fraud-clf").text
    for marker in ('id="panel-alerts"', 'id="alerts-current"', 'id="alert-timeline"',
                   'id="alerts-changes"', 'id="alerts-presets"',
                   ">Enable recommended alerts</button>"):  # fmt: skip
        assert marker in page, marker
    assert_no_inline_script(page)
    css = httpx.get(alert_server.url + "/dashboard/static/dashboard.css").text
    for cls in (".badge.firing", ".badge.pending", ".badge.resolved", ".badge.info"):
        assert cls in css, cls


def test_overview_lists_firing_alerts_and_sets_status(
    alert_server: ServerProcess, watched: Watched
) -> None:
    page = open_overview(watched, alert_server)
    rows = page.eval_on_selector_all(
        "#alerts-list tr",
        "trs => trs.map(tr => ({rule: tr.dataset.rule, state: tr.dataset.state,"
        " model: tr.dataset.model, severity: tr.querySelector('td.severity').textContent,"
        " href: tr.querySelector('a.model-link').getAttribute('href'),"
        " link: tr.querySelector('a.model-link').textContent,"
        " summary: tr.querySelector('td.summary').textContent,"
        " since: tr.querySelector('td.since time').textContent,"
        " cls: tr.className}))",
    )
    api = httpx.get(alert_server.url + "/v1/alerts").json()
    active = [a for a in api["alerts"] if a["state"] in ("firing", "pending")]
    assert [r["rule"] for r in rows] == [a["rule"] for a in active]  # the API's order
    rows = [r for r in rows if r["model"] in THREE]
    by_rule = {r["rule"]: r for r in rows}
    # Firing and pending only (fraud-volume resolved); firing first, critical before warning.
    assert [r["rule"] for r in rows] == ["fraud-accuracy", "ranker-latency", "fraud-accuracy-slow"]
    assert [r["state"] for r in rows] == ["firing", "firing", "pending"]
    fa = by_rule["fraud-accuracy"]
    assert fa["severity"] == "critical" and fa["model"] == fa["link"] == "fraud-clf"
    assert fa["href"] == "/models/fraud-clf#panel-alerts"
    assert fa["summary"] == "accuracy of fraud-clf over 1h: 0.7 (alert when < 0.9)"
    assert fa["since"].endswith(" ago")
    assert by_rule["ranker-latency"]["severity"] == "warning"
    assert "pending" in by_rule["fraud-accuracy-slow"]["cls"]  # drawn as secondary
    opacity = page.eval_on_selector(
        "#alerts-list tr.pending td.summary", "td => getComputedStyle(td).opacity"
    )
    assert float(opacity) < 1
    assert page.is_hidden("#alerts-empty")
    firing = sum(a["state"] == "firing" for a in active)
    counts = page.inner_text("#alerts-counts")
    assert counts.startswith(f"{firing} firing · {len(active) - firing} pending"), counts
    assert f"{api['counts']['resolved']} resolved" in counts

    status = dict(
        page.eval_on_selector_all(
            "#models-body tr",
            "trs => trs.map(tr => [tr.dataset.model, {status: tr.dataset.status,"
            " source: tr.dataset.statusSource, badge: tr.querySelector('.badge').textContent,"
            " why: tr.querySelector('.why').textContent}])",
        )
    )
    # 70 % accuracy alone would be a warning; the critical alert decides and is named.
    assert status["fraud-clf"]["status"] == status["fraud-clf"]["badge"] == "critical"
    assert status["fraud-clf"]["source"] == "alerts"
    assert "fraud-accuracy" in status["fraud-clf"]["why"]
    assert "fraud-accuracy-slow" not in status["fraud-clf"]["why"]  # pending does not count
    ranker = status["ranker-clf"]
    assert ranker["status"] == "warning" and ranker["source"] == "alerts"
    assert "ranker-latency" in ranker["why"]
    assert status["healthy-clf"] == {"status": "ok", "source": "metrics", "badge": "ok", "why": ""}
    order = page.eval_on_selector_all("#models-body tr", "trs => trs.map(tr => tr.dataset.model)")
    assert [m for m in order if m in THREE] == ["fraud-clf", "ranker-clf", "healthy-clf"]
    watched.assert_clean()


def test_overview_follows_new_alerts_on_its_refresh(tmp_path: Path, watched: Watched) -> None:
    """A separate server: no rules → hint; a rule fires → the next refresh shows it."""
    with ServerProcess(tmp_path / "late.duckdb", args=["--alert-interval", "3600"]) as server:
        send(server, "late-clf", events("late-clf", 60, 30, 9.0))
        page = open_overview(watched, server)
        assert page.is_visible("#alerts-empty")
        assert page.inner_text("#alerts-empty .alerts-none").strip().endswith("No alerts firing")
        assert page.is_visible("#alerts-no-rules")
        assert "--rules" in page.inner_text("#alerts-no-rules")
        assert page.get_attribute(ALERTS, "data-rules") == "none"

        rule(server, {"name": "late-accuracy", "model": "late-clf", "metric": "accuracy",
                      "window": "1h", "op": "<", "threshold": 0.6, "severity": "warning"})  # fmt: skip
        n = wait_rendered(page, "#overview")
        wait_rendered(page, "#overview", n)
        assert page.is_visible("#alerts-empty")  # a rule, not evaluated: nothing firing, no hint
        assert page.is_hidden("#alerts-no-rules")

        evaluate(server)
        page.wait_for_selector("#alerts-list tr[data-rule='late-accuracy']", timeout=15_000)
        page.wait_for_function(
            "() => document.querySelector('#models-body tr[data-model=\"late-clf\"]')"
            ".dataset.statusSource === 'alerts'",
            timeout=15_000,
        )
        assert page.is_hidden("#alerts-empty")
        why = page.inner_text("#models-body tr[data-model='late-clf'] .why")
        assert "late-accuracy" in why
        watched.assert_clean()


def test_model_page_lists_instances(alert_server: ServerProcess, watched: Watched) -> None:
    page = open_model(watched, alert_server, "fraud-clf")
    assert page.get_attribute(PANEL, "data-state") == "ok"
    assert page.get_attribute(PANEL, "data-firing") == "1"
    assert page.get_attribute(PANEL, "data-pending") == "1"
    rows = page.eval_on_selector_all(
        "#alerts-current tr",
        "trs => trs.map(tr => ({rule: tr.dataset.rule, state: tr.dataset.state,"
        " badge: tr.querySelector('td.state .badge').textContent,"
        " version: tr.querySelector('td.version').textContent,"
        " summary: tr.querySelector('td.summary').textContent,"
        " value: tr.querySelector('td.value').textContent,"
        " threshold: tr.querySelector('td.threshold').textContent}))",
    )
    assert [(r["rule"], r["state"]) for r in rows] == [
        ("fraud-accuracy", "firing"),
        ("fraud-accuracy-slow", "pending"),
        ("fraud-volume", "resolved"),
    ]
    fa = rows[0]
    assert fa["badge"] == "firing" and fa["version"] == "all versions"
    assert fa["summary"] == "accuracy of fraud-clf over 1h: 0.7 (alert when < 0.9)"
    assert fa["value"] == "0.7" and fa["threshold"] == "< 0.9"
    assert rows[2]["threshold"] == "> 10,000"
    assert "last evaluated" in page.inner_text("#alerts-hint")
    assert page.is_hidden("#alerts-message")
    # Only this model's alerts.
    assert "ranker-latency" not in page.inner_text(PANEL)
    watched.assert_clean()


def test_model_page_timeline_and_history(alert_server: ServerProcess, watched: Watched) -> None:
    page = open_model(watched, alert_server, "fraud-clf")
    assert page.get_attribute(TIMELINE, "data-state") == "drawn"
    assert page.get_attribute(TIMELINE, "data-rows") == "3"
    traces = page.eval_on_selector(
        TIMELINE + " .plot",
        "p => p._fullData.map(t => ({name: t.name, type: t.type, orientation: t.orientation,"
        " y: t.y, x: t.x, starts: t.customdata.map(c => c[3])}))",
    )
    by_name = {t["name"]: t for t in traces}
    assert set(by_name) == {"pending", "firing"}
    firing = by_name["firing"]
    assert firing["type"] == "bar" and firing["orientation"] == "h"
    assert sorted(firing["y"]) == ["fraud-accuracy", "fraud-volume"]
    assert all(w > 0 for w in firing["x"])
    assert by_name["pending"]["y"] == ["fraud-accuracy-slow"]
    # The firing bar starts when the alert fired (the history's ok → firing).
    hist = httpx.get(
        alert_server.url + "/v1/alerts/history", params={"rule": "fraud-accuracy"}
    ).json()["history"]
    assert [(h["from"], h["to"]) for h in hist] == [("ok", "firing")]
    start = firing["starts"][firing["y"].index("fraud-accuracy")]
    assert start[:23] == hist[0]["at"][:23]
    # Every bar is drawn and visible although the periods last seconds of a 24 h axis.
    widths = page.eval_on_selector_all(
        TIMELINE + " .plot g.trace.bars path", "ps => ps.map(p => p.getBBox().width)"
    )
    assert len(widths) == 3 and min(widths) >= 2, widths

    changes = page.eval_on_selector_all(
        "#alerts-changes li",
        "lis => lis.map(li => ({rule: li.dataset.rule, from: li.dataset.from, to: li.dataset.to,"
        " text: li.textContent}))",
    )
    moves = [(c["rule"], c["from"], c["to"]) for c in changes]
    assert moves[0] == ("fraud-volume", "firing", "resolved")  # newest first
    assert set(moves[1:]) == {
        ("fraud-accuracy", "ok", "firing"),
        ("fraud-accuracy-slow", "ok", "pending"),
        ("fraud-volume", "ok", "firing"),
    }
    fa = next(c for c in changes if c["rule"] == "fraud-accuracy")
    assert "ok→firing" in fa["text"] and "accuracy of fraud-clf over 1h: 0.7" in fa["text"]

    # A time range long before the alerts: nothing to draw, said in words.
    n = int(page.get_attribute(PANEL, "data-rendered") or 0)
    page.goto(
        alert_server.url + "/models/fraud-clf?start=2001-01-01T00:00:00Z&end=2001-01-02T00:00:00Z"
    )
    wait_rendered(page, PANEL)
    assert page.get_attribute(TIMELINE, "data-state") == "empty"
    assert "No alert was pending or firing" in page.inner_text(TIMELINE)
    # The time-range buttons redraw the panel at once.
    n = int(page.get_attribute(PANEL, "data-rendered") or 0)
    page.click('#ranges button[data-window="1h"]')
    wait_rendered(page, PANEL, n)
    assert page.get_attribute(TIMELINE, "data-state") == "drawn"
    watched.assert_clean()


def test_enable_recommended_alerts(alert_server: ServerProcess, watched: Watched) -> None:
    send(alert_server, "presets-clf", events("presets-clf", 40, 40, 7.0))
    page = open_model(watched, alert_server, "presets-clf")
    message = page.inner_text("#alerts-message")
    assert "No alert rule covers this model yet" in message
    assert "Enable recommended alerts" in message

    n = int(page.get_attribute(PANEL, "data-rendered") or 0)
    page.click("#alerts-presets")
    page.wait_for_function(
        "() => document.getElementById('alerts-presets-result').dataset.created !== undefined",
        timeout=15_000,
    )
    rules = httpx.get(alert_server.url + "/v1/alerts/rules").json()["rules"]
    mine = sorted(r["name"] for r in rules if r["model"] == "presets-clf")
    assert mine == [
        "presets-clf:accuracy_drop",
        "presets-clf:dataset_drift",
        "presets-clf:error_rate_rise",
        "presets-clf:latency_p99_spike",
        "presets-clf:no_data",
    ]
    result = page.inner_text("#alerts-presets-result")
    assert page.get_attribute("#alerts-presets-result", "data-created") == "5"
    assert result.startswith("Enabled 5 recommended rules: ") and "accuracy_drop" in result
    wait_rendered(page, PANEL, n)  # refreshed after the click
    assert "5 rules cover this model but have not been evaluated yet" in page.inner_text(
        "#alerts-message"
    )

    evaluate(alert_server)
    n = int(page.get_attribute(PANEL, "data-rendered") or 0)
    page.click('#ranges button[data-window="1h"]')
    wait_rendered(page, PANEL, n)
    listed = page.eval_on_selector_all(
        "#alerts-current tr", "trs => trs.map(tr => tr.dataset.rule)"
    )
    assert sorted(listed) == mine
    assert page.is_hidden("#alerts-message")
    watched.assert_clean()


def test_enable_recommended_alerts_shows_errors_as_text(tmp_path: Path, watched: Watched) -> None:
    """A preset whose rule name is taken by the rules file: the server refuses (409), the page
    says why, as text."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {name: 'clash-clf:no_data', model: clash-clf, metric: count,"
        " window: 15m, op: '<', threshold: 1}\n",
        encoding="utf-8",
    )
    args = ["--alert-interval", "3600", "--rules", str(rules)]
    with ServerProcess(tmp_path / "clash.duckdb", args=args) as server:
        send(server, "clash-clf", events("clash-clf", 5, 5, 7.0))
        page = open_model(watched, server, "clash-clf")
        page.click("#alerts-presets")
        page.wait_for_function(
            "() => document.getElementById('alerts-presets-result').dataset.created === 'error'",
            timeout=15_000,
        )
        text = page.inner_text("#alerts-presets-result")
        assert text.startswith("Could not enable the recommended alerts: ")
        assert "rules file" in text
        assert page.is_enabled("#alerts-presets")
        assert not watched.dialogs
        # The refused request itself is the only console message (Chromium logs failed loads).
        assert all("status of 409" in e for e in watched.errors), watched.errors


def test_odd_model_names_stay_text(alert_server: ServerProcess, watched: Watched) -> None:
    """Presets work for any model name, and the name is text wherever an alert shows it."""
    model = "odd model <b>x"
    send(alert_server, model, events(model, 5, 5, 7.0))
    page = open_model(watched, alert_server, model)
    page.click("#alerts-presets")
    page.wait_for_function(
        "() => document.getElementById('alerts-presets-result').dataset.created === '5'",
        timeout=15_000,
    )
    rules = httpx.get(alert_server.url + "/v1/alerts/rules").json()["rules"]
    assert len([r for r in rules if r["model"] == model]) == 5
    spec = {"name": "odd-count", "model": model, "metric": "count", "window": "1h", "op": ">"}
    rule(alert_server, {**spec, "threshold": 1, "severity": "warning"})
    evaluate(alert_server)
    watched.errors.clear()
    page = open_model(watched, alert_server, model)
    summary = page.inner_text("#alerts-current tr[data-rule='odd-count'] td.summary")
    assert summary == f"count of {model} over 1h: 5 (alert when > 1)"
    page = open_overview(watched, alert_server)
    row = "#alerts-list tr[data-rule='odd-count']"
    assert page.inner_text(row + " a.model-link") == model
    assert (
        page.get_attribute(row + " a.model-link", "href")
        == "/models/odd%20model%20%3Cb%3Ex#panel-alerts"
    )
    assert page.locator("#overview b, #model-page b").count() == 0
    watched.assert_clean()


def test_timeline_periods_from_state_changes(alert_server: ServerProcess, watched: Watched) -> None:
    """The timeline's periods on hand-made history: clipped to the window, open at its end."""
    page = open_model(watched, alert_server, "fraud-clf")
    h = 3_600_000
    t0 = 1_700_000_000_000

    def at(ms: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".000000Z"

    history = [  # newest first, as the API sends it
        {"fingerprint": "a", "rule": "r", "version": None, "from": "resolved", "to": "pending",
         "at": at(t0 + 5 * h)},
        {"fingerprint": "a", "rule": "r", "version": None, "from": "firing", "to": "resolved",
         "at": at(t0 + 4 * h)},
        {"fingerprint": "b", "rule": "r", "version": "v2", "from": "pending", "to": "ok",
         "at": at(t0 + 3 * h)},
        {"fingerprint": "a", "rule": "r", "version": None, "from": "pending", "to": "firing",
         "at": at(t0 + 2 * h)},
        {"fingerprint": "a", "rule": "r", "version": None, "from": "ok", "to": "pending",
         "at": at(t0 - h)},
        {"fingerprint": "c", "rule": "q", "version": None, "from": "ok", "to": "firing",
         "at": at(t0 + 7 * h)},
    ]  # fmt: skip
    current = [{"fingerprint": "d", "rule": "s", "version": None, "state": "firing",
                "since": at(t0 - 2 * h)}]  # fmt: skip
    got = page.evaluate(
        "([h, c, s, e]) => MTCharts.alertPeriods(h, c, s, e).map(r => [r.label,"
        " r.periods.map(p => [p.state, p.start, p.end, p.open])])",
        [history, current, t0, t0 + 6 * h],
    )
    assert got == [
        ["r", [["pending", t0, t0 + 2 * h, False], ["firing", t0 + 2 * h, t0 + 4 * h, False],
               ["pending", t0 + 5 * h, t0 + 6 * h, True]]],
        ["r (v2)", [["pending", t0, t0 + 3 * h, False]]],  # pending before its first change
        ["s", [["firing", t0, t0 + 6 * h, True]]],  # no change recorded: from its "since"
    ]  # fmt: skip
    # "c" fires after the window: not drawn. Short periods stay visible.
    fig = page.evaluate(
        "([s, e]) => MTCharts.alertTimeline([{label: '<i>x</i>', periods: [{state: 'firing',"
        " start: s, end: s + 1000, open: false}]}], s, e)",
        [t0, t0 + 6 * h],
    )
    firing = next(t for t in fig["traces"] if t["name"] == "firing")
    assert firing["y"] == ["&lt;i&gt;x&lt;/i&gt;"]
    assert firing["x"][0] == pytest.approx(6 * h / 300)
    assert firing["customdata"][0][3] == at(t0)[:19] + ".000Z"
    fig = page.evaluate(  # one that just began is widened to the left, inside the axis
        "([s, e]) => MTCharts.alertTimeline([{label: 'y', periods: [{state: 'pending',"
        " start: e - 1000, end: e, open: true}]}], s, e)",
        [t0, t0 + 6 * h],
    )
    pending = next(t for t in fig["traces"] if t["name"] == "pending")
    assert pending["base"] == [at(t0 + 6 * h - 6 * h // 300)[:19] + ".000Z"]
    assert pending["customdata"][0][1] == "now"
    assert fig["layout"]["xaxis"]["type"] == "date"
    watched.assert_clean()
