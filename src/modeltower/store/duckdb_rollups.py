"""Rollups of the DuckDB store, kept up to date in the writer's transaction.

Per (model, version, group) and minute, and again per hour, the rollups hold what
:class:`WindowAggregate` is made of — counts, error and latency sums, classification matches
and a confusion table, regression error power sums, conversions and revenue; per hour a
DDSketch of latency (store/latency_sketch.py); per hour and per day the score histograms of
store/duckdb_scores.py. Long windows read the coarsest level that fits (store/rollup_plan.py)
and raw events only for the partial minutes at their edges.

One mechanism keeps them right: :meth:`Updater.add` adds (or with ``sign=-1`` subtracts) the
contributions of a set of events, with their feedback applied. Inserted events are added once;
feedback subtracts its events' contributions before it is applied and adds them after, so a late
label moves its event between the cells of the event's own minute, hour and day.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np

from modeltower.metrics.score_sketch import ScoreHistogram
from modeltower.store import duckdb_reads, duckdb_scores, rollup_plan
from modeltower.store.base import (
    PART_BUSINESS,
    PART_CONFUSION,
    PART_QUANTILES,
    EventFilter,
    WindowAggregate,
)
from modeltower.store.latency_sketch import (
    LN_GAMMA,
    SKETCH_ALPHA,
    ZERO_BIN,
    Bins,
    as_bins,
    bins_of_rows,
    sketch_quantiles,
)
from modeltower.store.rollup_plan import (
    DAY_US,
    HOUR_US,
    MERGED_OPS,
    MINUTE_US,
    NONE_KEY,
    Policy,
    Ranges,
    decode,
    hour_span,
    levels,
    split,
    until,
)

__all__ = ["SKETCH_ALPHA", "Policy", "score_histograms", "split", "window_aggregate"]
_EPS = float(np.finfo(np.float64).eps)

_OPS_COLUMNS = """
    model VARCHAR NOT NULL, version VARCHAR NOT NULL, grp VARCHAR NOT NULL, minute BIGINT NOT NULL,
    n BIGINT NOT NULL, errors BIGINT NOT NULL,
    lat_n BIGINT NOT NULL, lat_sum DOUBLE NOT NULL, lat_max DOUBLE,
    cls_n BIGINT NOT NULL, cls_match BIGINT NOT NULL,
    reg_n BIGINT NOT NULL, reg_abs DOUBLE NOT NULL, reg_sq DOUBLE NOT NULL,
    reg_ape DOUBLE NOT NULL, reg_y DOUBLE NOT NULL, reg_y2 DOUBLE NOT NULL,
    conv_n BIGINT NOT NULL, conv_known BIGINT NOT NULL, rev_sum DOUBLE NOT NULL,
    rev_known BIGINT NOT NULL,
    PRIMARY KEY (model, version, grp, minute)
"""
_CONFUSION_COLUMNS = """
    model VARCHAR NOT NULL, version VARCHAR NOT NULL, grp VARCHAR NOT NULL, minute BIGINT NOT NULL,
    lab VARCHAR NOT NULL, pred VARCHAR NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (model, version, grp, minute, lab, pred)
"""
SCHEMA = f"""
CREATE TABLE rollup_minute ({_OPS_COLUMNS});
CREATE TABLE rollup_confusion ({_CONFUSION_COLUMNS});
CREATE TABLE rollup_latency (
    model VARCHAR NOT NULL, version VARCHAR NOT NULL, grp VARCHAR NOT NULL, minute BIGINT NOT NULL,
    bin INTEGER NOT NULL, n BIGINT NOT NULL,  -- "minute" is the hour's start here
    PRIMARY KEY (model, version, grp, minute, bin)
);
"""
# Schema version 7: the same per hour ("minute" is the hour's start), so that windows of days
# and months read one row per hour instead of sixty.
SCHEMA_HOURS = f"""
CREATE TABLE rollup_hour ({_OPS_COLUMNS});
CREATE TABLE rollup_hour_confusion ({_CONFUSION_COLUMNS});
"""
# (unit, ops table, confusion table), finest first
LEVELS = (
    (MINUTE_US, "rollup_minute", "rollup_confusion"),
    (HOUR_US, "rollup_hour", "rollup_hour_confusion"),
)


def _key(unit_us: int) -> str:
    """The key columns of a rollup row: model, version, group and the unit's start."""
    return (
        f"e.model, coalesce(e.version, '{NONE_KEY}'), coalesce(e.grp, '{NONE_KEY}'), "
        f"e.ts // {unit_us} * {unit_us}"
    )


