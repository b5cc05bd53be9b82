"""The benchmark suite: builds the data sets, runs every benchmark, writes docs/BENCHMARKS.md.

Each benchmark is one of the scripts next to this file, run as a subprocess with ``--json`` (its
full output goes to a log under bench/results/<date>/, which git ignores). Every figure comes with
a baseline measured in the same run, on the same machine, because the machine is small, shared and
noisy; the ratio (figure / baseline) is what travels between machines.

* data sets: bench_query.py's generator, ``--events`` events each (three models with two or three
  versions, 8 features and 2 tags per event, 30 days of history, ~1 % errors, labels arriving late
  as feedback), cached under bench/data/;
* ingest: bench_ingest_batch.py and bench_ingest_single.py (baseline: the parse-only trivial app
  under the same uvicorn options), bench_writer.py (the DuckDB writer's CPU per commit in
  process; baseline: a plain INSERT + COMMIT of the same rows), and bench_replicas.py
  (PostgreSQL with three replicas; baseline: one replica under the same load);
* drift: bench_drift.py (baseline: the same scores computed plainly with scipy) and
  bench_drift_trend.py (baseline: one exact /drift call per bucket; and the trivial /healthz);
* per data size: bench_query.py (baseline: a raw SQL scan of the same rows, in DuckDB), the
  server's memory after those queries (baseline: the same server on an empty store),
  bench_query_pg.py (the same data set and queries on PostgreSQL, loaded through
  PostgresStore.write into a throw-away cluster cached under bench/data/; baseline: a raw SQL
  scan of the same rows in that PostgreSQL database; its rows are labelled "PostgreSQL:"), and
  bench_dashboard.py on a copy of the data set (baseline: the same page for a model with no
  events).

A benchmark that fails, times out or writes no result is reported in the table as such.

    .venv/bin/python bench/run_all.py [--events 1000000,10000000] [--quick]
        [--out docs/BENCHMARKS.md] [--snapshot] [--skip dashboard,...] [--regenerate]

``--snapshot`` runs the code of the last commit (``git archive HEAD src``) instead of the work
tree, so that edits in progress under src/ do not leak into the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as c

BENCHES = (
    "ingest_batch",
    "ingest_single",
    "writer",
    "drift",
    "drift_trend",
    "query",
    "query_pg",
    "dashboard",
)
LABEL_DELAY_H = 12.0  # mean delay of a label after its event, in the generated data sets
QUERY_MODEL = "churn"
TARGETS = {  # the speed targets (2 cores), as stated for 10M stored events
    "metrics_24h_ms": 50.0,
    "metrics_30d_ms": 100.0,
    "timeseries_30d_ms": 100.0,
    "ingest_events_per_s": 200_000.0,
    "rss_mb": 500.0,
}
TARGET_SIZE = 10_000_000


@dataclass
class Row:
    bench: str
    size: str
    figure: str
    baseline: str = "-"
    ratio: str = "-"
    target: str = "-"
    met: str = "-"
    note: str = ""


@dataclass
class Step:
    """One benchmark subprocess: what ran, how long, and its JSON result (or why there is none)."""

    name: str
    cmd: list[str]
    log: Path
    seconds: float = 0.0
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class Suite:
    args: argparse.Namespace
    env: dict[str, str]
    results: Path
    steps: list[Step] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    datasets: dict[int, dict[str, Any]] = field(default_factory=dict)
    baseline_rss_kib: int | None = None
    baseline_rss_error: str | None = None

    def run(
        self, name: str, script: str, argv: list[str], timeout: float, json_out: bool = True
    ) -> Step:
        out = self.results / f"{name}.json"
        cmd = [c.PYTHON, str(c.BENCH_DIR / script), *argv]
        if json_out:
            cmd += ["--json", str(out)]
        step = Step(name, cmd, self.results / f"{name}.log")
        self.steps.append(step)
        print(f"[{_now()}] {name}: {shlex.join(_rel(cmd))}", flush=True)
        t0 = time.perf_counter()
        try:
            with open(step.log, "wb") as log:
                proc = subprocess.run(
                    cmd,
                    cwd=c.REPO,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                )
            if proc.returncode != 0:
                step.error = f"exit status {proc.returncode}: {_last_line(step.log)}"
        except subprocess.TimeoutExpired:
            step.error = f"timed out after {timeout:.0f} s"
        step.seconds = time.perf_counter() - t0
        if json_out:
            if out.exists():
                try:
                    step.result = json.loads(out.read_text())
                except ValueError as e:
                    step.error = (step.error or "") + f" (unreadable JSON: {e})"
            elif step.error is None:
                step.error = "no result written"
        status = "ok" if step.error is None else f"FAILED ({step.error})"
        print(f"[{_now()}] {name}: {status} in {step.seconds:.0f} s; log {_rel1(step.log)}")
        return step


def _now() -> str:
    return time.strftime("%H:%M:%S")


def _rel1(p: Path | str) -> str:
    s = str(p)
    return s[len(str(c.REPO)) + 1 :] if s.startswith(str(c.REPO) + os.sep) else s


def _rel(cmd: list[str]) -> list[str]:
    out = [_rel1(x) for x in cmd]
    if cmd and cmd[0] == c.PYTHON:
        out[0] = ".venv/bin/python" if c.PYTHON.startswith(str(c.REPO)) else "python"
    return out


def _last_line(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(no output)"


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def size_label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def ms(seconds: float) -> str:
    x = seconds * 1e3
    return f"{x:,.0f} ms" if x >= 100 else f"{x:.1f} ms" if x >= 1 else f"{x:.2f} ms"


def sec(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:,.1f} s"


def ratio(x: float) -> str:
    return f"{x:,.0f}×" if x >= 100 else f"{x:.2f}×"


def mb(kib: float) -> str:
    return f"{kib * 1024 / 1e6:,.0f} MB"


def met(ok: bool, size: int | None = None) -> str:
    word = "yes" if ok else "**no**"
    return word if size in (None, TARGET_SIZE) else word + "*"


def failed_rows(bench: str, size: str, names: list[str], why: str) -> list[Row]:
    return [Row(f"{bench}: {n}", size, f"FAILED: {why}") for n in names]


# --------------------------------------------------------------------------------------------
# Benchmarks
# --------------------------------------------------------------------------------------------


def read_rows(
    step: Step, names: list[str], bench: str, size: str, fn: Callable[[], list[Row]]
) -> list[Row]:
    """``fn()`` over a step's result; failed rows (each expected name) when there is none."""
    if step.result is None:
        return failed_rows(bench, size, names, step.error or "no result")
    try:
        rows = fn()
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError, StopIteration) as e:
        return failed_rows(bench, size, names, f"result incomplete ({type(e).__name__}: {e})")
    if step.error:  # a result, but the script reported a failure (e.g. lost events)
        for r in rows:
            r.note = (r.note + "; " if r.note else "") + f"script failed: {step.error}"
            r.met = "**no**"
    return rows


