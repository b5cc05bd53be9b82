"""Alert evaluation and notification delivery on a real store, in-process.

Builds a DuckDB file with ``--models`` classification models, each with ``--hours`` hours of
traffic at ``--rate`` events/s (tests/alerts/traffic.py: labels, latencies, three features), a
window reference over each model's first hour, the five ready-made rules per model plus a drift
rule on one feature. Then it times, as the median of ``--repeat`` runs:

* ``evaluation run``: one :meth:`AlertEvaluator.run_once` over every rule and model (the first,
  cold run is reported too: it computes the reference baselines);
* ``baseline: one query per rule``: what an evaluator without planning would do — for each rule
  instance, the full ``/metrics`` computation of its window (and of its baseline window), or the
  full ``/drift`` of its window — timed sequentially on the same services;
* ``trivial``: ``GET /healthz``, the floor of a request in this process.

And delivery: ``--notifications`` signed-webhook notifications queued in the outbox and delivered
to a local HTTP receiver, against the baseline of the same number of plain ``httpx`` POSTs of the
same size to the same receiver from this process.

    .venv/bin/python bench/bench_alerts.py [--models 10] [--hours 3] [--rate 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.alerts.traffic

from tests.alerts.traffic import replay

from modeltower.app import create_app
from modeltower.config import Settings
from modeltower.services.queries import Filters
from modeltower.services.reference import WindowSpec
from modeltower.store.alert_types import (
    ApplyEvaluation,
    NewNotification,
    NotificationFilter,
)
from modeltower.store.base import InsertEvents
from modeltower.timewindow import Window

S = 1_000_000
HOUR = 3600 * S
SECRET = "whsec_" + base64.b64encode(b"bench-secret-bench-secret-32byte").decode()


class Receiver:
    """A local HTTP server that answers 200 to every POST."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def naive(app: Any, now_us: int) -> int:
    """One full query per rule instance (and per baseline), no sharing: the baseline."""
    q, drift, store = app.state.queries, app.state.drift, app.state.store
    n = 0
    for rule in app.state.alerts.rules():
        for model in store.model_names():
            if rule.model not in ("*", model):
                continue
            window = Window(now_us - rule.window_us, now_us)
            filters = Filters(rule.version, rule.group, rule.tags)
            if rule.metric in ("drift_score", "dataset_drift", "drift_share"):
                drift._cache.clear()
                drift.drift(model, window, filters)
            else:
                q.metrics(model, window, filters)
                if rule.baseline is not None:
                    rec = store.reference(model)
                    if rule.baseline.source == "reference" and rec is not None:
                        ref = Window(rec.spec["start_us"], rec.spec["end_us"])
                    else:
                        end = now_us - rule.window_us
                        ref = Window(end - (rule.baseline.window_us or 0), end)
                    q.metrics(model, ref, filters)
            n += 1
    return n


async def run(models: int, hours: int, rate: float, repeat: int, notifications: int) -> None:
    now = int(time.time() * S)
    t0 = now - hours * HOUR
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            db_path=str(Path(tmp) / "bench.duckdb"), alert_interval_s=3600, drift_interval_s=3600
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
            )
            t = time.perf_counter()
            for k in range(models):
                name = f"model-{k}"
                r = await client.put(
                    f"/v1/models/{name}", json={"task": "classification", "positive_label": "1"}
                )
                assert r.status_code == 200, r.text
                for cols in replay(name, t0, now, rate, seed=k):
                    await app.state.writer.write(InsertEvents(cols))
                await app.state.references.set_window(
                    name, WindowSpec(start_us=t0, end_us=t0 + HOUR), {}, now
                )
                r = await client.post(f"/v1/models/{name}/alerts/presets", json={})
                assert r.status_code == 200, r.text
                rule = {
                    "name": f"{name}:x-drift",
                    "model": name,
                    "metric": "drift_score",
                    "feature": "x",
                    "window": "1h",
                    "op": ">",
                    "threshold": 0.1,
                }
                assert (await client.post("/v1/alerts/rules", json=rule)).status_code == 201
            stored = int(models * hours * 3600 * rate)
            print(f"stored {stored} events of {models} models in {time.perf_counter() - t:.1f} s")
            ev = app.state.alert_evaluator
            rows: list[tuple[str, float]] = []
            rows.append(("trivial GET /healthz", await timed(lambda: client.get("/healthz"), 50)))
            t = time.perf_counter()
            first = await ev.run_once()
            rows.append(("evaluation run, first (cold baselines)", time.perf_counter() - t))
            rows.append(("evaluation run", await timed(ev.run_once, repeat)))

            async def baseline() -> None:
                await asyncio.to_thread(naive, app, int(time.time() * S))

            rows.append(("baseline: one query per rule", await timed(baseline, repeat)))
            print(f"\n{first.instances} rule instances ({len(app.state.alerts.rules())} rules)")
            report(rows, "baseline: one query per rule", "evaluation run")

            # ---- delivery ------------------------------------------------------------------
            rx = Receiver()
            await client.put(
                "/v1/alerts/channels/bench",
                json={"type": "webhook", "url": rx.url, "secret": SECRET},
            )
            body = {"summary": "x" * 300, "labels": {"model": "bench"}}
            op = ApplyEvaluation(
                notifications=tuple(
                    NewNotification(f"fp-{i % 20}", "bench", "bench", "firing", body, now)
                    for i in range(notifications)
                )
            )
            t = time.perf_counter()
            await app.state.writer.write(op)
            app.state.delivery.wake()
            store = app.state.store
            while True:
                done = await asyncio.to_thread(
                    store.notifications, NotificationFilter(status="pending", limit=1)
                )
                if not done:
                    break
                await asyncio.sleep(0.01)
            delivered = time.perf_counter() - t
            payload = b"x" * 600
            async with httpx.AsyncClient() as plain:
                t = time.perf_counter()
                for _ in range(notifications):
                    await plain.post(rx.url, content=payload)
                raw = time.perf_counter() - t
            print(
                f"\ndelivery of {notifications} signed webhooks through the outbox: {delivered:.2f} s"
                f" ({notifications / delivered:.0f}/s); baseline {notifications} plain POSTs: "
                f"{raw:.2f} s ({notifications / raw:.0f}/s); ratio {delivered / raw:.2f}"
            )


def report(rows: list[tuple[str, float]], baseline: str, subject: str) -> None:
    by = dict(rows)
    print(f"{'':44} {'time':>10} {'vs trivial':>11} {'vs baseline':>12}")
    for label, s in rows:
        print(
            f"{label:44} {s * 1000:9.1f}ms {s / by['trivial GET /healthz']:10.0f}x"
            f" {s / by[baseline]:11.2f}"
        )
    print(f"\n{subject} / {baseline} = {by[subject] / by[baseline]:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", type=int, default=10)
    p.add_argument("--hours", type=int, default=3)
    p.add_argument("--rate", type=float, default=10.0)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--notifications", type=int, default=200)
    a = p.parse_args()
    asyncio.run(run(a.models, a.hours, a.rate, a.repeat, a.notifications))


if __name__ == "__main__":
    main()
