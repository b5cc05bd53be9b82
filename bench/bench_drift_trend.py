"""Drift endpoints on a real store: the exact drift of a window and the drift trend.

Builds a DuckDB file with ``--days`` days of events for one model (``--per-hour`` events per hour,
10 numeric and 4 categorical features, a slow drift), sets a window reference (the first day),
lets the drift job summarize everything, then times, in-process over HTTP (``httpx`` on the ASGI
app), the median of ``--repeat`` runs of:

* ``trend 30d/1d`` and ``trend 7d/1h``: ``/drift/timeseries`` from the per-hour summaries (first
  call, and a refresh where the bucket scores are memoized);
* ``exact per bucket``: the baseline — the same trend computed the naive way, one exact
  ``/drift`` call per bucket, each rescanning that bucket's raw events;
* ``exact 24h`` and ``exact 30d``: ``/drift`` over one day and the whole history (one raw scan);
* ``trivial``: ``/healthz``, the floor of a request in this process.

It also reports the trend's error against the exact per-bucket scores (max |binned − exact| for
``wasserstein`` and ``jensenshannon``, and verdict agreement).

    .venv/bin/python bench/bench_drift_trend.py [--days 30] [--per-hour 400] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from modeltower.app import create_app
from modeltower.config import Settings

HOUR = 3600
N_NUM = 10
CATS = {"plan": 4, "country": 12, "device": 3, "channel": 6}


def events(rng: np.random.Generator, t0: int, hour: int, n: int, days: int) -> list[dict[str, Any]]:
    drift = hour / (days * 24)  # 0 → 1 over the history
    ts = t0 + hour * HOUR + np.sort(rng.integers(0, HOUR, n))
    num = rng.normal(0.0, 1.0, (n, N_NUM))
    num[:, :3] += 0.8 * drift  # three numeric features drift
    out = []
    cat_values = {k: [f"{k}-{i}" for i in range(m)] for k, m in CATS.items()}
    cats = {k: rng.integers(0, m, n) for k, m in CATS.items()}
    cats["plan"] = np.where(rng.random(n) < 0.5 * drift, 3, cats["plan"])  # one categorical drifts
    for i in range(n):
        feats: dict[str, Any] = {f"num_{j}": float(num[i, j]) for j in range(N_NUM)}
        for k, vals in cat_values.items():
            feats[k] = vals[int(cats[k][i])]
        out.append(
            {
                "model": "bench",
                "id": f"{hour}-{i}",
                "timestamp": int(ts[i]),
                "prediction": float(num[i, 0] * 2 + 1),
                "features": feats,
            }
        )
    return out


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


async def run(days: int, per_hour: int, repeat: int, json_path: Path | None = None) -> None:
    t0 = (int(time.time()) // 86400 - days) * 86400
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(db_path=str(Path(tmp) / "bench.duckdb"), drift_interval_s=3600))
        async with app.router.lifespan_context(app):
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1", timeout=600
            )
            rng = np.random.default_rng(0)
            t = time.perf_counter()
            for h in range(days * 24):
                await app.state.ingest.event_objects(events(rng, t0, h, per_hour, days))
            n_events = days * 24 * per_hour
            print(f"stored {n_events} events in {time.perf_counter() - t:.1f} s")
            r = await client.put(
                "/v1/models/bench/reference", json={"start": t0, "end": t0 + 86400}
            )
            assert r.status_code == 200, r.text
            t = time.perf_counter()
            await app.state.drift_job.run_once()
            print(f"summarized them in {time.perf_counter() - t:.1f} s")
            end = t0 + days * 86400

            async def get(path: str, **params: Any) -> Any:
                r = await client.get(path, params=params)
                assert r.status_code == 200, r.text
                return r.json()

            base = "/v1/models/bench"
            rows: list[tuple[str, float]] = []
            s, _ = await timed(lambda: get("/healthz"), repeat * 10)
            rows.append(("trivial /healthz", s))
            for label, span, bucket in (("30d/1d", days * 86400, "1d"), ("7d/1h", 7 * 86400, "1h")):
                start = end - span
                app.state.drift_trend.memo = type(app.state.drift_trend.memo)()
                first, trend = await timed(
                    lambda start=start, bucket=bucket: get(
                        f"{base}/drift/timeseries", start=start, end=end, bucket=bucket
                    ),
                    1,
                )
                rows.append((f"trend {label}, first call", first))
                s, trend = await timed(
                    lambda start=start, bucket=bucket: get(
                        f"{base}/drift/timeseries", start=start, end=end, bucket=bucket
                    ),
                    repeat,
                )
                rows.append((f"trend {label}, refresh", s))
                step = 86400 if bucket == "1d" else HOUR

                async def naive(start: int = start, step: int = step) -> list[Any]:
                    return [
                        await get(f"{base}/drift", start=b, end=b + step)
                        for b in range(start, end, step)
                    ]

                s, exact = await timed(naive, 1)
                rows.append((f"baseline: exact /drift per bucket, {label}", s))
                report_error(label, trend, exact)

            async def exact(start: int) -> Any:
                app.state.drift._cache.clear()  # time the computation, not the result cache
                return await get(f"{base}/drift", start=start, end=end)

            s, _ = await timed(lambda: exact(end - 86400), repeat)
            rows.append(("exact /drift 24h", s))
            s, _ = await timed(lambda: exact(t0), repeat)
            rows.append((f"exact /drift {days}d", s))
            await client.aclose()
    trivial = rows[0][1]
    print(f"\n{n_events} events, {N_NUM + len(CATS)} features + prediction")
    print(f"{'':<48} {'seconds':>9} {'× trivial':>10}")
    for label, s in rows:
        print(f"{label:<48} {s:>9.4f} {s / trivial:>10.0f}")
    if json_path:
        data = {"events": n_events, "days": days, "per_hour": per_hour, "repeat": repeat}
        data["median_seconds"] = dict(rows)
        json_path.write_text(json.dumps(data, indent=1))


def report_error(label: str, trend: dict[str, Any], exact: list[dict[str, Any]]) -> None:
    worst: dict[str, float] = {}
    agree = total = 0
    for col in trend["columns"]:
        for i, score in enumerate(col["scores"]):
            if exact[i]["status"] != "ok":
                continue
            e = next(c for c in exact[i]["columns"] if c["name"] == col["name"])
            if score is None or e["score"] is None or e["method"] != col["method"]:
                continue
            worst[col["method"]] = max(worst.get(col["method"], 0.0), abs(score - e["score"]))
            agree += col["drift"][i] == e["drift"]
            total += 1
    errs = ", ".join(f"{m} {v:.4f}" for m, v in sorted(worst.items()))
    print(f"trend {label}: max |binned - exact|: {errs}; verdicts agree {agree}/{total}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--per-hour", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the timings to this JSON file")
    a = ap.parse_args()
    asyncio.run(run(a.days, a.per_hour, a.repeat, a.json))


if __name__ == "__main__":
    main()