def bench_ingest_batch(s: Suite) -> None:
    quick = s.args.quick
    argv = ["--duration", "5" if quick else "10", "--rounds", "1" if quick else "2"]
    step = s.run("ingest_batch", "bench_ingest_batch.py", argv, timeout=900)

    def rows() -> list[Row]:
        assert step.result is not None
        table = step.result["rows"]
        base = next(r for r in table if r["server"].startswith("trivial"))
        mt = next(r for r in table if r["server"] == "modeltower")
        eps = float(mt["events/s"])
        target = TARGETS["ingest_events_per_s"]
        note = (
            f"1,000 events per POST, {step.result['args']['connections']} connections, "
            f"{step.result['args']['rounds']} round(s) of {step.result['args']['duration']:g} s; "
            f"accepted {mt['accepted']:,}, stored {mt['stored']:,} (unanswered when the load "
            f"stopped: {mt['unanswered']:,}), lost {mt['lost']}"
        )
        return [
            Row(
                "ingest, batched POST /v1/events (events/s)",
                "fresh store",
                f"{eps:,.0f} events/s",
                f"trivial app (parse only): {float(base['events/s']):,.0f} events/s",
                ratio(float(mt["ratio"])),
                f"≥ {target:,.0f} events/s",
                met(eps >= target),
                note,
            )
        ]

    s.rows += read_rows(step, ["batched POST /v1/events"], "ingest", "fresh store", rows)


def bench_ingest_single(s: Suite) -> None:
    quick = s.args.quick
    argv = ["--configs", "httptools+uvloop", "--duration", "5" if quick else "10"]
    argv += ["--rounds", "1" if quick else "2"]
    step = s.run("ingest_single", "bench_ingest_single.py", argv, timeout=900)

    def rows() -> list[Row]:
        assert step.result is not None
        table = step.result["rows"]
        base = next(r for r in table if r["server"].startswith("trivial"))
        mt = next(r for r in table if r["server"] == "modeltower")
        target = float(step.result["target_ratio"])
        rr = float(mt["ratio"])
        return [
            Row(
                "ingest, one event per POST /v1/events (req/s)",
                "fresh store",
                f"{float(mt['req/s']):,.0f} req/s",
                f"trivial app (parse only): {float(base['req/s']):,.0f} req/s",
                ratio(rr),
                f"ratio ≥ {target:.2f}",
                met(rr >= target),
                f"{step.result['args']['connections']} connections; p99 {float(mt['p99 ms']):.1f} "
                f"ms; lost {mt['lost']}",
            )
        ]

    s.rows += read_rows(step, ["single-event POST /v1/events"], "ingest", "fresh store", rows)


