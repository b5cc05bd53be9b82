"""Query latency on a loaded database: GET metrics (24 h) and timeseries (30 d by 1 h).

The database holds N events (default 1M; ``--events 10000000`` for 10M) of three models with
versions, 30 days of history (``--recent-share`` of them in the last 24 h, the rest uniform over the
30 days), ~1 % errors, and late labels sent as feedback for ~50 % of the events (with
``--label-delay-h H``, each label arrives an exponentially distributed delay of mean H hours
after its event, and labels not yet arrived at the end of the data are missing, as in
production). It is written directly through ``DuckDBStore.write()`` with ``InsertEvents`` /
``UpsertFeedback`` ops (loading time is reported, not measured) and cached under bench/data/
(reused on the next run; ``--generate-only`` builds it and exits).

Timestamps are relative to the moment the database was generated (its "anchor"), so the queries
pass ``end=<anchor>``: ``window=24h&end=<anchor>`` is what ``window=24h`` was at that moment, and
stays valid however old the cached file gets. Two queries also end 17.5 s before the anchor, as a
dashboard's do at almost any moment: their partial minutes and hours are read from raw events.

Baseline: a raw SQL scan on the same file with the same filter, in this process,
``SELECT count(*), avg(latency_ms) FROM events WHERE model=? AND ts>=?`` (and, for the timeseries,
the same scan grouped by hour over 30 days, and ungrouped over 30 days for ``metrics?window=30d``).
It is measured before the server starts and again after it stops (DuckDB allows one process per
file), and the ratios use the median of both.

``--json PATH`` also writes the medians, the server's memory (VmRSS and VmHWM from
/proc/<pid>/status after the HTTP queries, the server's decode worker processes included) and
the data set's metadata to PATH.

    .venv/bin/python bench/bench_query.py [--events 1000000] [--repeat 15] [--regenerate]
        [--label-delay-h 0] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import _common as c

GEN_VERSION = 1  # bump when the generated data changes
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
MODELS = {  # name: (share of events, versions)
    "churn": (0.5, ["v1", "v2", "v3"]),
    "fraud": (0.3, ["2024.1", "2024.2"]),
    "eta": (0.2, ["m1", "m2"]),
}
CHUNK = 250_000


# --------------------------------------------------------------------------------------------
# Data generation
# --------------------------------------------------------------------------------------------


def _features_json(rng: np.random.Generator, n: int) -> list[str]:
    tenure = rng.integers(0, 120, n).tolist()
    spend = np.round(rng.uniform(5, 500, n), 2).tolist()
    logins = rng.integers(0, 50, n).tolist()
    tickets = rng.integers(0, 5, n).tolist()
    session = np.round(rng.exponential(12, n), 3).tolist()
    plan = rng.choice(np.array(c.FEATURE_PLANS), n).tolist()
    country = rng.choice(np.array(c.COUNTRIES), n).tolist()
    disc = (rng.random(n) < 0.3).tolist()
    return [
        f'{{"tenure_months":{a},"monthly_spend":{b},"logins_7d":{d},"support_tickets":{e},'
        f'"avg_session_min":{f},"plan":"{g}","country":"{h}","has_discount":{"true" if i else "false"}}}'
        for a, b, d, e, f, g, h, i in zip(
            tenure, spend, logins, tickets, session, plan, country, disc, strict=True
        )
    ]


def _tags_json(rng: np.random.Generator, n: int) -> list[str]:
    region = rng.choice(np.array(c.REGIONS), n).tolist()
    channel = rng.choice(np.array(c.CHANNELS), n).tolist()
    return [f'{{"region":"{r}","channel":"{ch}"}}' for r, ch in zip(region, channel, strict=True)]


def _chunk_ops(
    rng: np.random.Generator,
    ts: np.ndarray,
    model_idx: np.ndarray,
    first_index: int,
    anchor: int = 0,
    label_delay_h: float = 0.0,
) -> tuple[Any, Any]:
    """InsertEvents and UpsertFeedback ops for one chunk of (time-sorted) events."""
    from modeltower.ingest.schema import EventColumns, FeedbackColumns, canonical

    names = list(MODELS)
    n = len(ts)
    cols = EventColumns()
    fb = FeedbackColumns()
    score = rng.beta(2, 3, n)
    correct = rng.random(n) < 0.85
    is_err = rng.random(n) < 0.01
    with_fb = (rng.random(n) < 0.5) & ~is_err
    if label_delay_h > 0:  # the label arrives later; those still due at the anchor are missing
        with_fb &= ts + rng.exponential(label_delay_h * HOUR_US, n) <= anchor
    latency = np.round(rng.lognormal(3.0, 0.5, n), 3)
    eta_pred = np.round(rng.gamma(4, 5, n), 2)
    eta_true = np.round(np.abs(eta_pred + rng.normal(0, 4, n)), 2)
    grp = rng.random(n)
    conv = rng.random(n)
    versions = [rng.choice(np.array(MODELS[m][1]), n).tolist() for m in names]
    cols.features = _features_json(rng, n)
    cols.tags = _tags_json(rng, n)
    midx = model_idx.tolist()
    for j in range(n):
        name = names[midx[j]]
        cols.model.append(name)
        eid = f"{name}-{first_index + j}"
        cols.id.append(eid)
        cols.version.append(versions[midx[j]][j])
        if is_err[j]:
            pred, pred_num, sc, label, label_num = None, None, None, None, None
        elif name == "churn":
            pred = "churn" if score[j] >= 0.5 else "stay"
            label = pred if correct[j] else ("stay" if pred == "churn" else "churn")
            pred_num, label_num, sc = None, None, float(score[j])
        elif name == "fraud":
            pred = "true" if score[j] >= 0.7 else "false"
            label = pred if correct[j] else ("false" if pred == "true" else "true")
            pred_num, label_num, sc = None, None, float(score[j])
        else:
            pred, pred_num = canonical(float(eta_pred[j]))
            label, label_num = canonical(float(eta_true[j]))
            sc = None
        cols.prediction.append(pred)
        cols.prediction_num.append(pred_num)
        cols.score.append(sc)
        cols.scores.append(None)
        cols.label.append(None)
        cols.label_num.append(None)
        cols.latency_ms.append(None if is_err[j] else float(latency[j]))
        cols.error.append("timeout" if is_err[j] else None)
        g = None
        converted = None
        if name == "churn" and grp[j] < 0.4:
            g = "treatment" if grp[j] < 0.2 else "control"
            converted = bool(conv[j] < (0.12 if g == "treatment" else 0.10))
        cols.grp.append(g)
        cols.converted.append(converted)
        cols.revenue.append(None)
        cols.input_hash.append(None)
        if with_fb[j]:
            fb.model.append(name)
            fb.id.append(eid)
            fb.label.append(label)
            fb.label_num.append(label_num)
            fb.converted.append(None)
            fb.revenue.append(None)
    cols.ts = ts.tolist()
    return cols, fb


def load(
    store: Any,
    events: int,
    recent_share: float,
    seed: int,
    label_delay_h: float = 0.0,
    writer: str = "DuckDBStore.write",
) -> dict[str, Any]:
    """Write the data set through ``store.write()`` (any open Store), in chunks of CHUNK events,
    printing progress; return its metadata (the anchor is the whole hour before now)."""
    from modeltower.store.base import InsertEvents, ModelSettings, PutModelSettings, UpsertFeedback

    rng = np.random.default_rng(seed)
    anchor = int(time.time() * 1e6) // HOUR_US * HOUR_US  # a whole hour: stable buckets
    n_recent = int(events * recent_share)
    ts = np.concatenate(
        [
            rng.integers(anchor - DAY_US, anchor, n_recent),
            rng.integers(anchor - 30 * DAY_US, anchor, events - n_recent),
        ]
    )
    ts.sort()
    shares = np.array([s for s, _ in MODELS.values()])
    model_idx = rng.choice(len(MODELS), events, p=shares / shares.sum()).astype(np.int8)
    started = time.perf_counter()
    t_gen = t_write = 0.0
    store.write(
        [
            PutModelSettings("churn", ModelSettings("classification", "churn")),
            PutModelSettings("fraud", ModelSettings("classification", "true")),
            PutModelSettings("eta", ModelSettings("regression", None)),
        ]
    )
    for lo in range(0, events, CHUNK):
        hi = min(events, lo + CHUNK)
        t0 = time.perf_counter()
        cols, fb = _chunk_ops(rng, ts[lo:hi], model_idx[lo:hi], lo, anchor, label_delay_h)
        t1 = time.perf_counter()
        store.write([InsertEvents(cols)])
        store.write([UpsertFeedback(fb)])
        t_gen += t1 - t0
        t_write += time.perf_counter() - t1
        if hi == events or (hi // CHUNK) % 8 == 0:
            print(
                f"  loaded {hi:,}/{events:,} events, {time.perf_counter() - started:.0f} s "
                f"(generate {t_gen:.0f} s, {writer} {t_write:.0f} s)",
                flush=True,
            )
    return {
        "gen_version": GEN_VERSION,
        "events": events,
        "recent_share": recent_share,
        "seed": seed,
        "label_delay_h": label_delay_h,
        "anchor_us": anchor,
        "load_seconds": round(time.perf_counter() - started, 1),
        "write_seconds": round(t_write, 1),
    }


def generate(
    path: Path, events: int, recent_share: float, seed: int, label_delay_h: float = 0.0
) -> dict[str, Any]:
    """Write the database through DuckDBStore.write(); return its metadata."""
    from modeltower.store.duckdb_store import DuckDBStore

    tmp = path.with_suffix(".tmp.duckdb")
    for p in (tmp, Path(str(tmp) + ".wal")):
        p.unlink(missing_ok=True)
    store = DuckDBStore(str(tmp))
    store.open()
    try:
        meta = load(store, events, recent_share, seed, label_delay_h)
    finally:
        store.close()
    tmp.rename(path)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return meta


def db_path(events: int, recent_share: float, seed: int, label_delay_h: float = 0.0) -> Path:
    """Where the cached database of these generator settings lives."""
    delay = f"-l{label_delay_h:g}" if label_delay_h > 0 else ""
    return c.DATA_DIR / f"query-{events}-r{recent_share:g}-s{seed}{delay}-g{GEN_VERSION}.duckdb"


def ensure_db(
    events: int, recent_share: float, seed: int, regenerate: bool, label_delay_h: float = 0.0
) -> tuple[Path, dict]:
    c.DATA_DIR.mkdir(exist_ok=True)
    path = db_path(events, recent_share, seed, label_delay_h)
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists() and not regenerate:
        meta = json.loads(meta_path.read_text())
        print(f"using cached {path} (loaded in {meta['load_seconds']} s when generated)")
        return path, meta
    print(f"generating {path} ({events:,} events) ...")
    return path, generate(path, events, recent_share, seed, label_delay_h)


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int, warmup: int) -> tuple[list[float], Any]:
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


BASE_SQL = "SELECT count(*), avg(latency_ms) FROM events WHERE model = ? AND ts >= ?"
BASE_TS_SQL = (
    "SELECT ts // 3600000000 AS h, count(*), avg(latency_ms) FROM events "
    "WHERE model = ? AND ts >= ? GROUP BY h"
)


def sql_baselines(path: Path, model: str, anchor: int, repeat: int) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        t24, row = timed(
            lambda: con.execute(BASE_SQL, [model, anchor - DAY_US]).fetchall(), repeat, 2
        )
        t30, _ = timed(
            lambda: con.execute(BASE_TS_SQL, [model, anchor - 30 * DAY_US]).fetchall(), repeat, 2
        )
        t30f, _ = timed(
            lambda: con.execute(BASE_SQL, [model, anchor - 30 * DAY_US]).fetchall(), repeat, 2
        )
    finally:
        con.close()
    return {"24h": t24, "30d_by_1h": t30, "30d": t30f, "count_24h": int(row[0][0])}


def service_times(path: Path, model: str, anchor: int, repeat: int) -> dict[str, list[float]]:
    """The same queries through QueryService in this process: no HTTP, no JSON."""
    from modeltower.store import duckdb_reads
    from modeltower.store.duckdb_store import DuckDBStore

    store = DuckDBStore(str(path))
    store.open()
    try:
        return store_times(store, duckdb_reads._base, model, anchor, repeat)
    finally:
        store.close()


def store_times(
    store: Any, base_sql: Callable[..., tuple[str, list[Any]]], model: str, anchor: int, repeat: int
) -> dict[str, list[float]]:
    """:func:`service_times` on an open store of either backend; ``base_sql(flt, None)`` is the
    backend's base CTE (events LEFT JOIN feedback) for the "sql_join" part."""
    from modeltower.metrics.score_sketch import ScoreHistogram
    from modeltower.services.queries import ALL_PARTS, Filters, QueryService
    from modeltower.services.window import Scored, window_metrics
    from modeltower.store.base import PART_CONFUSION, PART_REGRESSION, EventFilter
    from modeltower.timewindow import Window

    q = QueryService(store)
    w24 = Window(anchor - DAY_US, anchor)
    w30 = Window(anchor - 30 * DAY_US, anchor)
    w_off = Window(anchor - OFF_US - DAY_US, anchor - OFF_US)
    w30_off = Window(anchor - OFF_US - 30 * DAY_US, anchor - OFF_US)
    f = Filters()
    flt = EventFilter(model, w24.start_us, w24.end_us)
    info = q.model(model)
    drop = PART_REGRESSION if info.task == "classification" else PART_CONFUSION
    parts = frozenset(ALL_PARTS - {drop})  # what QueryService.metrics asks for
    agg = store.aggregate(flt, None, parts).get(0)

    def scores() -> Any:
        """What QueryService.metrics reads for ROC AUC and log loss: the score histograms of
        the rollups, or the raw scores of a small window."""
        hist = store.score_histograms(flt, None, agg.labeled)
        if hist is not None:
            return hist.get(0, ScoreHistogram())
        rows = store.scored_rows(flt, None)
        return Scored(rows.label, rows.score, rows.scores)

    scored = scores()
    sql, params = base_sql(flt, None)
    with store.reader() as cur:
        out = {
            "sql_join": timed(
                lambda: cur.execute(
                    f"WITH ev AS ({sql}) SELECT count(*), avg(latency_ms) FROM ev", params
                ).fetchall(),
                repeat,
                2,
            )[0],
        }
    return out | {
        "aggregate": timed(lambda: store.aggregate(flt, None, parts), repeat, 2)[0],
        "scores": timed(scores, repeat, 2)[0],
        "window_metrics": timed(
            lambda: window_metrics(
                agg,
                task=info.task,
                positive_label=info.settings.positive_label,
                span_minutes=w24.minutes,
                scored=scored if info.task == "classification" else None,
            ),
            repeat,
            2,
        )[0],
        "scored_n": [
            float(scored.total if isinstance(scored, ScoreHistogram) else len(scored.label))
        ],
        "scores_binned": [float(isinstance(scored, ScoreHistogram))],
        "metrics": timed(lambda: q.metrics(model, w24, f), repeat, 2)[0],
        "metrics_30d": timed(lambda: q.metrics(model, w30, f), repeat, 2)[0],
        "metrics_off": timed(lambda: q.metrics(model, w_off, f), repeat, 2)[0],
        "ts_rich_off": timed(
            lambda: q.timeseries(model, w30_off, f, RICH.split(","), "1h", None), repeat, 2
        )[0],
        "ts_count": timed(lambda: q.timeseries(model, w30, f, ["count"], "1h", None), repeat, 2)[0],
        "ts_rich": timed(
            lambda: q.timeseries(model, w30, f, RICH.split(","), "1h", None), repeat, 2
        )[0],
    }


