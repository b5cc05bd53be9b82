"""Read queries of the DuckDB store. Each function takes a reader cursor and returns aggregates."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np

from modeltower.metrics.business import GroupOutcome
from modeltower.metrics.latency import PERCENTILES
from modeltower.metrics.regression import RegressionAggregate
from modeltower.store import class_values
from modeltower.store.base import (
    PART_BUSINESS,
    PART_CONFUSION,
    PART_QUANTILES,
    PART_REGRESSION,
    UNGROUPED,
    EventFilter,
    ModelSettings,
    ScoredRows,
    WindowAggregate,
)
from modeltower.store.rollup_plan import Ranges as Spans  # parts [lo, hi) of a window

_EPS = float(np.finfo(np.float64).eps)
_Q_NAMES = list(PERCENTILES)
_Q_LIST = "[" + ", ".join(repr(PERCENTILES[n]) for n in _Q_NAMES) + "]"


def json_path(key: str) -> str:
    """A JSON pointer selecting one top-level key, whatever characters it holds (also the empty
    key, which the ``$."key"`` form cannot name)."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def span_sql(column: str, spans: Spans) -> tuple[str, list[Any]]:
    """``column`` in one of the [lo, hi) ``spans`` (at least one)."""
    sql = " OR ".join(f"({column} >= ? AND {column} < ?)" for _ in spans)
    return f"({sql})", [x for span in spans for x in span]


def event_where(
    flt: EventFilter, prefix: str = "", spans: Spans | None = None
) -> tuple[str, list[Any]]:
    """The WHERE condition selecting ``flt``'s events (columns qualified by ``prefix``), those
    of the time ``spans`` when given (all of them inside the window)."""
    e = prefix
    in_spans, span_params = span_sql(f"{e}ts", spans or [(flt.start_us, flt.end_us)])
    where = [f"{e}model = ?", in_spans]
    params: list[Any] = [flt.model, *span_params]
    if flt.version is not None:
        where.append(f"{e}version = ?")
        params.append(flt.version)
    if flt.group is not None:
        where.append(f"{e}grp = ?")
        params.append(flt.group)
    for key, value in flt.tags:
        where.append(f"json_extract_string({e}tags, ?) = ?")
        params += [json_path(key), value]
    return " AND ".join(where), params


def _base(
    flt: EventFilter, bucket_us: int | None, spans: Spans | None = None
) -> tuple[str, list[Any]]:
    """The filtered events with feedback applied, one row per event, with its bucket index
    (counted from the window's start also when ``spans`` select a part of it)."""
    params: list[Any] = []
    if bucket_us:
        bucket = "((e.ts - ?) // ?)"
        params += [flt.start_us, bucket_us]
    else:
        bucket = "0"
    # Only the feedback of events in the time range (ev_ts is the event's ts): joining all of
    # the model's feedback would cost a scan of all its keys, also for a window of a minute.
    fb_spans, fb_params = span_sql("ev_ts", spans or [(flt.start_us, flt.end_us)])
    params += [flt.model, *fb_params]
    where, where_params = event_where(flt, "e.", spans)
    params += where_params
    sql = f"""
        SELECT {bucket} AS b, e.ts, e.prediction, e.prediction_num, e.score, e.scores,
               e.latency_ms, e.error, e.grp,
               coalesce(f.label, e.label) AS lab,
               CASE WHEN f.label IS NOT NULL THEN f.label_num ELSE e.label_num END AS labn,
               coalesce(f.converted, e.converted) AS conv,
               coalesce(f.revenue, e.revenue) AS rev
        FROM events e
        LEFT JOIN (SELECT k, label, label_num, converted, revenue FROM feedback
                   WHERE model = ? AND {fb_spans}) f
               ON f.k = e.k
        WHERE {where}
    """
    return sql, params


def _latency_base(
    flt: EventFilter, bucket_us: int | None, spans: Spans | None = None
) -> tuple[str, list[Any]]:
    """The filtered events' bucket, time and latency: what percentiles need. Feedback is not
    joined (it never changes a latency), which makes these scans several times cheaper."""
    params: list[Any] = []
    if bucket_us:
        bucket = "((e.ts - ?) // ?)"
        params += [flt.start_us, bucket_us]
    else:
        bucket = "0"
    where, where_params = event_where(flt, "e.", spans)
    return f"SELECT {bucket} AS b, e.ts, e.latency_ms FROM events e WHERE {where}", [
        *params,
        *where_params,
    ]