def bench_writer(s: Suite) -> None:
    argv = ["--commits", "30" if s.args.quick else "60"]
    step = s.run("writer", "bench_writer.py", argv, timeout=900)
    names = [
        f"{cm}, {ks}" for cm in ("32 × 1 event", "4 × 1,000 events") for ks in ("fresh", "10M")
    ]

    def rows() -> list[Row]:
        assert step.result is not None
        out = []
        for r in step.result["rows"]:
            out.append(
                Row(
                    f"DuckDB writer CPU per commit, {r['commit']}",
                    "fresh store" if r["key set"] == "fresh" else f"key set of {r['key set']}",
                    ms(float(r["cpu_ms"]) / 1000),
                    f"plain INSERT + COMMIT of the same rows: {ms(float(r['baseline_cpu_ms']) / 1000)}",
                    ratio(float(r["ratio"])),
                    "-",
                    "-",
                    f"in process, median of {step.result['commits']}; wall {float(r['wall_ms']):.1f}"
                    " ms",
                )
            )
        return out

    s.rows += read_rows(step, names, "writer", "-", rows)


def bench_replicas(s: Suite) -> None:
    argv = ["--seconds", "5" if s.args.quick else "10"]
    step = s.run("replicas", "bench_replicas.py", argv, timeout=900)

    def rows() -> list[Row]:
        assert step.result is not None
        one, three = float(step.result["one"]), float(step.result["three"])
        a = step.result["args"]
        return [
            Row(
                "PostgreSQL: ingest, batched POST /v1/events, 3 replicas (events/s)",
                "fresh database",
                f"{three:,.0f} events/s",
                f"1 replica, same load: {one:,.0f} events/s",
                ratio(three / one),
                "report",
                "-",
                f"{a['batch']:,} events per POST from {a['clients']} clients round-robin over "
                f"the replicas for {a['seconds']:g} s; every acknowledged event stored once; "
                "PostgreSQL, the replicas and the clients share the machine's cores",
            )
        ]

    s.rows += read_rows(step, ["3 replicas vs 1"], "replicas", "fresh database", rows)


def bench_drift(s: Suite) -> None:
    argv = ["--repeat", "3" if s.args.quick else "5"]
    step = s.run("drift", "bench_drift.py", argv, timeout=1800)

    def rows() -> list[Row]:
        assert step.result is not None
        r = step.result["rows"][0]
        ours, base, target = float(r["ours s"]), float(r["baseline s"]), float(r["target s"])
        return [
            Row(
                "drift scores, 20 features, default methods",
                f"{step.result['n_rows']:,} vs {step.result['n_rows']:,} rows",
                sec(ours),
                f"plain scipy on the raw arrays: {sec(base)}",
                ratio(ours / base),
                f"≤ {target:g} s",
                met(ours <= target),
                f"median of {step.result['repeat']}; {step.result['drifted']} of 20 drifted; "
                "scores agree to 1e-9",
            )
        ]

    s.rows += read_rows(step, ["20 features"], "drift", "500k rows", rows)


def bench_drift_trend(s: Suite) -> None:
    argv = ["--repeat", "2" if s.args.quick else "3"]
    if s.args.quick:
        argv += ["--per-hour", "200"]
    step = s.run("drift_trend", "bench_drift_trend.py", argv, timeout=1800)

    def rows() -> list[Row]:
        assert step.result is not None
        r = step.result["median_seconds"]
        days = int(step.result["days"])
        size = f"{step.result['events']:,} events, {days} d"
        out = []
        for label in (f"{days}d/1d", "7d/1h"):
            first = float(r[f"trend {label}, first call"])
            base = float(r[f"baseline: exact /drift per bucket, {label}"])
            out.append(
                Row(
                    f"drift trend {label} (/drift/timeseries, first call)",
                    size,
                    sec(first),
                    f"one exact /drift per bucket: {sec(base)}",
                    ratio(first / base),
                    note=f"refresh (memoized buckets): {sec(float(r[f'trend {label}, refresh']))}",
                )
            )
        exact = float(r[f"exact /drift {days}d"])
        trivial = float(r["trivial /healthz"])
        out.append(
            Row(
                f"exact drift over {days} d (/drift)",
                size,
                sec(exact),
                f"trivial /healthz in process: {ms(trivial)}",
                ratio(exact / trivial),
                note="in process over ASGI (no network)",
            )
        )
        return out

    names = ["trend 30d/1d", "trend 7d/1h", "exact /drift 30d"]
    s.rows += read_rows(step, names, "drift trend", "in-process store", rows)


