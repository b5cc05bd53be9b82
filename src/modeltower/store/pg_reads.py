"""Read queries of the PostgreSQL store (the counterpart of duckdb_reads.py).

Each function takes a connection (autocommit: every statement reads its own snapshot) and returns
the same aggregates as the DuckDB functions of the same name.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import psycopg
import pyarrow as pa

from modeltower.metrics.business import GroupOutcome
from modeltower.metrics.latency import PERCENTILES
from modeltower.store import class_values, duckdb_reads
from modeltower.store.base import (
    PART_BUSINESS,
    PART_CONFUSION,
    PART_OPS,
    PART_QUANTILES,
    PART_REGRESSION,
    EventFilter,
    ModelSettings,
    ScoredRows,
    WindowAggregate,
)

_EPS = float(np.finfo(np.float64).eps)
_Q_NAMES = list(PERCENTILES)
_Q_ARRAY = "ARRAY[" + ", ".join(repr(PERCENTILES[n]) for n in _Q_NAMES) + "]::float8[]"
UNGROUPED = duckdb_reads.UNGROUPED


def event_where(
    flt: EventFilter, prefix: str = "", start_us: int | None = None
) -> tuple[str, list[Any]]:
    """The WHERE condition selecting ``flt``'s events (columns qualified by ``prefix``)."""
    e = prefix
    where = [f"{e}model = %s", f"{e}ts >= %s::bigint", f"{e}ts < %s::bigint"]
    params: list[Any] = [flt.model, flt.start_us if start_us is None else start_us, flt.end_us]
    if flt.version is not None:
        where.append(f"{e}version = %s")
        params.append(flt.version)
    if flt.group is not None:
        where.append(f"{e}grp = %s")
        params.append(flt.group)
    for key, value in flt.tags:
        where.append(f"({e}tags::json ->> %s::text) = %s")
        params += [key, value]
    return " AND ".join(where), params


_FEEDBACK_JOIN = "LEFT JOIN feedback f ON f.model = e.model AND f.id = e.id"
# Feedback of each event found by its key (the LIMIT keeps PostgreSQL from turning the lookup
# into a join it may plan as a hash of all the model's feedback, as it did for the edges of a
# window: ~90 ms at 1M events for an hour of them, against a few for the lookups).
_FEEDBACK_PER_EVENT = """LEFT JOIN LATERAL (
            SELECT label, label_num, converted, revenue FROM feedback
            WHERE model = e.model AND id = e.id LIMIT 1) f ON true"""


def base(
    flt: EventFilter,
    bucket_us: int | None,
    start_us: int | None = None,
    extra: str = "",
    per_event: bool = False,
) -> tuple[str, list[Any]]:
    """The filtered events with feedback applied, one row per event, with its bucket index;
    ``per_event`` looks each event's feedback up by key (for a few events: a window's edges)."""
    params: list[Any] = []
    if bucket_us:
        bucket = "((e.ts - %s::bigint) / %s::bigint)"
        params += [flt.start_us, bucket_us]
    else:
        bucket = "0::bigint"
    where, where_params = event_where(flt, "e.", start_us)
    params += where_params
    sql = f"""
        SELECT {extra}{bucket} AS b, e.ts, e.prediction, e.prediction_num, e.score, e.scores,
               e.latency_ms, e.error, e.grp,
               coalesce(f.label, e.label) AS lab,
               CASE WHEN f.label IS NOT NULL THEN f.label_num ELSE e.label_num END AS labn,
               coalesce(f.converted, e.converted) AS conv,
               coalesce(f.revenue, e.revenue) AS rev
        FROM events e
        {_FEEDBACK_PER_EVENT if per_event else _FEEDBACK_JOIN}
        WHERE {where}
    """
    return sql, params


REG = "labn IS NOT NULL AND prediction_num IS NOT NULL AND error IS NULL"
CLS = "lab IS NOT NULL AND prediction IS NOT NULL AND error IS NULL"
# The (lab, prediction) groups the confusion counts keep (store/class_values.py): the writer
# leaves the others out of its upserts.
CLASSES = class_values.pg_classes()


def latency_base(
    flt: EventFilter, bucket_us: int | None, start_us: int | None = None
) -> tuple[str, list[Any]]:
    """The filtered events' bucket, time and latency: what percentiles need (feedback never
    changes a latency, so it is not joined)."""
    params: list[Any] = []
    if bucket_us:
        bucket = "((e.ts - %s::bigint) / %s::bigint)"
        params += [flt.start_us, bucket_us]
    else:
        bucket = "0::bigint"
    where, where_params = event_where(flt, "e.", start_us)
    sql = f"SELECT {bucket} AS b, e.ts, e.latency_ms FROM events e WHERE {where}"
    return sql, [*params, *where_params]