_REG = "labn IS NOT NULL AND prediction_num IS NOT NULL AND error IS NULL"
_CLS = "lab IS NOT NULL AND prediction IS NOT NULL AND error IS NULL"


# The columns of one result row of :func:`aggregate`; what each holds depends on its kind.
_OPS, _CONF, _BIZ = 0, 1, 2
_NULLS = ", ".join(["NULL"] * 9)


def aggregate(
    cur: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    bucket_us: int | None,
    parts: frozenset[str],
    spans: Spans | None = None,
    piece: bool = False,
) -> dict[int, WindowAggregate]:
    """Aggregates per bucket; buckets without events are absent. With ``spans`` only the events
    of those parts of the window are read (buckets still count from ``flt.start_us``). A
    ``piece`` of a larger window keeps its "(none)" business group for the caller to decide on.

    The ops sums, the confusion counts and the business sums are groupings of their own in one
    statement: a statement costs a few milliseconds of planning, and the float sums (latency,
    revenue) of a grouping must not change with the parts asked for — the snapshot job and the
    metrics API must give the same numbers (one grouping with GROUPING SETS changed them in the
    last bits). A piece's events (the partial minutes at a long window's edges) are few, so they
    are read once and kept for the groupings; a whole window is scanned by each grouping
    instead of being held in memory."""
    base, params = _base(flt, bucket_us, spans)
    quant = f"quantile_cont(latency_ms, {_Q_LIST})" if PART_QUANTILES in parts else "NULL"
    groupings = [
        f"""
        SELECT {_OPS} AS kind, b, NULL::VARCHAR, NULL::VARCHAR, count(*), count(error),
               count(latency_ms), coalesce(sum(latency_ms), 0), max(latency_ms),
               count(*) FILTER (WHERE {_CLS}),
               count(*) FILTER (WHERE {_CLS} AND lab = prediction),
               count(*) FILTER (WHERE {_REG}),
               sum(abs(labn - prediction_num)) FILTER (WHERE {_REG}),
               sum((labn - prediction_num) * (labn - prediction_num)) FILTER (WHERE {_REG}),
               sum(abs(labn - prediction_num) / greatest(abs(labn), {_EPS!r})) FILTER (WHERE {_REG}),
               avg(labn) FILTER (WHERE {_REG}),
               var_pop(labn) FILTER (WHERE {_REG}),
               {quant}
        FROM ev GROUP BY b
        """
    ]
    if PART_CONFUSION in parts:
        groupings.append(f"""
        SELECT {_CONF}, b, lab, prediction, count(*), {_NULLS}, NULL, NULL, NULL, NULL
        FROM ev WHERE {_CLS} GROUP BY b, lab, prediction
        """)
    if PART_BUSINESS in parts:
        groupings.append(f"""
        SELECT {_BIZ}, b, grp, NULL, count(*), count(*) FILTER (WHERE conv),
               count(*) FILTER (WHERE conv IS NOT NULL OR rev IS NOT NULL),
               coalesce(sum(rev), 0), {_NULLS}, NULL
        FROM ev GROUP BY b, grp
        """)
    keep = "MATERIALIZED" if piece else "NOT MATERIALIZED"
    sql = f"WITH ev AS {keep} ({base}) {' UNION ALL '.join(groupings)}"
    rows = cur.execute(sql, params).fetchall()
    out: dict[int, WindowAggregate] = {}
    for row in rows:
        if row[0] == _OPS:
            out[int(row[1])] = ops_aggregate(row, 4, parts)
    # the confusion counts of classes only (store/class_values.py)
    for _, b, key, pred, n, *_ in class_values.class_rows([r for r in rows if r[0] == _CONF], 2, 3):
        out.setdefault(int(b), WindowAggregate()).confusion[(key, pred)] = int(n)
    for kind, b, key, _, n, conv, known, rev, *_ in rows:
        if kind == _BIZ:
            agg = out.setdefault(int(b), WindowAggregate())
            if key is None:
                agg.ungrouped_known += int(known)
            name = UNGROUPED if key is None else key
            agg.business[name] = GroupOutcome(
                count=int(n), conversions=int(conv), revenue=float(rev)
            )
    if not piece:
        for agg in out.values():
            agg.drop_unknown_ungrouped()
    return out