def build_dataset(s: Suite, events: int) -> None:
    """bench_query.py --generate-only (cached under bench/data/), then a summary of its contents."""
    import bench_query

    path = bench_query.db_path(events, 0.25, 7, LABEL_DELAY_H)
    meta_path = path.with_suffix(".json")
    cached = path.exists() and meta_path.exists()
    argv = ["--events", str(events), "--label-delay-h", f"{LABEL_DELAY_H:g}", "--generate-only"]
    stale = None
    if cached:
        # The server's retention job expires raw events older than 30 days (wall clock), so an
        # old cached set would lose its oldest events to it: rebuild it.
        age_h = (time.time() - json.loads(meta_path.read_text())["anchor_us"] / 1e6) / 3600
        if s.args.regenerate or age_h > s.args.max_age_h:
            stale = "--regenerate" if s.args.regenerate else f"the cached one was {age_h:.0f} h old"
            argv.append("--regenerate")
            cached = False
    step = s.run(f"dataset_{size_label(events)}", "bench_query.py", argv, 7200, json_out=False)
    info: dict[str, Any] = {"path": path, "cached": cached, "step": step, "stale": stale}
    s.datasets[events] = info
    if step.error:
        return
    meta = json.loads(path.with_suffix(".json").read_text())
    info["meta"] = meta
    try:
        info["summary"] = summarize_dataset(path, int(meta["anchor_us"]))
    except Exception as e:  # a summary failure must not stop the suite
        info["summary_error"] = f"{type(e).__name__}: {e}"


def summarize_dataset(path: Path, anchor_us: int) -> list[dict[str, Any]]:
    import duckdb

    day = 86_400_000_000
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            """
            SELECT e.model, count(*) AS n, string_agg(DISTINCT e.version, ', ') AS versions,
                   avg((e.error IS NOT NULL)::INT) AS error_share,
                   avg((f.label IS NOT NULL)::INT) AS labeled,
                   avg((f.label IS NOT NULL)::INT) FILTER (WHERE e.ts >= ?) AS labeled_24h,
                   count(*) FILTER (WHERE e.ts >= ?) AS n_24h,
                   any_value(e.features) AS features, any_value(e.tags) AS tags,
                   (max(e.ts) - min(e.ts)) / 86400e6 AS span_days
            FROM events e LEFT JOIN feedback f ON f.k = e.k
            GROUP BY e.model ORDER BY n DESC
            """,
            [anchor_us - day, anchor_us - day],
        ).fetchall()
        tasks = dict(con.execute("SELECT model, task FROM models").fetchall())
    finally:
        con.close()
    out = []
    for model, n, versions, err, labeled, labeled_24h, n_24h, feats, tags, span in rows:
        out.append(
            {
                "model": model,
                "task": tasks.get(model),
                "events": int(n),
                "events_24h": int(n_24h),
                "versions": ", ".join(sorted(versions.split(", "))) if versions else "-",
                "error_share": float(err),
                "labeled": float(labeled),
                "labeled_24h": float(labeled_24h or 0.0),
                "features": len(json.loads(feats)) if feats else 0,
                "tags": len(json.loads(tags)) if tags else 0,
                "span_days": float(span),
            }
        )
    return out


def empty_store_rss(s: Suite) -> None:
    """VmRSS of the modeltower server on an empty store, after start and a few requests."""
    import httpx

    from bench_query import proc_memory_kib

    try:
        with c.workdir() as wd:
            server = c.modeltower_server("httptools+uvloop", wd / "empty.duckdb", wd)
            server.env = {**server.env, **s.env}
            with server:
                for path in ("/v1/models", "/v1/models/none/metrics?window=24h", "/"):
                    httpx.get(server.url + path, timeout=60)
                time.sleep(1.0)
                s.baseline_rss_kib = proc_memory_kib(server.pid)["VmRSS"]
    except Exception as e:  # reported in the table
        s.baseline_rss_error = f"{type(e).__name__}: {e}"


def bench_query(s: Suite, events: int) -> None:
    size = size_label(events)
    argv = ["--events", str(events), "--label-delay-h", f"{LABEL_DELAY_H:g}"]
    argv += ["--model", QUERY_MODEL, "--repeat", "5" if s.args.quick else "15"]
    step = s.run(f"query_{size}", "bench_query.py", argv, timeout=3600)
    s.rows += read_rows(step, QUERY_ROW_NAMES, "query", size, lambda: query_rows(s, step, events))
    if step.result is not None:
        s.datasets.setdefault(events, {})["query"] = step.result


def bench_query_pg(s: Suite, events: int) -> None:
    """bench_query_pg.py: the same data set and queries on PostgreSQL (its loaded cluster is
    cached under bench/data/ by the script itself)."""
    size = size_label(events)
    argv = ["--events", str(events), "--label-delay-h", f"{LABEL_DELAY_H:g}"]
    argv += ["--model", QUERY_MODEL, "--repeat", "5" if s.args.quick else "15"]
    argv += ["--max-age-h", f"{s.args.max_age_h:g}"]
    if s.args.regenerate:
        argv.append("--regenerate")
    step = s.run(f"query_pg_{size}", "bench_query_pg.py", argv, timeout=3 * 3600)
    s.rows += read_rows(
        step,
        QUERY_ROW_NAMES,
        "query (PostgreSQL)",
        size,
        lambda: query_rows(s, step, events, PG_LABEL),
    )