RICH = "count,latency_p50,latency_p99,error_rate,accuracy,f1"
# What a dashboard asks at a moment that is not on a minute: windows whose edges (the partial
# minutes and hours at both ends) are read from raw events, not from rollups.
OFF_US = 17_500_000


def proc_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process and of the processes it
    started (the server's decode workers), in KiB: summed, so the peak is an upper bound."""
    out = {"VmRSS": 0, "VmHWM": 0}
    for p in c.process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in out:
                        out[key] += int(value.split()[0])
        except FileNotFoundError:  # exited meanwhile
            continue
    return out


def http_times(
    path: Path,
    model: str,
    anchor: int,
    repeat: int,
    wd: Path,
    memory: dict[str, Any] | None = None,
    server: c.Server | None = None,
) -> tuple[dict[str, list[float]], int]:
    """The queries over HTTP against ``python -m modeltower serve`` on ``path`` (or ``server``,
    not yet started, e.g. one on a PostgreSQL database)."""
    import httpx

    end = f"{anchor / 1e6:.6f}"
    if server is None:
        server = c.modeltower_server("httptools+uvloop", path, wd)
    out: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    server.start(timeout=900)
    if memory is not None:
        memory["start_seconds"] = time.perf_counter() - t0
        memory["after_start"] = proc_memory_kib(server.pid)
    try:
        with httpx.Client(base_url=server.url, timeout=600) as client:

            def get(url: str, params: dict[str, str]) -> Any:
                r = client.get(url, params=params)
                r.raise_for_status()
                return r.json()

            m_url = f"/v1/models/{model}/metrics"
            t_url = f"/v1/models/{model}/timeseries"
            out["metrics"], body = timed(
                lambda: get(m_url, {"window": "24h", "end": end}), repeat, 2
            )
            base = {"window": "30d", "end": end, "bucket": "1h"}
            out["ts_count"], _ = timed(lambda: get(t_url, {**base, "metrics": "count"}), repeat, 2)
            out["ts_rich"], _ = timed(lambda: get(t_url, {**base, "metrics": RICH}), repeat, 2)
            out["metrics_30d"], _ = timed(
                lambda: get(m_url, {"window": "30d", "end": end}), repeat, 2
            )
            off = {"end": f"{(anchor - OFF_US) / 1e6:.6f}"}
            out["metrics_off"], _ = timed(lambda: get(m_url, {"window": "24h", **off}), repeat, 2)
            out["ts_rich_off"], _ = timed(
                lambda: get(t_url, {**base, **off, "metrics": RICH}), repeat, 2
            )
            if memory is not None:
                memory["after_queries"] = proc_memory_kib(server.pid)
                write_probe(client, anchor)
                memory["after_writes"] = proc_memory_kib(server.pid)
                memory["probe"] = [PROBE_EVENTS, PROBE_FEEDBACK]
    finally:
        server.stop()
    return out, int(body["count"])


PROBE_EVENTS, PROBE_FEEDBACK = 20_000, 10_000


def write_probe(client: Any, anchor: int) -> None:
    """What a live server also does besides answering queries: take PROBE_EVENTS new events (in
    POSTs of 1,000, for a model of their own so that the queried numbers stay the same) and
    the labels of PROBE_FEEDBACK of them. Each write checks its keys against all stored ones."""
    run = uuid.uuid4().hex[:8]
    ts = anchor / 1e6 - 1800
    ids = [f"{run}-{i}" for i in range(PROBE_EVENTS)]
    for i in range(0, len(ids), 1000):
        body = [
            {"model": "memprobe", "id": x, "timestamp": ts, "prediction": "a", "latency_ms": 5.0}
            for x in ids[i : i + 1000]
        ]
        client.post("/v1/events", json=body).raise_for_status()
    for i in range(0, PROBE_FEEDBACK, 1000):
        body = [{"model": "memprobe", "id": x, "label": "a"} for x in ids[i : i + 1000]]
        client.post("/v1/feedback", json=body).raise_for_status()


def arg_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options both query benchmarks (DuckDB and PostgreSQL) take."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--recent-share", type=float, default=0.25, help="share in the last 24 h")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--model", default="churn", choices=list(MODELS))
    ap.add_argument("--repeat", type=int, default=15, help="timed runs per query (median)")
    ap.add_argument("--regenerate", action="store_true", help="ignore the cached database")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument(
        "--label-delay-h",
        type=float,
        default=0.0,
        help="mean label delay in hours when generating (0: every label already arrived)",
    )
    ap.add_argument("--generate-only", action="store_true", help="build the cached database, exit")
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
    return ap


