"""SQL of health snapshots, the daily health table and the Prometheus counters (PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import psycopg

from modeltower.store.base import DailyHealth, EventFilter, HealthSnapshot, OpsCounts
from modeltower.store.pg_reads import CLS, base

_SNAPSHOT_FIELDS = [f.name for f in dataclasses.fields(HealthSnapshot)]
_SNAPSHOT_COLUMNS = [
    {
        "window_start_us": "window_start",
        "window_end_us": "window_end",
        "created_us": "created_at",
    }.get(name, name)
    for name in _SNAPSHOT_FIELDS
]
_INSERT_SNAPSHOT = (
    f"INSERT INTO snapshots ({', '.join(_SNAPSHOT_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in _SNAPSHOT_COLUMNS)})"
)
_DAY_US = 86_400_000_000


def insert_snapshots(con: psycopg.Connection, snaps: Sequence[HealthSnapshot]) -> int:
    """Store snapshots (inside the writer's transaction); return how many."""
    rows = [[getattr(s, name) for name in _SNAPSHOT_FIELDS] for s in snaps]
    if rows:
        con.cursor().executemany(_INSERT_SNAPSHOT, rows)
    return len(rows)


def snapshots(
    con: psycopg.Connection, model: str, start_us: int, end_us: int, version: str | None
) -> list[HealthSnapshot]:
    """Snapshots of ``model`` whose window ends in [start_us, end_us), oldest first."""
    where = ["model = %s", "window_end >= %s::bigint", "window_end < %s::bigint"]
    params: list[Any] = [model, start_us, end_us]
    if version is not None:
        where.append("version = %s")
        params.append(version)
    rows = con.execute(
        f"SELECT {', '.join(_SNAPSHOT_COLUMNS)} FROM snapshots WHERE {' AND '.join(where)} "
        "ORDER BY window_end, created_at, version NULLS FIRST",
        params,
    ).fetchall()
    return [HealthSnapshot(*row) for row in rows]


def daily_health(con: psycopg.Connection, flt: EventFilter) -> list[DailyHealth]:
    """The daily health table: per UTC date and version, over events with feedback applied."""
    sql_base, params = base(flt, None, extra="e.version, ")
    sql = f"""
        WITH ev AS ({sql_base})
        SELECT date '1970-01-01' + (div(ts, {_DAY_US}))::integer AS day, version,
               count(*) FILTER (WHERE {CLS}),
               count(*) FILTER (WHERE {CLS} AND lab = prediction),
               avg(latency_ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms),
               count(*), sum(rev)
        FROM ev GROUP BY 1, 2 ORDER BY day, version NULLS FIRST
    """
    out = []
    for day, version, labeled, matches, avg_lat, p99, n, rev in con.execute(sql, params):
        out.append(
            DailyHealth(
                event_date=day,
                model_version=version,
                daily_accuracy=matches / labeled if labeled else None,
                avg_latency_ms=None if avg_lat is None else float(avg_lat),
                p99_latency_ms=None if p99 is None else float(p99),
                daily_prediction_volume=int(n),
                daily_revenue=None if rev is None else float(rev),
            )
        )
    return out


def last_seq(con: psycopg.Connection) -> int:
    """The newest event's ``seq`` (0 when there is none)."""
    row = con.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
    return int(row[0]) if row else 0


def ops_counts_since(
    con: psycopg.Connection, seq: int, latency_bounds_ms: tuple[float, ...]
) -> tuple[int, list[OpsCounts]]:
    """Per (model, version) counts of the events stored after ``seq``, and the largest seq seen.

    Writers commit one at a time, each numbering its events after the newest committed one
    (see pg_store), so ``seq > last`` reads exactly the events committed since the previous
    call, each once."""
    buckets = "".join(
        ", count(*) FILTER (WHERE latency_ms <= %s::float8)" for _ in latency_bounds_ms
    )
    sql = f"""
        SELECT model, version, count(*), count(error), count(latency_ms),
               coalesce(sum(latency_ms), 0), max(seq) {buckets}
        FROM events WHERE seq > %s::bigint GROUP BY model, version
    """
    rows = con.execute(sql, [*latency_bounds_ms, seq]).fetchall()
    new_seq = seq
    out = []
    for model, version, n, errors, lat_n, lat_sum, max_seq, *le in rows:
        new_seq = max(new_seq, int(max_seq))
        out.append(
            OpsCounts(
                model=model,
                version=version,
                count=int(n),
                errors=int(errors),
                latency_count=int(lat_n),
                latency_sum_ms=float(lat_sum),
                latency_le=[int(x) for x in le],
            )
        )
    return new_seq, out
