"""Time to first full render of a model page (every chart drawn) with 1M stored events.

Fills a fresh database through ``POST /v1/events`` (NDJSON batches) with one binary classifier
whose events span 30 days (two versions, A/B groups, conversions, revenue, tags, labels), starts
a real server, then opens ``/models/bench?window=W`` in headless Chromium and measures from
navigation start to the page's ``mt-first-render`` mark, which model.js sets once every chart's
``Plotly.react`` has resolved. Each run uses a fresh browser context (plotly.js cache cold).

Baseline, measured in the same run, browser and server: the same page for a model that has no
events (every chart shows its empty state), i.e. the cost of the page itself (HTML, plotly.js, the
API round trips) without data.

``--db PATH --model NAME --end TIME`` instead renders a model of an existing database (e.g. one of
bench_query.py's, with ``--events 0`` so that nothing is added) over fixed ranges ending at TIME
(ISO 8601 or epoch seconds): ``?start=TIME-window&end=TIME``; charts without data in it (e.g.
revenue when the model has none) may be empty there. ``--json PATH`` writes the results to PATH.

    .venv/bin/python bench/bench_dashboard.py [--events 1000000] [--runs 5] [--db PATH]
        [--model NAME] [--end TIME] [--windows 1h,24h,7d,30d] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.dashboard.conftest

from tests.dashboard.conftest import CHROMIUM, CHROMIUM_ARGS

from modeltower.testing import ServerProcess

MODEL = "bench"
DAY_S = 86_400.0
WINDOWS = ("1h", "24h", "7d", "30d")
BASELINE_MODEL = "bench-empty-baseline"
SPAN_S = {"h": 3600, "d": 86_400, "w": 7 * 86_400}


def make_batch(rng: np.random.Generator, start: int, n: int, now: float) -> bytes:
    """``n`` NDJSON events with ids ``start..start+n`` spread over the last 30 days."""
    ts = now - rng.random(n) * 30 * DAY_S
    truth = rng.random(n) < 0.3
    correct = rng.random(n) < 0.85
    pred = np.where(correct, truth, ~truth)
    score = np.clip(np.where(pred, 0.7, 0.3) + rng.normal(0, 0.15, n), 0, 1)
    latency = rng.lognormal(3.3, 0.5, n)
    err = rng.random(n) < 0.005
    treat = rng.random(n) < 0.5
    conv = rng.random(n) < np.where(treat, 0.11, 0.09)
    labeled = rng.random(n) < 0.9
    lines = []
    for i in range(n):
        ev: dict[str, object] = {
            "model": MODEL,
            "id": f"e{start + i}",
            "version": "v2" if ts[i] > now - 10 * DAY_S else "v1",
            "timestamp": float(ts[i]),
            "latency_ms": round(float(latency[i]), 2),
            "tags": {"region": ("north", "south", "east", "west")[i % 4]},
            "features": {"tenure": int(i % 72)},
        }
        if err[i]:
            ev["error"] = "TimeoutError"
        else:
            ev.update(
                prediction="churn" if pred[i] else "stay",
                score=round(float(score[i]), 3),
                group="treatment" if treat[i] else "control",
                converted=bool(conv[i]),
                revenue=round(float(rng.random() * 80), 2) if conv[i] else 0.0,
            )
            if labeled[i]:
                ev["label"] = "churn" if truth[i] else "stay"
        lines.append(orjson.dumps(ev))
    return b"\n".join(lines)


def fill(url: str, events: int, batch: int = 20_000) -> float:
    """Send ``events`` events; returns events per second."""
    rng = np.random.default_rng(0)
    now = time.time()
    t0 = time.perf_counter()
    with httpx.Client(timeout=600) as client:
        client.put(
            f"{url}/v1/models/{MODEL}", json={"task": "classification", "positive_label": "churn"}
        )
        for start in range(0, events, batch):
            body = make_batch(rng, start, min(batch, events - start), now)
            r = client.post(
                f"{url}/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"}
            )
            r.raise_for_status()
            print(f"\r  stored {min(start + batch, events):>9,} events", end="", flush=True)
    print()
    return events / (time.perf_counter() - t0)


def page_query(window: str, end: datetime | None) -> str:
    """``window=W``, or the fixed range of that length ending at ``end``."""
    if end is None:
        return f"window={window}"
    start = end.timestamp() - float(window[:-1]) * SPAN_S[window[-1]]
    return f"start={_iso(start)}&end={_iso(end.timestamp())}"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_ms(
    url: str,
    window: str,
    runs: int,
    model: str = MODEL,
    query: str | None = None,
    allowed: tuple[str, ...] = ("drawn",),
    states_out: list[list[str]] | None = None,
) -> list[float]:
    """Milliseconds from navigation start to every chart drawn, one per run."""
    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(runs):
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            page = ctx.new_page()
            page.goto(f"{url}/models/{model}?{query or f'window={window}'}")
            page.wait_for_function(
                "() => performance.getEntriesByName('mt-first-render').length > 0", timeout=300_000
            )
            states = page.eval_on_selector_all(".chart", "els => els.map(e => e.dataset.state)")
            assert all(s in allowed for s in states), states
            if states_out is not None:
                states_out.append(states)
            out.append(
                page.evaluate("performance.getEntriesByName('mt-first-render')[0].startTime")
            )
            ctx.close()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--db", help="reuse this database (filled on first use)")
    ap.add_argument("--model", default=MODEL, help="the model to render (only 'bench' is filled)")
    ap.add_argument("--end", help="fixed ranges ending here (ISO 8601 or epoch seconds)")
    ap.add_argument("--windows", default=",".join(WINDOWS))
    ap.add_argument("--start-timeout", type=float, default=30.0, help="seconds to become ready")
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = ap.parse_args()
    end = None
    if args.end:
        try:
            end = datetime.fromtimestamp(float(args.end), UTC)
        except ValueError:
            end = datetime.fromisoformat(args.end)
    windows = [w.strip() for w in args.windows.split(",") if w.strip()]
    allowed = ("drawn",) if args.model == MODEL and end is None else ("drawn", "empty")
    tmp = tempfile.TemporaryDirectory(prefix="mt-bench-dash-")
    db = Path(args.db) if args.db else Path(tmp.name) / "bench.duckdb"
    result: dict[str, Any] = {"model": args.model, "runs": args.runs, "windows": {}}
    server = ServerProcess(db).start(timeout=args.start_timeout)
    try:
        known = httpx.get(f"{server.url}/v1/models/{args.model}")
        if args.model == MODEL and (
            known.status_code == 404 or known.json()["event_count"] < args.events
        ):
            print(f"filling {args.events:,} events ...")
            print(f"  ingest: {fill(server.url, args.events):,.0f} events/s")
        stored = httpx.get(f"{server.url}/v1/models/{args.model}").json()["event_count"]
        result["stored_events"] = stored
        print(f"stored events: {stored:,}")
        httpx.put(
            f"{server.url}/v1/models/{BASELINE_MODEL}",
            json={"task": "classification", "positive_label": "churn"},
        ).raise_for_status()
        print(f"{'window':>7} {'median ms':>10} {'min ms':>8} {'max ms':>8}  (first full render)")
        for window in windows:
            query = page_query(window, end)
            base = render_ms(
                server.url, window, args.runs, BASELINE_MODEL, query, ("drawn", "empty")
            )
            states: list[list[str]] = []
            ms = render_ms(server.url, window, args.runs, args.model, query, allowed, states)
            print(f"{window:>7} {statistics.median(ms):>10.0f} {min(ms):>8.0f} {max(ms):>8.0f}")
            drawn = min(sum(s == "drawn" for s in st) for st in states)
            result["windows"][window] = {
                "query": query,
                "median_ms": statistics.median(ms),
                "runs_ms": ms,
                "baseline_median_ms": statistics.median(base),
                "baseline_runs_ms": base,
                "charts": len(states[0]),
                "charts_drawn": drawn,
            }
        print(
            f"baseline (same page, model {BASELINE_MODEL!r} without events), median ms: "
            + ", ".join(
                f"{w} {r['baseline_median_ms']:.0f} (x{r['median_ms'] / r['baseline_median_ms']:.2f}"
                f" with data, {r['charts_drawn']}/{r['charts']} charts drawn)"
                for w, r in result["windows"].items()
            )
        )
    finally:
        server.stop()
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    tmp.cleanup()


if __name__ == "__main__":
    main()