def ops_aggregate(row: tuple[Any, ...], at: int, parts: frozenset[str]) -> WindowAggregate:
    """The aggregate of a row of raw ops sums whose 14 columns start at ``at``: count, errors,
    latency n, sum and max, labeled, matches, the five regression sums (mean and population
    variance of the label last) and the percentiles (both backends' raw reads)."""
    c = row[at : at + 14]
    reg_n = int(c[7])
    reg = None
    if reg_n and PART_REGRESSION in parts:
        reg = RegressionAggregate(
            n=reg_n,
            sum_abs_err=float(c[8]),
            sum_sq_err=float(c[9]),
            sum_ape=float(c[10]),
            mean_y=float(c[11]),
            m2_y=float(c[12]) * reg_n,
        )
    q = c[13]
    return WindowAggregate(
        count=int(c[0]),
        errors=int(c[1]),
        latency_n=int(c[2]),
        latency_sum=float(c[3]),
        latency_max=None if c[4] is None else float(c[4]),
        quantiles=None if q is None else dict(zip(_Q_NAMES, map(float, q), strict=True)),
        labeled=int(c[5]),
        matches=int(c[6]),
        regression=reg,
    )


def quantiles(
    cur: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    bucket_us: int | None,
    spans: Spans | None = None,
) -> dict[int, dict[str, float]]:
    """Exact latency percentiles per bucket (of the events of ``spans`` when given)."""
    base, params = _latency_base(flt, bucket_us, spans)
    sql = f"""
        WITH ev AS ({base})
        SELECT b, quantile_cont(latency_ms, {_Q_LIST}) FROM ev
        WHERE latency_ms IS NOT NULL GROUP BY b
    """
    return {
        int(b): dict(zip(_Q_NAMES, map(float, q), strict=True))
        for b, q in cur.execute(sql, params).fetchall()
        if q is not None
    }


def latency_bins_sql(
    flt: EventFilter, bucket_us: int | None, spans: Spans, bin_sql: str
) -> tuple[str, list[Any]]:
    """The SELECT of the latency sketch bins (``bin_sql`` of ``latency_ms``) of the raw events
    of ``spans``, (bucket, bin, n), and its parameters: a part of the caller's statement."""
    base, params = _latency_base(flt, bucket_us, spans)
    sql = f"""
        SELECT b, {bin_sql} AS bin, count(*) AS n FROM ({base}) ev
        WHERE latency_ms IS NOT NULL GROUP BY ALL
    """
    return sql, params