def quantiles(
    con: psycopg.Connection, flt: EventFilter, bucket_us: int | None
) -> dict[int, dict[str, float]]:
    """Exact latency percentiles per bucket."""
    sql_base, params = latency_base(flt, bucket_us)
    sql = f"""
        WITH ev AS ({sql_base})
        SELECT b, percentile_cont({_Q_ARRAY}) WITHIN GROUP (ORDER BY latency_ms) FROM ev
        WHERE latency_ms IS NOT NULL GROUP BY b
    """
    return {
        int(b): dict(zip(_Q_NAMES, map(float, q), strict=True))
        for b, q in con.execute(sql, params).fetchall()
        if q is not None
    }


def aggregate(
    con: psycopg.Connection,
    flt: EventFilter,
    bucket_us: int | None,
    parts: frozenset[str],
    start_us: int | None = None,
    piece: bool = False,
) -> dict[int, WindowAggregate]:
    """Aggregates per bucket; buckets without events are absent. With ``start_us`` only events
    from then on are read (buckets still count from ``flt.start_us``). A ``piece`` of a larger
    window (its edges) keeps its "(none)" business group for the caller to decide on, and looks
    the feedback of its few events up by key."""
    sql_base, params = base(flt, bucket_us, start_us, per_event=piece)
    out: dict[int, WindowAggregate] = {}
    if PART_OPS in parts or PART_QUANTILES in parts or PART_REGRESSION in parts:
        quant = (
            f", percentile_cont({_Q_ARRAY}) WITHIN GROUP (ORDER BY latency_ms)"
            if PART_QUANTILES in parts
            else ", NULL"
        )
        sql = f"""
            WITH ev AS ({sql_base})
            SELECT b, count(*), count(error), count(latency_ms), coalesce(sum(latency_ms), 0),
                   max(latency_ms),
                   count(*) FILTER (WHERE {CLS}),
                   count(*) FILTER (WHERE {CLS} AND lab = prediction),
                   count(*) FILTER (WHERE {REG}),
                   sum(abs(labn - prediction_num)) FILTER (WHERE {REG}),
                   sum((labn - prediction_num) * (labn - prediction_num)) FILTER (WHERE {REG}),
                   sum(abs(labn - prediction_num) / greatest(abs(labn), {_EPS!r}))
                       FILTER (WHERE {REG}),
                   avg(labn) FILTER (WHERE {REG}),
                   var_pop(labn) FILTER (WHERE {REG})
                   {quant}
            FROM ev GROUP BY b
        """
        for row in con.execute(sql, params).fetchall():
            out[int(row[0])] = duckdb_reads.ops_aggregate(row, 1, parts)
    if PART_CONFUSION in parts:
        sql = f"""
            WITH ev AS ({sql_base})
            SELECT b, lab, prediction, count(*) FROM ev WHERE {CLS} GROUP BY b, lab, prediction
        """
        # the confusion counts of classes only (store/class_values.py)
        for b, lab, pred, n in class_values.class_rows(con.execute(sql, params).fetchall(), 1, 2):
            out.setdefault(int(b), WindowAggregate()).confusion[(lab, pred)] = int(n)
    if PART_BUSINESS in parts:
        sql = f"""
            WITH ev AS ({sql_base})
            SELECT b, grp, count(*), count(*) FILTER (WHERE conv), coalesce(sum(rev), 0),
                   count(*) FILTER (WHERE conv IS NOT NULL OR rev IS NOT NULL)
            FROM ev GROUP BY b, grp
        """
        for b, grp, n, conv, rev, known in con.execute(sql, params).fetchall():
            agg = out.setdefault(int(b), WindowAggregate())
            if grp is None:
                agg.ungrouped_known += int(known)
            name = UNGROUPED if grp is None else grp
            agg.business[name] = GroupOutcome(
                count=int(n), conversions=int(conv), revenue=float(rev)
            )
    if not piece:
        for agg in out.values():
            agg.drop_unknown_ungrouped()
    return out