# The sketches are kept per hour: per minute they would hold nearly a row per event.
_HOUR_KEY = _key(HOUR_US)
_CLS = "lab IS NOT NULL AND prediction IS NOT NULL AND error IS NULL"
_REG = "labn IS NOT NULL AND prediction_num IS NOT NULL AND error IS NULL"
BIN_SQL = (
    f"CASE WHEN latency_ms > 0 THEN greatest(ceil(ln(latency_ms) / {LN_GAMMA!r}), {ZERO_BIN + 1})"
    f"::INTEGER ELSE {ZERO_BIN} END"
)


def _effective(source: str, feedback: bool = True) -> str:
    """Rows of ``source`` (event columns, with ``k``) with their feedback applied (``feedback``
    False: the caller knows none of them has any, and the join is skipped)."""
    if not feedback:
        return f"""
            SELECT model, version, grp, ts, prediction, prediction_num, latency_ms, error,
                   score, scores, label AS lab, label_num AS labn, converted AS conv, revenue AS rev
            FROM ({source}) e
        """
    return f"""
        SELECT e.model, e.version, e.grp, e.ts, e.prediction, e.prediction_num, e.latency_ms,
               e.error, e.score, e.scores,
               coalesce(f.label, e.label) AS lab,
               CASE WHEN f.label IS NOT NULL THEN f.label_num ELSE e.label_num END AS labn,
               coalesce(f.converted, e.converted) AS conv,
               coalesce(f.revenue, e.revenue) AS rev
        FROM ({source}) e LEFT JOIN feedback f ON f.k = e.k
    """


def _ops_sql(ev: str, s: int, key: str, table: str) -> str:
    return f"""
        INSERT INTO {table}
        SELECT {key}, {s} * count(*), {s} * count(error), {s} * count(latency_ms),
               {s} * coalesce(sum(latency_ms), 0), {"max(latency_ms)" if s > 0 else "NULL"},
               {s} * count(*) FILTER (WHERE {_CLS}),
               {s} * count(*) FILTER (WHERE {_CLS} AND lab = prediction),
               {s} * count(*) FILTER (WHERE {_REG}),
               {s} * coalesce(sum(abs(labn - prediction_num)) FILTER (WHERE {_REG}), 0),
               {s} * coalesce(sum((labn - prediction_num) * (labn - prediction_num)) FILTER (WHERE {_REG}), 0),
               {s} * coalesce(sum(abs(labn - prediction_num) / greatest(abs(labn), {_EPS!r}))
                              FILTER (WHERE {_REG}), 0),
               {s} * coalesce(sum(labn) FILTER (WHERE {_REG}), 0),
               {s} * coalesce(sum(labn * labn) FILTER (WHERE {_REG}), 0),
               {s} * count(*) FILTER (WHERE conv), {s} * count(conv),
               {s} * coalesce(sum(rev), 0), {s} * count(rev)
        FROM ({ev}) e GROUP BY ALL
        ON CONFLICT DO UPDATE SET
            n = n + excluded.n, errors = errors + excluded.errors,
            lat_n = lat_n + excluded.lat_n, lat_sum = lat_sum + excluded.lat_sum,
            lat_max = greatest(lat_max, excluded.lat_max),
            cls_n = cls_n + excluded.cls_n, cls_match = cls_match + excluded.cls_match,
            reg_n = reg_n + excluded.reg_n, reg_abs = reg_abs + excluded.reg_abs,
            reg_sq = reg_sq + excluded.reg_sq, reg_ape = reg_ape + excluded.reg_ape,
            reg_y = reg_y + excluded.reg_y, reg_y2 = reg_y2 + excluded.reg_y2,
            conv_n = conv_n + excluded.conv_n, conv_known = conv_known + excluded.conv_known,
            rev_sum = rev_sum + excluded.rev_sum, rev_known = rev_known + excluded.rev_known
    """


def _confusion_sql(ev: str, s: int, key: str, table: str) -> str:
    return f"""
        INSERT INTO {table}
        SELECT {key}, lab, prediction, {s} * count(*) FROM ({ev}) e WHERE {_CLS} GROUP BY ALL
        ON CONFLICT DO UPDATE SET n = n + excluded.n
    """


def add_sql(
    source: str, sign: int, sketch: bool, feedback: bool = True, current: bool = True
) -> list[str]:
    """The statements adding ``sign`` times the contributions of the events selected by
    ``source`` (a SELECT of event columns including ``k``) to the rollups; ``sketch`` adds their
    latencies to the sketch too (new events only: feedback never changes a latency). ``current``
    False writes only the tables of schema version 5 (its migration)."""
    # The events with their feedback applied are read once, for every table.
    ev = "SELECT * FROM rollup_batch"
    s = int(sign)
    out = [f"{_CREATE_BATCH} {_effective(source, feedback)}"]
    for unit, ops, confusion in LEVELS if current else LEVELS[:1]:
        out += [_ops_sql(ev, s, _key(unit), ops), _confusion_sql(ev, s, _key(unit), confusion)]
    if current:  # the score histograms move with late labels too (their rows are per label)
        out.append(duckdb_scores.add_sql(ev, s, _HOUR_KEY, _CLS, "rollup_score"))
        out.append(duckdb_scores.add_sql(ev, s, _key(DAY_US), _CLS, "rollup_score_day"))
    if sketch:
        out.append(
            f"""
            INSERT INTO rollup_latency
            SELECT {_HOUR_KEY}, {BIN_SQL}, count(*) FROM ({ev}) e
            WHERE latency_ms IS NOT NULL GROUP BY ALL
            ON CONFLICT DO UPDATE SET n = n + excluded.n
            """
        )
    out.append("DROP TABLE rollup_batch")
    return out