QUERY_ROW_NAMES = ["metrics 24h", "metrics 30d", "timeseries count", "timeseries 6 metrics"]
QUERY_ROW_NAMES += ["RSS", "peak RSS"]
PG_LABEL = "PostgreSQL: "  # prefix of the PostgreSQL rows (the DuckDB ones have none)


def query_rows(s: Suite, step: Step, events: int, label_prefix: str = "") -> list[Row]:
    """The table rows of a bench_query*.py result (DuckDB, or PostgreSQL with a label prefix)."""
    size = size_label(events)
    star = "" if events == TARGET_SIZE else "*"
    assert step.result is not None
    res = step.result
    m = res["median_seconds"]
    note_ok = "" if res["counts_match"] else "COUNT MISMATCH with the SQL scan; "
    model = res["model"]
    scan = f"WHERE model='{model}' AND ts >= …"
    sql = "PostgreSQL" if label_prefix else "SQL"
    out = []
    for label, key, base_key, base_label, target in (
        (
            f"GET /v1/models/{model}/metrics?window=24h",
            "http_metrics",
            "sql_24h",
            f"{sql} count+avg, {scan} (24 h)",
            TARGETS["metrics_24h_ms"],
        ),
        (
            f"GET /v1/models/{model}/metrics?window=30d",
            "http_metrics_30d",
            "sql_30d",
            f"{sql} count+avg, {scan} (30 d)",
            TARGETS["metrics_30d_ms"],
        ),
        (
            f"GET …/{model}/timeseries 30d by 1h, metrics=count",
            "http_ts_count",
            "sql_30d_by_1h",
            f"{sql} count+avg, 30 d, GROUP BY hour",
            TARGETS["timeseries_30d_ms"],
        ),
        (
            f"GET …/{model}/timeseries 30d by 1h, 6 metrics",
            "http_ts_rich",
            "sql_30d_by_1h",
            f"{sql} count+avg, 30 d, GROUP BY hour",
            TARGETS["timeseries_30d_ms"],
        ),
        # what a dashboard asks at almost any moment: its partial minutes and hours are raw
        (
            f"GET /v1/models/{model}/metrics?window=24h, end off the minute",
            "http_metrics_off",
            "sql_24h",
            f"{sql} count+avg, {scan} (24 h)",
            TARGETS["metrics_24h_ms"],
        ),
        (
            f"GET …/{model}/timeseries 30d by 1h, 6 metrics, end off the minute",
            "http_ts_rich_off",
            "sql_30d_by_1h",
            f"{sql} count+avg, 30 d, GROUP BY hour",
            TARGETS["timeseries_30d_ms"],
        ),
    ):
        fig, base = float(m[key]), float(m[base_key])
        note = f"{note_ok}median of {res['repeat']}"
        if key == "http_metrics":
            note += f"; {res['count_24h_sql']:,} events in the window"
        if key.startswith("http_ts_rich"):
            note += "; count, latency p50/p99, error rate, accuracy, F1"
        if key.endswith("_off"):
            note += f"; the window ends {res['off_us'] / 1e6:g} s before a minute"
        out.append(
            Row(
                label_prefix + label,
                size,
                ms(fig),
                f"{base_label}: {ms(base)}",
                ratio(fig / base),
                f"≤ {target:g} ms{star}",
                met(fig * 1e3 <= target, events),
                note,
            )
        )
    mem = res["server_memory_kib"]
    rss, hwm = int(mem["after_queries"]["VmRSS"]), int(mem["after_writes"]["VmHWM"])
    rss_w = int(mem["after_writes"]["VmRSS"])
    target = TARGETS["rss_mb"]
    base_txt, rss_ratio, hwm_ratio = "FAILED: " + str(s.baseline_rss_error), "-", "-"
    if s.baseline_rss_kib:
        empty = "empty DuckDB store" if label_prefix else "empty store"
        base_txt = f"same server, {empty}: {mb(s.baseline_rss_kib)}"
        rss_ratio = ratio(rss / s.baseline_rss_kib)
        rss_w_ratio = ratio(rss_w / s.baseline_rss_kib)
        hwm_ratio = ratio(hwm / s.baseline_rss_kib)
    start_note = f"server ready {mem['start_seconds']:.1f} s after start"
    n_events, n_labels = mem["probe"]
    probe = f"then {n_events:,} events in POSTs of 1,000 and {n_labels:,} labels (model memprobe)"
    for label, value, rr, note in (
        ("server memory after the queries (VmRSS)", rss, rss_ratio, start_note),
        ("server memory after the queries and writes (VmRSS)", rss_w, rss_w_ratio, probe),
        ("server peak memory (VmHWM)", hwm, hwm_ratio, "peak since start, writes included"),
    ):
        out.append(
            Row(
                label_prefix + label,
                size,
                mb(value),
                base_txt,
                rr,
                f"≤ {target:g} MB{star}",
                met(value * 1024 / 1e6 <= target, events),
                note,
            )
        )
    return out