def rolling_quantiles(
    con: psycopg.Connection, flt: EventFilter, bucket_us: int, rolling_us: int
) -> dict[int, dict[str, float]]:
    """Exact percentiles of latency over the trailing window that ends at each bucket's end."""
    n_buckets = -(-(flt.end_us - flt.start_us) // bucket_us)
    sql_base, params = latency_base(flt, None, start_us=flt.start_us + bucket_us - rolling_us)
    sql = f"""
        WITH ev AS ({sql_base}),
             bk AS (SELECT bi FROM generate_series(0::bigint, %s::bigint - 1) AS bi)
        SELECT bk.bi, percentile_cont({_Q_ARRAY}) WITHIN GROUP (ORDER BY ev.latency_ms)
        FROM bk JOIN ev
          ON ev.ts >= %s::bigint + (bk.bi + 1) * %s::bigint - %s::bigint
         AND ev.ts < %s::bigint + (bk.bi + 1) * %s::bigint
        WHERE ev.latency_ms IS NOT NULL
        GROUP BY bk.bi
    """
    args = [*params, n_buckets, flt.start_us, bucket_us, rolling_us, flt.start_us, bucket_us]
    return {
        int(bi): dict(zip(_Q_NAMES, map(float, q), strict=True))
        for bi, q in con.execute(sql, args).fetchall()
        if q is not None
    }


def scored_rows(con: psycopg.Connection, flt: EventFilter, bucket_us: int | None) -> ScoredRows:
    """Labeled events with a score or a class->probability object."""
    sql_base, params = base(flt, bucket_us)
    sql = f"""
        WITH ev AS ({sql_base})
        SELECT b, lab, score, scores FROM ev
        WHERE {CLS} AND (score IS NOT NULL OR scores IS NOT NULL)
    """
    rows = con.execute(sql, params).fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return ScoredRows(
        bucket=np.array(cols[0], dtype=np.int64),
        label=list(cols[1]),
        score=np.array(cols[2], dtype=np.float64),
        scores=list(cols[3]),
    )


def registry_rows(con: psycopg.Connection, after_seq: int) -> list[tuple[Any, ...]]:
    """Per (model, version) of the events with seq > ``after_seq``: first/last seen, count,
    prediction kinds and the largest seq."""
    return con.execute(
        """
        SELECT model, coalesce(version, ''), min(ts), max(ts), count(*),
               bool_or(prediction_num IS NOT NULL),
               bool_or(prediction IS NOT NULL AND prediction_num IS NULL),
               max(seq)
        FROM events WHERE seq > %s::bigint GROUP BY 1, 2
        """,
        [after_seq],
    ).fetchall()


def declared_models(con: psycopg.Connection) -> list[str]:
    """Models that have settings (they exist even before their first event)."""
    return [r[0] for r in con.execute("SELECT model FROM models").fetchall()]


def model_settings(con: psycopg.Connection, names: list[str]) -> dict[str, ModelSettings]:
    """Declared settings of the named models."""
    if not names:
        return {}
    rows = con.execute(
        "SELECT model, task, positive_label FROM models WHERE model = ANY(%s::text[])", [names]
    ).fetchall()
    return {m: ModelSettings(task=t, positive_label=p) for m, t, p in rows}


def recent_counts(con: psycopg.Connection, since_us: int) -> dict[str, int]:
    """Events per model since ``since_us``."""
    rows = con.execute(
        "SELECT model, count(*) FROM events WHERE ts >= %s::bigint GROUP BY model", [since_us]
    ).fetchall()
    return {m: int(n) for m, n in rows}


_EXPORT_SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("id", pa.string()),
        ("version", pa.string()),
        ("ts", pa.int64()),
        ("prediction", pa.string()),
        ("prediction_num", pa.float64()),
        ("score", pa.float64()),
        ("scores", pa.string()),
        ("label", pa.string()),
        ("label_num", pa.float64()),
        ("latency_ms", pa.float64()),
        ("error", pa.string()),
        ("features", pa.string()),
        ("tags", pa.string()),
        ("grp", pa.string()),
        ("converted", pa.bool_()),
        ("revenue", pa.float64()),
    ]
)


def export(con: psycopg.Connection, flt: EventFilter, fmt: str, path: str) -> int:
    """Write events (feedback applied) to CSV or Parquet, byte for byte as the DuckDB store does:
    the filtered events are read here and written by the same code, in an in-memory DuckDB."""
    where, params = event_where(flt, "e.")
    rows = con.execute(
        f"""
        SELECT e.model, e.id, e.version, e.ts, e.prediction, e.prediction_num, e.score, e.scores,
               coalesce(f.label, e.label),
               CASE WHEN f.label IS NOT NULL THEN f.label_num ELSE e.label_num END,
               e.latency_ms, e.error, e.features, e.tags, e.grp,
               coalesce(f.converted, e.converted), coalesce(f.revenue, e.revenue)
        FROM events e LEFT JOIN feedback f ON f.model = e.model AND f.id = e.id
        WHERE {where}
        """,
        params,
    ).fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in _EXPORT_SCHEMA]
    table = pa.table(
        {f.name: pa.array(list(c), f.type) for f, c in zip(_EXPORT_SCHEMA, columns, strict=True)},
        schema=_EXPORT_SCHEMA,
    )
    mem = duckdb.connect()
    try:
        mem.register("pg_rows", table)
        mem.execute(
            "CREATE TABLE events AS SELECT md5_number(model || chr(0) || id) AS k, * FROM pg_rows"
        )
        mem.unregister("pg_rows")
        mem.execute(
            "CREATE TABLE feedback (k UHUGEINT, model VARCHAR, label VARCHAR, label_num DOUBLE, "
            "converted BOOLEAN, revenue DOUBLE, ev_ts BIGINT)"
        )
        return duckdb_reads.export(mem, flt, fmt, path)
    finally:
        mem.close()