def main() -> None:
    args = arg_parser(__doc__).parse_args()
    path, meta = ensure_db(
        args.events, args.recent_share, args.seed, args.regenerate, args.label_delay_h
    )
    if args.generate_only:
        return
    anchor = int(meta["anchor_us"])
    model = args.model
    memory: dict[str, Any] = {}
    with c.workdir(args.keep) as wd:
        b1 = sql_baselines(path, model, anchor, args.repeat)
        svc = service_times(path, model, anchor, args.repeat)
        http, count = http_times(path, model, anchor, args.repeat, wd, memory)
        b2 = sql_baselines(path, model, anchor, args.repeat)
    report(args, meta, str(path), b1, b2, svc, http, count, memory)


def report(
    args: argparse.Namespace,
    meta: dict[str, Any],
    db: str,
    b1: dict[str, Any],
    b2: dict[str, Any],
    svc: dict[str, list[float]],
    http: dict[str, list[float]],
    count: int,
    memory: dict[str, Any],
    backend: str = "duckdb",
    extra: dict[str, Any] | None = None,
) -> None:
    """Print the tables (figures and ratios to the baselines measured before the server started
    and after it stopped), write ``--json``; exit non-zero if the counts disagree."""
    model = args.model
    base24 = statistics.median(b1["24h"] + b2["24h"])
    base30 = statistics.median(b1["30d_by_1h"] + b2["30d_by_1h"])
    base30f = statistics.median(b1["30d"] + b2["30d"])
    med = statistics.median
    rows = [
        [
            "SQL baseline: count+avg, model, ts >= now-24h",
            med(b1["24h"] + b2["24h"]) * 1e3,
            1.0,
            "-",
        ],
        ["SQL baseline: same, 30 d, GROUP BY hour", base30 * 1e3, base30 / base24, 1.0],
        ["SQL baseline: same, 30 d", base30f * 1e3, base30f / base24, "-"],
        [
            "QueryService.metrics 24h (in process)",
            med(svc["metrics"]) * 1e3,
            med(svc["metrics"]) / base24,
            "-",
        ],
        ["GET metrics?window=24h", med(http["metrics"]) * 1e3, med(http["metrics"]) / base24, "-"],
        [
            "QueryService.metrics 30d (x SQL 30 d scan)",
            med(svc["metrics_30d"]) * 1e3,
            med(svc["metrics_30d"]) / base30f,
            "-",
        ],
        [
            "GET metrics?window=30d (x SQL 30 d scan)",
            med(http["metrics_30d"]) * 1e3,
            med(http["metrics_30d"]) / base30f,
            "-",
        ],
        [
            "QueryService.timeseries 30d/1h count",
            med(svc["ts_count"]) * 1e3,
            med(svc["ts_count"]) / base24,
            med(svc["ts_count"]) / base30,
        ],
        [
            "GET timeseries 30d/1h metrics=count",
            med(http["ts_count"]) * 1e3,
            med(http["ts_count"]) / base24,
            med(http["ts_count"]) / base30,
        ],
        [
            f"GET timeseries 30d/1h metrics={RICH}",
            med(http["ts_rich"]) * 1e3,
            med(http["ts_rich"]) / base24,
            med(http["ts_rich"]) / base30,
        ],
        [
            "QueryService.timeseries same (in process)",
            med(svc["ts_rich"]) * 1e3,
            med(svc["ts_rich"]) / base24,
            med(svc["ts_rich"]) / base30,
        ],
        [
            f"GET metrics?window=24h, end {OFF_US / 1e6:g} s off the minute",
            med(http["metrics_off"]) * 1e3,
            med(http["metrics_off"]) / base24,
            "-",
        ],
        [
            "GET timeseries 30d/1h, same metrics, end off the minute",
            med(http["ts_rich_off"]) * 1e3,
            med(http["ts_rich_off"]) / base24,
            med(http["ts_rich_off"]) / base30,
        ],
    ]
    print(
        f"\n{backend}: {meta['events']:,} events ({meta['recent_share']:g} in the last 24 h), model "
        f"{model!r}: {b1['count_24h']:,} events in the 24 h window; median of {args.repeat} "
        f"timed runs after 2 warm-up runs; modeltower code: {c.code_version()}\n"
    )
    c.print_table(["query", "median ms", "x SQL 24h scan", "x SQL hourly scan"], rows)
    print(
        f"\nwhere QueryService.metrics 24h spends its time (in process, median ms; "
        f"{int(svc['scored_n'][0]):,} scored events, "
        f"{'from the score histograms' if svc['scores_binned'][0] else 'raw'}):"
    )
    c.print_table(
        ["part", "median ms", "x SQL 24h scan"],
        [
            [
                "SQL: the base CTE (events LEFT JOIN feedback), count+avg",
                med(svc["sql_join"]) * 1e3,
                med(svc["sql_join"]) / base24,
            ],
            [
                "store.aggregate (rollups, the raw edges, percentiles)",
                med(svc["aggregate"]) * 1e3,
                med(svc["aggregate"]) / base24,
            ],
            [
                "scores for ROC AUC / log loss (histogram rollups, raw when few)",
                med(svc["scores"]) * 1e3,
                med(svc["scores"]) / base24,
            ],
            [
                "window_metrics (pure Python metric functions)",
                med(svc["window_metrics"]) * 1e3,
                med(svc["window_metrics"]) / base24,
            ],
        ],
    )
    if memory:
        after, wrote = memory["after_queries"], memory["after_writes"]
        print(
            f"\nserver memory after the queries: VmRSS {after['VmRSS'] / 1024:.0f} MiB; after "
            f"{PROBE_EVENTS:,} events and {PROBE_FEEDBACK:,} labels more: VmRSS "
            f"{wrote['VmRSS'] / 1024:.0f} MiB, VmHWM (peak) {wrote['VmHWM'] / 1024:.0f} MiB; "
            f"ready in {memory['start_seconds']:.1f} s"
        )
    ok = count == b1["count_24h"]
    if args.json:
        medians = {f"sql_{k}": med(b1[k] + b2[k]) for k in ("24h", "30d", "30d_by_1h")}
        medians |= {f"http_{k}": med(v) for k, v in http.items()}
        medians |= {f"service_{k}": med(v) for k, v in svc.items() if k != "scored_n"}
        result = {
            "backend": backend,
            **(extra or {}),
            "meta": meta,
            "db": db,
            "model": model,
            "repeat": args.repeat,
            "off_us": OFF_US,  # how far before a minute the "_off" queries' windows end
            "code": c.code_version(),
            "count_24h_sql": b1["count_24h"],
            "count_24h_http": count,
            "counts_match": ok,
            "median_seconds": medians,
            "server_memory_kib": memory,
        }
        args.json.write_text(json.dumps(result, indent=1))
    print(
        f"\nGET metrics count {count:,} {'==' if ok else '!='} SQL count {b1['count_24h']:,}; "
        f"SQL baseline median before the server {med(b1['24h']) * 1e3:.2f} ms, "
        f"after {med(b2['24h']) * 1e3:.2f} ms"
    )
    if not ok:
        raise SystemExit("metrics count does not match the raw SQL count")


if __name__ == "__main__":
    main()