def rolling_quantiles(
    cur: duckdb.DuckDBPyConnection, flt: EventFilter, bucket_us: int, rolling_us: int
) -> dict[int, dict[str, float]]:
    """Exact percentiles of latency over the trailing window that ends at each bucket's end."""
    n_buckets = -(-(flt.end_us - flt.start_us) // bucket_us)
    base, params = _latency_base(flt, None, [(flt.start_us + bucket_us - rolling_us, flt.end_us)])
    sql = f"""
        WITH ev AS ({base}), bk AS (SELECT range AS bi FROM range(0, ?))
        SELECT bk.bi, quantile_cont(ev.latency_ms, {_Q_LIST})
        FROM bk JOIN ev
          ON ev.ts >= ? + (bk.bi + 1) * ? - ? AND ev.ts < ? + (bk.bi + 1) * ?
        WHERE ev.latency_ms IS NOT NULL
        GROUP BY bk.bi
    """
    args = [*params, n_buckets, flt.start_us, bucket_us, rolling_us, flt.start_us, bucket_us]
    return {
        int(bi): dict(zip(_Q_NAMES, map(float, q), strict=True))
        for bi, q in cur.execute(sql, args).fetchall()
        if q is not None
    }


def scored_rows(
    cur: duckdb.DuckDBPyConnection, flt: EventFilter, bucket_us: int | None
) -> ScoredRows:
    """Labeled events with a score or a class->probability object."""
    base, params = _base(flt, bucket_us)
    sql = f"""
        WITH ev AS ({base})
        SELECT b, lab, score, scores FROM ev
        WHERE {_CLS} AND (score IS NOT NULL OR scores IS NOT NULL)
    """
    tbl = cur.sql(sql, params=params).to_arrow_table()
    score = tbl.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    return ScoredRows(
        bucket=tbl.column("b").to_numpy(zero_copy_only=False).astype(np.int64),
        label=tbl.column("lab").to_pylist(),
        score=score,
        scores=tbl.column("scores").to_pylist(),
    )


def registry_rows(cur: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """Per (model, version): first/last seen, count and prediction kinds, plus declared models."""
    rows = cur.execute(
        """
        SELECT model, coalesce(version, ''), min(ts), max(ts), count(*),
               bool_or(prediction_num IS NOT NULL),
               bool_or(prediction IS NOT NULL AND prediction_num IS NULL)
        FROM events GROUP BY ALL
        """
    ).fetchall()
    return rows


def declared_models(cur: duckdb.DuckDBPyConnection) -> list[str]:
    """Models that have settings (they exist even before their first event)."""
    return [r[0] for r in cur.execute("SELECT model FROM models").fetchall()]


def model_settings(cur: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, ModelSettings]:
    """Declared settings of the named models."""
    if not names:
        return {}
    rows = cur.execute(
        "SELECT model, task, positive_label FROM models WHERE list_contains(?, model)", [names]
    ).fetchall()
    return {m: ModelSettings(task=t, positive_label=p) for m, t, p in rows}


def recent_counts(cur: duckdb.DuckDBPyConnection, since_us: int) -> dict[str, int]:
    """Events per model since ``since_us``."""
    rows = cur.execute(
        "SELECT model, count(*) FROM events WHERE ts >= ? GROUP BY model", [since_us]
    ).fetchall()
    return {m: int(n) for m, n in rows}


_NUMERIC_JSON = "('UBIGINT', 'BIGINT', 'DOUBLE')"


def export(cur: duckdb.DuckDBPyConnection, flt: EventFilter, fmt: str, path: str) -> int:
    """Write events (feedback applied) with one column per feature and tag, to CSV or Parquet."""
    base, params = _base(flt, None)
    base = base.replace("SELECT ", "SELECT e.id, e.version, e.features, e.tags, ", 1)
    feat_keys = _json_keys(cur, base, params, "features")
    tag_keys = _json_keys(cur, base, params, "tags")
    numeric: list[bool] = []
    if feat_keys:
        checks = ", ".join(
            f"bool_and(coalesce(json_type(features, ?) IN {_NUMERIC_JSON}, true))"
            for _ in feat_keys
        )
        row = cur.execute(
            f"WITH ev AS ({base}) SELECT {checks} FROM ev",
            [*params, *(json_path(k) for k in feat_keys)],
        ).fetchall()[0]
        numeric = [bool(x) for x in row] if row else []
    cols = [
        "id",
        "version",
        "strftime(make_timestamp(ts), '%Y-%m-%dT%H:%M:%S.%fZ') AS timestamp",
        "coalesce(CAST(prediction_num AS VARCHAR), prediction) AS prediction"
        if fmt == "csv"
        else "prediction",
        "score",
        "scores",
        "lab AS label",
        "latency_ms",
        "error",
        'grp AS "group"',
        "conv AS converted",
        "rev AS revenue",
    ]
    extra: list[Any] = []
    for key, is_num in zip(feat_keys, numeric, strict=True):
        expr = (
            "TRY_CAST(json_extract(features, ?) AS DOUBLE)"
            if is_num
            else "json_extract_string(features, ?)"
        )
        cols.append(f"{expr} AS {_ident('feature.' + key)}")
        extra.append(json_path(key))
    for key in tag_keys:
        cols.append(f"json_extract_string(tags, ?) AS {_ident('tag.' + key)}")
        extra.append(json_path(key))
    select = f"WITH ev AS ({base}) SELECT {', '.join(cols)} FROM ev ORDER BY ts, id"
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet"
    # COPY cannot bind parameters inside its query on every version, so materialise first.
    rel = cur.sql(select, params=[*params, *extra]).to_arrow_table()
    cur.register("export_rows", rel)
    try:
        cur.execute(f"COPY export_rows TO '{_literal(path)}' ({options})")
    finally:
        cur.unregister("export_rows")
    return int(rel.num_rows)


def _json_keys(
    cur: duckdb.DuckDBPyConnection, base: str, params: list[Any], column: str
) -> list[str]:
    rows = cur.execute(
        f"WITH ev AS ({base}) SELECT DISTINCT unnest(json_keys({column})) AS k FROM ev "
        f"WHERE {column} IS NOT NULL ORDER BY k",
        params,
    ).fetchall()
    return [r[0] for r in rows]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return text.replace("'", "''")