def version_7_sql() -> str:
    """Schema version 7: hourly rollups built from the minutes, and the score histograms (per
    hour and per day) of every stored event, feedback applied."""
    ev = _effective("SELECT * FROM events")
    hour = f"model, version, grp, minute // {HOUR_US} * {HOUR_US}"
    return ";\n".join(
        [
            SCHEMA_HOURS,
            f"INSERT INTO rollup_hour SELECT {hour}, {MERGED_OPS} FROM rollup_minute GROUP BY ALL",
            f"INSERT INTO rollup_hour_confusion SELECT {hour}, lab, pred, sum(n) "
            "FROM rollup_confusion GROUP BY ALL",
            duckdb_scores.SCHEMA,
            duckdb_scores.add_sql(ev, 1, _HOUR_KEY, _CLS, "rollup_score"),
            duckdb_scores.add_sql(ev, 1, _key(DAY_US), _CLS, "rollup_score_day"),
        ]
    )


class Updater:
    """Applies :func:`add_sql` in the writer's transaction through prepared statements.

    DuckDB parses, binds and plans every statement it is given, and for the rollup upserts that
    costs more than running them on a batch; so each one is prepared once per connection and
    then executed. The batch table lives as long as the connection (it is emptied after each
    use; created again when a rolled-back transaction took it away).
    """

    def __init__(self) -> None:
        self._con: duckdb.DuckDBPyConnection | None = None
        self._names: dict[str, str] = {}

    def add(
        self,
        con: duckdb.DuckDBPyConnection,
        source: str,
        sign: int,
        sketch: bool,
        feedback: bool = True,
    ) -> None:
        """Add ``sign`` times the contributions of the events ``source`` selects."""
        if con is not self._con:  # a new (or reopened) connection: nothing is prepared on it
            self._con, self._names = con, {}
        create, *statements, _drop = add_sql(source, sign, sketch, feedback)
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS rollup_batch AS {_BATCH_SHAPE} LIMIT 0")
        con.execute(create.replace(_CREATE_BATCH, "INSERT INTO rollup_batch", 1))
        for sql in statements:
            name = self._names.get(sql)
            if name is None:
                name = self._names[sql] = f"rollup_{len(self._names)}"
                con.execute(f"PREPARE {name} AS {sql}")
            con.execute(f"EXECUTE {name}")
        con.execute("DELETE FROM rollup_batch")


_CREATE_BATCH = "CREATE OR REPLACE TEMP TABLE rollup_batch AS"
_BATCH_SHAPE = _effective("SELECT * FROM events", feedback=False)


# ---- reads ------------------------------------------------------------------------------------
def _where(flt: EventFilter, ranges: Ranges) -> tuple[str, list[Any]]:
    """The rows of ``flt``'s model, version and group whose unit starts in one of ``ranges``."""
    spans = " OR ".join("(minute >= ? AND minute < ?)" for _ in ranges)
    where = ["model = ?", f"({spans})"]
    params: list[Any] = [flt.model, *(x for r in ranges for x in r)]
    if flt.version is not None:
        where.append("version = ?")
        params.append(flt.version)
    if flt.group is not None:
        where.append("grp = ?")
        params.append(flt.group)
    return " AND ".join(where), params


def _bucket(flt: EventFilter, bucket_us: int | None) -> str:
    return f"((minute - {int(flt.start_us)}) // {int(bucket_us)})" if bucket_us else "0"