def bench_dashboard(s: Suite, events: int) -> None:
    size = size_label(events)
    info = s.datasets.get(events, {})
    windows = "24h,30d" if s.args.quick else "1h,24h,7d,30d"
    names = [f"model page, {w}" for w in windows.split(",")]
    if "meta" not in info:
        s.rows += failed_rows("dashboard", size, names, "no data set")
        return
    src: Path = info["path"]
    with tempfile.TemporaryDirectory(prefix="mt-bench-dash-", dir=c.DATA_DIR) as tmp:
        db = Path(tmp) / src.name
        shutil.copyfile(src, db)
        wal = Path(str(src) + ".wal")
        if wal.exists():
            shutil.copyfile(wal, Path(str(db) + ".wal"))
        end_s = f"{int(info['meta']['anchor_us']) / 1e6:.0f}"
        argv = ["--db", str(db), "--model", QUERY_MODEL, "--events", "0", "--end", end_s]
        argv += ["--windows", windows, "--runs", "2" if s.args.quick else "5"]
        argv += ["--start-timeout", "1800"]
        step = s.run(f"dashboard_{size}", "bench_dashboard.py", argv, timeout=3600)

    def rows() -> list[Row]:
        assert step.result is not None
        out = []
        for w, r in step.result["windows"].items():
            fig, base = float(r["median_ms"]), float(r["baseline_median_ms"])
            out.append(
                Row(
                    f"dashboard: model page, {w} range, first full render",
                    size,
                    f"{fig:,.0f} ms",
                    f"same page, model without events: {base:,.0f} ms",
                    ratio(fig / base),
                    note=f"median of {step.result['runs']} cold browser contexts; "
                    f"{r['charts_drawn']}/{r['charts']} charts drawn"
                    + ("" if r["charts_drawn"] == r["charts"] else " (the rest: no such data)"),
                )
            )
        return out

    s.rows += read_rows(step, names, "dashboard", size, rows)


# --------------------------------------------------------------------------------------------
# The machine and the report
# --------------------------------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=c.REPO, text=True, capture_output=True)
        return out.stdout.strip()
    except OSError:
        return ""


def machine() -> dict[str, str]:
    import duckdb

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    wrk = shutil.which("wrk")
    wrk_v = ""
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True)
        wrk_v = (out.stdout + out.stderr).split("[")[0].strip()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "nproc": nproc or str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "load client": wrk_v or "Python asyncio client (wrk not installed)",
        "load average": load,
    }


@contextlib.contextmanager
def snapshot_src(enabled: bool) -> Iterator[str | None]:
    """``git archive HEAD src`` unpacked in a temporary directory, or None."""
    if not enabled:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="mt-bench-src-") as tmp:
        archive = Path(tmp) / "src.tar"
        subprocess.run(
            ["git", "archive", "-o", str(archive), "HEAD", "src"], cwd=c.REPO, check=True
        )
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        yield str(Path(tmp) / "src")


