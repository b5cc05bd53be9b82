"""SQL of health snapshots, the daily health table and the Prometheus counters (DuckDB store)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import duckdb

from modeltower.store.base import DailyHealth, EventFilter, HealthSnapshot, OpsCounts
from modeltower.store.duckdb_reads import _CLS, _base

# Column order of the snapshots table is the field order of HealthSnapshot.
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
    f"VALUES ({', '.join('?' for _ in _SNAPSHOT_COLUMNS)})"
)


def insert_snapshots(con: duckdb.DuckDBPyConnection, snaps: Sequence[HealthSnapshot]) -> int:
    """Store snapshots (inside the writer's transaction); return how many."""
    rows = [[getattr(s, name) for name in _SNAPSHOT_FIELDS] for s in snaps]
    if rows:
        con.executemany(_INSERT_SNAPSHOT, rows)
    return len(rows)


def snapshots(
    cur: duckdb.DuckDBPyConnection, model: str, start_us: int, end_us: int, version: str | None
) -> list[HealthSnapshot]:
    """Snapshots of ``model`` whose window ends in [start_us, end_us), oldest first."""
    where = ["model = ?", "window_end >= ?", "window_end < ?"]
    params: list[Any] = [model, start_us, end_us]
    if version is not None:
        where.append("version = ?")
        params.append(version)
    rows = cur.execute(
        f"SELECT {', '.join(_SNAPSHOT_COLUMNS)} FROM snapshots WHERE {' AND '.join(where)} "
        "ORDER BY window_end, created_at, version NULLS FIRST",
        params,
    ).fetchall()
    return [HealthSnapshot(*row) for row in rows]


def daily_health(cur: duckdb.DuckDBPyConnection, flt: EventFilter) -> list[DailyHealth]:
    """The daily health table: per UTC date and version, over events with feedback applied."""
    base, params = _base(flt, None)
    # _base selects what every metric needs; the daily table also groups by version.
    base = base.replace("SELECT ", "SELECT e.version, ", 1)
    sql = f"""
        WITH ev AS ({base})
        SELECT CAST(make_timestamp(ts) AS DATE) AS day, version,
               count(*) FILTER (WHERE {_CLS}),
               count(*) FILTER (WHERE {_CLS} AND lab = prediction),
               avg(latency_ms), quantile_cont(latency_ms, 0.99), count(*), sum(rev)
        FROM ev GROUP BY ALL ORDER BY day, version NULLS FIRST
    """
    out = []
    for day, version, labeled, matches, avg_lat, p99, n, rev in cur.execute(sql, params).fetchall():
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


def last_seq(cur: duckdb.DuckDBPyConnection) -> int:
    """The newest event's ``seq`` (0 when there is none)."""
    row = cur.execute("SELECT coalesce(max(seq), 0) FROM events").fetchall()[0]
    return int(row[0]) if row else 0


def ops_counts_since(
    cur: duckdb.DuckDBPyConnection, seq: int, latency_bounds_ms: tuple[float, ...]
) -> tuple[int, list[OpsCounts]]:
    """Per (model, version) counts of the events stored after ``seq``, and the largest seq seen.

    ``seq`` grows in commit order (one writer), so ``seq > last`` reads exactly the events
    committed since the previous call, each once, and skips old row groups by their min/max.
    """
    buckets = "".join(", count(*) FILTER (WHERE latency_ms <= ?)" for _ in latency_bounds_ms)
    sql = f"""
        SELECT model, version, count(*), count(error), count(latency_ms),
               coalesce(sum(latency_ms), 0), max(seq) {buckets}
        FROM events WHERE seq > ? GROUP BY model, version
    """
    rows = cur.execute(sql, [*latency_bounds_ms, seq]).fetchall()
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