def aggregate(
    cur: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    bucket_us: int | None,
    parts: frozenset[str],
    ranges: Ranges,
    level: int = 0,
) -> dict[int, WindowAggregate]:
    """Aggregates of the units in ``ranges`` of rollup level ``level`` per bucket (quantiles
    left out)."""
    _, ops, confusion_table = LEVELS[level]
    where, params = _where(flt, ranges)
    b = _bucket(flt, bucket_us)
    minutes = cur.execute(
        f"""
        SELECT {b} AS bk, sum(n), sum(errors), sum(lat_n), sum(lat_sum), max(lat_max),
               sum(cls_n), sum(cls_match), sum(reg_n), sum(reg_abs), sum(reg_sq), sum(reg_ape),
               sum(reg_y), sum(reg_y2)
        FROM {ops} WHERE {where} GROUP BY bk HAVING sum(n) > 0
        """,
        params,
    ).fetchall()
    confusion = []
    if PART_CONFUSION in parts:
        confusion = cur.execute(
            f"SELECT {b} AS bk, lab, pred, sum(n) FROM {confusion_table} WHERE {where} "
            "GROUP BY ALL HAVING sum(n) > 0",
            params,
        ).fetchall()
    business = []
    if PART_BUSINESS in parts:
        business = cur.execute(
            f"""
            SELECT {b} AS bk, grp, sum(n), sum(conv_n), sum(rev_sum), sum(conv_known) + sum(rev_known)
            FROM {ops}
            WHERE {where} GROUP BY ALL
            HAVING sum(n) > 0
            """,
            params,
        ).fetchall()
    return decode(minutes, confusion, business, parts, NONE_KEY)


def sketch_bins(
    cur: duckdb.DuckDBPyConnection, flt: EventFilter, bucket_us: int | None, a_us: int, b_us: int
) -> Bins:
    """Latency sketch bins of the whole hours [a_us, b_us): (bucket, bin, count) arrays."""
    where, params = _where(flt, [(a_us, b_us)])
    got = cur.execute(
        f"SELECT {_bucket(flt, bucket_us)} AS bk, bin, sum(n)::BIGINT AS n FROM rollup_latency "
        f"WHERE {where} GROUP BY ALL",
        params,
    ).fetchnumpy()
    return as_bins(got["bk"], got["bin"], got["n"])


# ---- the read path: rollups for whole minutes, raw events for the edges -----------------------
def window_aggregate(
    cur: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    bucket_us: int | None,
    parts: frozenset[str],
    policy: Policy,
) -> dict[int, WindowAggregate]:
    """What ``duckdb_reads.aggregate`` answers, from rollups where they apply."""
    cut = split(flt, bucket_us, policy)
    if cut is None:
        return duckdb_reads.aggregate(cur, flt, bucket_us, parts)
    a, b = cut
    raw_parts = parts - {PART_QUANTILES}
    units = tuple(unit for unit, _, _ in LEVELS)
    pieces = [
        aggregate(cur, flt, bucket_us, parts, ranges, level)
        for level, ranges in enumerate(levels(a, b, units, flt, bucket_us))
        if ranges
    ]
    pieces += [
        duckdb_reads.aggregate(cur, until(flt, a), bucket_us, raw_parts, piece=True),
        duckdb_reads.aggregate(cur, flt, bucket_us, raw_parts, start_us=b, piece=True),
    ]
    out: dict[int, WindowAggregate] = {}
    for piece in pieces:
        for k, agg in piece.items():
            out[k] = out[k].merge(agg) if k in out else agg
    for agg in out.values():
        agg.drop_unknown_ungrouped()
    if PART_QUANTILES in parts and out:
        total = sum(agg.latency_n for agg in out.values())
        if total <= policy.exact_quantiles_max and flt.start_us >= policy.raw_from_us:
            exact = duckdb_reads.quantiles(cur, flt, bucket_us)
            for k, q in exact.items():
                out[k].quantiles = q
        else:
            _sketch_quantiles(cur, flt, bucket_us, out)
    return out


def _sketch_quantiles(
    cur: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    bucket_us: int | None,
    out: dict[int, WindowAggregate],
) -> None:
    """Percentiles from the hourly sketch for the window's whole hours, plus the bins of the raw
    events of its partial hours; exact from raw events when buckets do not fall on hours."""
    span = hour_span(flt, bucket_us)
    if span is None:
        for k, q in duckdb_reads.quantiles(cur, flt, bucket_us).items():
            if k in out:
                out[k].quantiles = q
        return
    ha, hb = span
    edges = [
        duckdb_reads.latency_bins(cur, until(flt, ha), bucket_us, None, BIN_SQL),
        duckdb_reads.latency_bins(cur, flt, bucket_us, hb, BIN_SQL),
    ]
    got = sketch_quantiles(sketch_bins(cur, flt, bucket_us, ha, hb), *map(bins_of_rows, edges))
    for k, q in got.items():
        if k in out:
            out[k].quantiles = q


def score_histograms(
    cur: duckdb.DuckDBPyConnection, flt: EventFilter, bucket_us: int | None, policy: Policy
) -> dict[int, ScoreHistogram] | None:
    """See :func:`rollup_plan.score_histograms`."""
    b = _bucket(flt, bucket_us)
    return rollup_plan.score_histograms(
        flt,
        bucket_us,
        policy,
        stored=lambda table, ranges: duckdb_scores.stored_rows(cur, table, *_where(flt, ranges), b),
        raw=lambda f, start: duckdb_scores.edge_rows(cur, f, bucket_us, start),
    )