def write_report(s: Suite, out: Path, info: dict[str, str], started: dt.datetime) -> None:
    sizes = ", ".join(size_label(n) for n in s.args.sizes)
    mode = "quick (`--quick`: 1M only, fewer repeats)" if s.args.quick else "full"
    cmd = shlex.join([".venv/bin/python", "bench/run_all.py", *sys.argv[1:]])
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/run_all.py`; do not edit by hand. Reproduce with:",
        "",
        "```sh",
        cmd,
        "```",
        "",
        f"- **Date:** {started:%Y-%m-%d %H:%M} UTC; the suite took "
        f"{(dt.datetime.now(dt.UTC) - started).total_seconds() / 60:.0f} min.",
        f"- **Run:** {mode}; data sizes run: **{sizes}**"
        + (
            ""
            if TARGET_SIZE in s.args.sizes
            else " (the 10M data set was not run: the speed targets are stated for 10M stored "
            "events, and are only indicative here)"
        )
        + ".",
        f"- **Code:** {s.args.code}",
        f"- **Machine:** {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['memory']} RAM, "
        f"{info['os']}; Python {info['python']}, DuckDB {info['duckdb']}; load generator "
        f"{info['load client']}; load average at the start {info['load average']} "
        "(a shared, noisy machine: compare the ratios, not the absolute figures).",
        "",
        "Each figure comes with a baseline measured in the same run and the ratio figure / "
        "baseline (for throughput, below 1 means slower than the baseline). "
        "Targets marked * are stated for 10M stored events and shown at other sizes for "
        "reference only.",
        "",
        "| Benchmark | Data size | Figure | Baseline (same run) | Ratio | Target | Met | Notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in s.rows:
        cells = [r.bench, r.size, r.figure, r.baseline, r.ratio, r.target, r.met, r.note]
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    lines += ["", "## Data sets", ""]
    lines += [
        "Built by `bench/bench_query.py` (`--label-delay-h "
        f"{LABEL_DELAY_H:g} --generate-only`) through `DuckDBStore.write()` and cached under "
        "`bench/data/` (git-ignored): 30 days of history, 25 % of the events in the last 24 h, "
        "timestamps relative to the moment the set was generated (the queries and pages use "
        "ranges ending there). Labels arrive late, as feedback, for about half of the events, "
        f"each an exponentially distributed delay of mean {LABEL_DELAY_H:g} h after its event; "
        "those not yet due at the end of the data are missing.",
        "",
    ]
    for events in s.args.sizes:
        d = s.datasets.get(events, {})
        step: Step | None = d.get("step")
        title = f"**{size_label(events)}** ({events:,} events)"
        if step is None:
            lines += [f"- {title}: not built", ""]
            continue
        if step.error:
            lines += [f"- {title}: FAILED to build: {step.error}", ""]
            continue
        meta = d["meta"]
        built = dt.datetime.fromtimestamp(meta["anchor_us"] / 1e6, dt.UTC)
        how = (
            f"cached from an earlier run (data ending {built:%Y-%m-%d %H:%M} UTC, generated in "
            f"{meta['load_seconds']:.0f} s)"
            if d["cached"]
            else f"built in this run in {meta['load_seconds']:.0f} s"
            + (f" (rebuilt: {d['stale']})" if d.get("stale") else "")
        )
        lines.append(f"- {title}: {how}, `{_rel1(d['path'])}`")
        if "summary" in d:
            lines += [
                "",
                "  | Model | Task | Events | In the last 24 h | Versions | Features | Tags "
                "| Errors | Labeled (all) | Labeled (last 24 h) |",
                "  |---|---|---|---|---|---|---|---|---|---|",
            ]
            for m in d["summary"]:
                lines.append(
                    f"  | {m['model']} | {m['task']} | {m['events']:,} | {m['events_24h']:,} | "
                    f"{m['versions']} | {m['features']} | {m['tags']} | "
                    f"{100 * m['error_share']:.1f} % | {100 * m['labeled']:.1f} % | "
                    f"{100 * m['labeled_24h']:.1f} % |"
                )
        elif "summary_error" in d:
            lines.append(f"  (summary FAILED: {d['summary_error']})")
        lines.append("")
    lines += [
        "## What each benchmark measures",
        "",
        "- **Ingest** (`bench_ingest_batch.py`, `bench_ingest_single.py`): `python -m modeltower "
        "serve` on a fresh store against `bench/trivial_app.py` (reads and parses the body, "
        "nothing else) under the same uvicorn options, fed the same realistic bodies by the "
        "same load generator; every accepted event must be stored. `bench_replicas.py`: "
        "batched ingest on PostgreSQL (a throw-away cluster) through three `serve` processes "
        "on one database, the clients' requests spread round-robin over them; baseline: one "
        "process under the same load; every acknowledged event must be stored once. "
        "`bench_writer.py`: the DuckDB writer's CPU per "
        "commit in process (`DuckDBStore.write` on the calling thread), for 32 single-event "
        "requests and 4 of 1,000 events, on a fresh "
        "store and with a key set of 10M events; baseline: the same rows inserted into a plain "
        "table, one INSERT and one COMMIT.",
        "- **Query** (`bench_query.py`): the HTTP endpoints of a real server on the data set; "
        "baseline: a raw DuckDB SQL scan of the same rows with the same filter, in one process, "
        "median of the runs before the server starts and after it stops. The server's memory "
        "is `/proc/<pid>/status` VmRSS after those queries, summed over the server and the "
        "processes it started (its decode workers), and again (with VmHWM, the peak) "
        "after it has also taken 20,000 new events and 10,000 labels for them (a model of their "
        "own, so the queried numbers stay the same; each write checks its keys against every "
        "stored event); baseline: the same server started on an empty store, after a few "
        "requests.",
        "- **Query, PostgreSQL** (`bench_query_pg.py`, rows labelled *PostgreSQL:*): the same "
        "data set (same generator and seed), loaded through `PostgresStore.write()` into a "
        "throw-away PostgreSQL cluster started with the machine's binaries (shared_buffers=256MB, "
        "max_wal_size=4GB, otherwise the defaults: fsync and synchronous_commit on), cached "
        "under `bench/data/`, and the same queries against `modeltower serve --database-url`; "
        "baseline: the same raw SQL scans on that PostgreSQL database. The memory rows are the "
        "modeltower server's own (PostgreSQL's processes not included).",
        "- **Drift** (`bench_drift.py`): the drift scores of 20 features (15 numeric, 5 "
        "categorical), 500,000 current vs 500,000 reference rows, as the drift endpoint "
        "computes them; baseline: the same scores with plain scipy (`wasserstein_distance`, "
        "`jensenshannon`) on the raw arrays. `bench_drift_trend.py`: the drift trend "
        "(`/drift/timeseries`) from per-hour summaries against one exact `/drift` per bucket.",
        "- **Dashboard** (`bench_dashboard.py`): headless Chromium, fresh browser context per "
        "run, from navigation start to the page's `mt-first-render` mark (every chart drawn), on "
        f"a copy of the data set (model `{QUERY_MODEL}`, fixed ranges ending at the data set's "
        "end); baseline: the same page for a model that has no events.",
        "",
        "## Steps",
        "",
        "| Step | Seconds | Result | Log |",
        "|---|---|---|---|",
    ]
    for st in s.steps:
        res = "ok" if st.error is None else f"FAILED: {st.error}"
        lines.append(
            f"| {st.name} | {st.seconds:.0f} | {res.replace('|', '/')} | `{_rel1(st.log)}` |"
        )
    lines += [
        "",
        "Logs are kept under `bench/results/` (git-ignored) with each step's full output and JSON.",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", default="1000000,10000000", help="data set sizes, comma-separated")
    ap.add_argument("--quick", action="store_true", help="1M only, fewer repeats and windows")
    ap.add_argument("--out", type=Path, default=c.REPO / "docs" / "BENCHMARKS.md")
    ap.add_argument("--snapshot", action="store_true", help="run HEAD's src/, not the work tree")
    ap.add_argument("--skip", default="", help="benchmarks not to run: " + ",".join(BENCHES))
    ap.add_argument("--regenerate", action="store_true", help="rebuild the cached data sets")
    ap.add_argument(
        "--max-age-h",
        type=float,
        default=12.0,
        help="rebuild a cached data set older than this (default 12 h)",
    )
    args = ap.parse_args()
    args.sizes = [1_000_000] if args.quick else [int(x) for x in args.events.split(",") if x]
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    if skip - set(BENCHES):
        raise SystemExit(f"unknown --skip {sorted(skip - set(BENCHES))}; known: {BENCHES}")
    started = dt.datetime.now(dt.UTC)
    results = c.BENCH_DIR / "results" / started.strftime("%Y%m%dT%H%M%SZ")
    results.mkdir(parents=True)
    info = machine()
    sha = _git("rev-parse", "--short", "HEAD")
    with snapshot_src(args.snapshot) as src:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELTOWER_")}
        if src:
            env["BENCH_SRC"] = src
            env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
            args.code = f"git commit `{sha}` (`--snapshot`: `git archive HEAD src`)"
        else:
            dirty = _git("status", "--porcelain", "--", "src")
            args.code = f"git commit `{sha}`" + (
                " with uncommitted changes in src/ (the work tree)" if dirty else ""
            )
        s = Suite(args, env, results)
        print(f"results and logs: {_rel1(results)}; code: {args.code}")
        for events in args.sizes:
            build_dataset(s, events)
        plan: list[tuple[str, Callable[[], None]]] = [
            ("ingest_batch", lambda: bench_ingest_batch(s)),
            ("ingest_single", lambda: bench_ingest_single(s)),
            ("writer", lambda: bench_writer(s)),
            ("replicas", lambda: bench_replicas(s)),
            ("drift", lambda: bench_drift(s)),
            ("drift_trend", lambda: bench_drift_trend(s)),
        ]
        if "query" not in skip or "query_pg" not in skip:  # the memory rows' baseline
            plan.insert(0, ("rss_baseline", lambda: empty_store_rss(s)))
        for events in args.sizes:
            plan.append(("query", functools.partial(bench_query, s, events)))
            plan.append(("query_pg", functools.partial(bench_query_pg, s, events)))
            plan.append(("dashboard", functools.partial(bench_dashboard, s, events)))
        for name, fn in plan:
            if name in skip:
                if not any(r.bench.startswith(f"({name})") for r in s.rows):
                    s.rows.append(Row(f"({name})", "-", "not run (--skip)"))
                continue
            fn()
        write_report(s, args.out, info, started)
    print()
    c.print_table(
        ["benchmark", "size", "figure", "baseline", "ratio", "target", "met"],
        [[r.bench, r.size, r.figure, r.baseline, r.ratio, r.target, r.met] for r in s.rows],
    )
    print(f"\nwrote {_rel1(args.out)}; logs in {_rel1(results)}")


if __name__ == "__main__":
    main()
