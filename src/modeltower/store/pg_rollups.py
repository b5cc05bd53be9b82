"""Per-minute rollups of the PostgreSQL store: the counterpart of duckdb_rollups.py.

Same tables, same mechanism (contributions of a set of events, with their feedback applied,
added in the writer's transaction; feedback moves its events out and back in), same read path
(rollups for whole minutes, raw events for the edges, percentiles exact up to a limit and from
the hourly sketch beyond). The sketch's bins and the policy are shared with the DuckDB side, so
both backends give the same numbers.
"""

from __future__ import annotations

from typing import Any

import psycopg

from modeltower.metrics.score_sketch import ScoreHistogram
from modeltower.store import pg_arrays, pg_model_rollups, pg_reads, pg_scores, rollup_plan
from modeltower.store.base import (
    PART_BUSINESS,
    PART_CONFUSION,
    PART_QUANTILES,
    EventFilter,
    WindowAggregate,
)
from modeltower.store.latency_sketch import (
    LN_GAMMA,
    ZERO_BIN,
    Bins,
    as_bins,
    sketch_quantiles,
)
from modeltower.store.rollup_plan import (
    DAY_US,
    HOUR_US,
    MERGED_OPS,
    MINUTE_US,
    NONE_KEY,
    TEN_MINUTES_US,
    Policy,
    Ranges,
    ScoreRows,
    decode,
    levels,
    split,
    until,
)

_K = "model, version, grp, minute"
_OPS_COLUMNS = f"""
    model TEXT COLLATE "C" NOT NULL, version TEXT COLLATE "C" NOT NULL,
    grp TEXT COLLATE "C" NOT NULL, minute BIGINT NOT NULL,
    n BIGINT NOT NULL, errors BIGINT NOT NULL,
    lat_n BIGINT NOT NULL, lat_sum DOUBLE PRECISION NOT NULL, lat_max DOUBLE PRECISION,
    cls_n BIGINT NOT NULL, cls_match BIGINT NOT NULL,
    reg_n BIGINT NOT NULL, reg_abs DOUBLE PRECISION NOT NULL, reg_sq DOUBLE PRECISION NOT NULL,
    reg_ape DOUBLE PRECISION NOT NULL, reg_y DOUBLE PRECISION NOT NULL,
    reg_y2 DOUBLE PRECISION NOT NULL,
    conv_n BIGINT NOT NULL, conv_known BIGINT NOT NULL, rev_sum DOUBLE PRECISION NOT NULL,
    rev_known BIGINT NOT NULL,
    PRIMARY KEY ({_K})
"""
_CONFUSION_COLUMNS = f"""
    model TEXT COLLATE "C" NOT NULL, version TEXT COLLATE "C" NOT NULL,
    grp TEXT COLLATE "C" NOT NULL, minute BIGINT NOT NULL,
    lab TEXT COLLATE "C" NOT NULL, pred TEXT COLLATE "C" NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY ({_K}, lab, pred)
"""
SCHEMA_HOURS = f"""
CREATE TABLE rollup_hour ({_OPS_COLUMNS});
CREATE TABLE rollup_hour_confusion ({_CONFUSION_COLUMNS});
"""
SCHEMA = f"""
CREATE TABLE rollup_minute ({_OPS_COLUMNS});
CREATE TABLE rollup_confusion ({_CONFUSION_COLUMNS});
CREATE TABLE rollup_latency (
    model TEXT COLLATE "C" NOT NULL, version TEXT COLLATE "C" NOT NULL,
    grp TEXT COLLATE "C" NOT NULL, minute BIGINT NOT NULL,  -- the hour's start
    bin INTEGER NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY ({_K}, bin)
);
"""

_NONE = NONE_KEY.replace("\x00", "\x01")  # PostgreSQL text cannot hold NUL


def _key(unit_us: int) -> str:
    return (
        f"model, coalesce(version, '{_NONE}'), coalesce(grp, '{_NONE}'), ts / {unit_us} * {unit_us}"
    )


_HOUR_KEY = _key(HOUR_US)
_CLS = pg_reads.CLS
_REG = pg_reads.REG
BIN_SQL = (
    f"CASE WHEN latency_ms > 0 THEN greatest(ceil(ln(latency_ms) / {LN_GAMMA!r}), "
    f"{ZERO_BIN + 1})::integer ELSE {ZERO_BIN} END"
)
_EPS = 2.220446049250313e-16
_GROUP = "GROUP BY 1, 2, 3, 4"
# Schema version 17: the minute-level tables by model and minute. Their keys lead with version
# and group, so a window's partial hours (read per minute) scanned all of a model's rows:
# ~35 ms at 1M events for the minutes of one hour.
VERSION_17_SQL = """
CREATE INDEX rollup_minute_by_minute ON rollup_minute (model, minute);
CREATE INDEX rollup_confusion_by_minute ON rollup_confusion (model, minute);
"""
LEVELS = (
    (MINUTE_US, "rollup_minute", "rollup_confusion"),
    (HOUR_US, "rollup_hour", "rollup_hour_confusion"),
)


def _effective(source: str) -> str:
    """Rows of ``source`` (a SELECT of event rows) with their feedback applied."""
    return f"""
        SELECT e.model, e.version, e.grp, e.ts, e.prediction, e.prediction_num, e.latency_ms,
               e.error, e.score, e.scores,
               coalesce(f.label, e.label) AS lab,
               CASE WHEN f.label IS NOT NULL THEN f.label_num ELSE e.label_num END AS labn,
               coalesce(f.converted, e.converted) AS conv,
               coalesce(f.revenue, e.revenue) AS rev
        FROM ({source}) e LEFT JOIN feedback f ON f.model = e.model AND f.id = e.id
    """


def _ops_sql(s: int, key: str, table: str) -> str:
    return f"""
        INSERT INTO {table} AS r
        SELECT {key}, {s} * count(*), {s} * count(error), {s} * count(latency_ms),
               {s} * coalesce(sum(latency_ms), 0), {"max(latency_ms)" if s > 0 else "NULL::float8"},
               {s} * count(*) FILTER (WHERE {_CLS}),
               {s} * count(*) FILTER (WHERE {_CLS} AND lab = prediction),
               {s} * count(*) FILTER (WHERE {_REG}),
               {s} * coalesce(sum(abs(labn - prediction_num)) FILTER (WHERE {_REG}), 0),
               {s} * coalesce(sum((labn - prediction_num) * (labn - prediction_num))
                              FILTER (WHERE {_REG}), 0),
               {s} * coalesce(sum(abs(labn - prediction_num) / greatest(abs(labn), {_EPS!r}))
                              FILTER (WHERE {_REG}), 0),
               {s} * coalesce(sum(labn) FILTER (WHERE {_REG}), 0),
               {s} * coalesce(sum(labn * labn) FILTER (WHERE {_REG}), 0),
               {s} * count(*) FILTER (WHERE conv), {s} * count(conv),
               {s} * coalesce(sum(rev), 0), {s} * count(rev)
        FROM rollup_batch {_GROUP}
        ON CONFLICT ({_K}) DO UPDATE SET
            n = r.n + excluded.n, errors = r.errors + excluded.errors,
            lat_n = r.lat_n + excluded.lat_n, lat_sum = r.lat_sum + excluded.lat_sum,
            lat_max = greatest(r.lat_max, excluded.lat_max),
            cls_n = r.cls_n + excluded.cls_n, cls_match = r.cls_match + excluded.cls_match,
            reg_n = r.reg_n + excluded.reg_n, reg_abs = r.reg_abs + excluded.reg_abs,
            reg_sq = r.reg_sq + excluded.reg_sq, reg_ape = r.reg_ape + excluded.reg_ape,
            reg_y = r.reg_y + excluded.reg_y, reg_y2 = r.reg_y2 + excluded.reg_y2,
            conv_n = r.conv_n + excluded.conv_n, conv_known = r.conv_known + excluded.conv_known,
            rev_sum = r.rev_sum + excluded.rev_sum, rev_known = r.rev_known + excluded.rev_known
        """


def _confusion_sql(s: int, key: str, table: str, classes_only: bool) -> str:
    """``classes_only``: leave out the numbers with a fraction (store/class_values.py), as the
    writers do; schema version 5 filled the table without (reads leave them out)."""
    having = f"HAVING {pg_reads.CLASSES}" if classes_only else ""
    return f"""
        INSERT INTO {table} AS r
        SELECT {key}, lab, prediction, {s} * count(*) FROM rollup_batch WHERE {_CLS}
        GROUP BY 1, 2, 3, 4, 5, 6 {having}
        ON CONFLICT ({_K}, lab, pred) DO UPDATE SET n = r.n + excluded.n
        """


def _latency_sql(s: int, key: str, key_columns: str, table: str) -> str:
    """Add the batch's latencies, binned, to the sketch ``table`` keyed by ``key_columns``."""
    group = ", ".join(str(i + 1) for i in range(key_columns.count(",") + 2))
    return f"""
        INSERT INTO {table} AS r
        SELECT {key}, {BIN_SQL}, {s} * count(*) FROM rollup_batch
        WHERE latency_ms IS NOT NULL GROUP BY {group}
        ON CONFLICT ({key_columns}, bin) DO UPDATE SET n = r.n + excluded.n
        """


def add_sql(source: str, sign: int, sketch: bool, current: bool = True) -> list[str]:
    """The statements adding ``sign`` times the contributions of the events ``source`` selects
    (a SELECT of event rows; its parameters go with the first statement); ``current`` False
    writes only the tables of schema version 5 (its migration)."""
    s = int(sign)
    out = [f"CREATE TEMP TABLE rollup_batch ON COMMIT DROP AS {_effective(source)}"]
    for unit, ops, confusion in LEVELS if current else LEVELS[:1]:
        out += [_ops_sql(s, _key(unit), ops), _confusion_sql(s, _key(unit), confusion, current)]
    if current:  # the score histograms move with late labels too (their rows are per label)
        out.append(pg_scores.add_sql("rollup_batch", s, _HOUR_KEY, _CLS, "rollup_score"))
        out.append(pg_scores.add_sql("rollup_batch", s, _key(DAY_US), _CLS, "rollup_score_day"))
    if sketch:  # new events only: feedback never changes a latency
        out.append(_latency_sql(s, _HOUR_KEY, _K, "rollup_latency"))
    if current:  # the same sums with version and group summed away (pg_model_rollups.py)
        model_key = pg_model_rollups.KEY_COLUMNS
        for unit, latency, score in (pg_model_rollups.TEN_MINUTES, *pg_model_rollups.UNITS):
            key = pg_model_rollups.key(unit)
            out.append(pg_scores.add_sql("rollup_batch", s, key, _CLS, score, model_key))
            if sketch:
                out.append(_latency_sql(s, key, model_key, latency))
    out.append("DROP TABLE rollup_batch")
    return out


def version_7_sql() -> str:
    """Schema version 7: hourly rollups built from the minutes, and the score histograms (per
    hour and per day) of every stored event, feedback applied."""
    ev = f"({_effective('SELECT * FROM events')})"
    hour = f"model, version, grp, minute / {HOUR_US} * {HOUR_US}"
    return ";\n".join(
        [
            SCHEMA_HOURS,
            f"INSERT INTO rollup_hour SELECT {hour}, {MERGED_OPS} FROM rollup_minute {_GROUP}",
            f"INSERT INTO rollup_hour_confusion SELECT {hour}, lab, pred, sum(n) "
            "FROM rollup_confusion GROUP BY 1, 2, 3, 4, 5, 6",
            pg_scores.SCHEMA,
            pg_scores.add_sql(ev, 1, _HOUR_KEY, _CLS, "rollup_score"),
            pg_scores.add_sql(ev, 1, _key(DAY_US), _CLS, "rollup_score_day"),
        ]
    )


def version_19_sql() -> str:
    """Schema version 19: the ten-minute model-wide sketches (pg_model_rollups.py), built from
    the stored events, feedback applied."""
    unit, latency, score = pg_model_rollups.TEN_MINUTES
    key, key_columns = pg_model_rollups.key(unit), pg_model_rollups.KEY_COLUMNS
    ev = f"({_effective('SELECT * FROM events')})"
    return ";\n".join(
        [
            pg_model_rollups.version_19_schema(),
            f"INSERT INTO {latency} SELECT {key}, {BIN_SQL}, count(*) FROM events "
            "WHERE latency_ms IS NOT NULL GROUP BY 1, 2, 3",
            pg_scores.add_sql(ev, 1, key, _CLS, score, key_columns),
        ]
    )


def add(con: psycopg.Connection, source: str, params: list[Any], sign: int, sketch: bool) -> None:
    """Apply :func:`add_sql` inside the writer's transaction."""
    for n, sql in enumerate(add_sql(source, sign, sketch)):
        con.execute(sql, params if n == 0 else None)


def _where(flt: EventFilter, ranges: Ranges) -> tuple[str, list[Any]]:
    spans = " OR ".join("(minute >= %s::bigint AND minute < %s::bigint)" for _ in ranges)
    where = ["model = %s", f"({spans})"]
    params: list[Any] = [flt.model, *(x for r in ranges for x in r)]
    if flt.version is not None:
        where.append("version = %s")
        params.append(flt.version)
    if flt.group is not None:
        where.append("grp = %s")
        params.append(flt.group)
    return " AND ".join(where), params


def _bucket(flt: EventFilter, bucket_us: int | None) -> str:
    return f"((minute - {int(flt.start_us)}) / {int(bucket_us)})" if bucket_us else "0::bigint"


def aggregate(
    con: psycopg.Connection,
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
    minutes = con.execute(
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
        confusion = con.execute(
            f"SELECT {b} AS bk, lab, pred, sum(n) FROM {confusion_table} WHERE {where} "
            "GROUP BY 1, 2, 3 HAVING sum(n) > 0",
            params,
        ).fetchall()
    business = []
    if PART_BUSINESS in parts:
        business = con.execute(
            f"""
            SELECT {b} AS bk, grp, sum(n), sum(conv_n), sum(rev_sum), sum(conv_known) + sum(rev_known)
            FROM {ops}
            WHERE {where} GROUP BY 1, 2
            HAVING sum(n) > 0
            """,
            params,
        ).fetchall()
    return decode(minutes, confusion, business, parts, _NONE)


def window_aggregate(
    con: psycopg.Connection,
    flt: EventFilter,
    bucket_us: int | None,
    parts: frozenset[str],
    policy: Policy,
) -> dict[int, WindowAggregate]:
    """What ``pg_reads.aggregate`` answers, from rollups where they apply."""
    cut = split(flt, bucket_us, policy)
    if cut is None:
        return pg_reads.aggregate(con, flt, bucket_us, parts)
    a, b = cut
    raw_parts = parts - {PART_QUANTILES}
    out: dict[int, WindowAggregate] = {}
    left = until(flt, a)
    units = tuple(unit for unit, _, _ in LEVELS)
    pieces = [
        aggregate(con, flt, bucket_us, parts, ranges, level)
        for level, ranges in enumerate(levels(a, b, units, flt, bucket_us))
        if ranges
    ]
    pieces += [
        pg_reads.aggregate(con, left, bucket_us, raw_parts, piece=True),
        pg_reads.aggregate(con, flt, bucket_us, raw_parts, start_us=b, piece=True),
    ]
    for piece in pieces:
        for k, agg in piece.items():
            out[k] = out[k].merge(agg) if k in out else agg
    for agg in out.values():
        agg.drop_unknown_ungrouped()
    if PART_QUANTILES in parts and out:
        total = sum(agg.latency_n for agg in out.values())
        if total <= policy.exact_quantiles_max and flt.start_us >= policy.raw_from_us:
            for k, q in pg_reads.quantiles(con, flt, bucket_us).items():
                if k in out:
                    out[k].quantiles = q
        else:
            _sketch(con, flt, bucket_us, policy, out)
    return out


def _sketch(
    con: psycopg.Connection,
    flt: EventFilter,
    bucket_us: int | None,
    policy: Policy,
    out: dict[int, WindowAggregate],
) -> None:
    model_wide = rollup_plan.model_wide(flt)
    units = rollup_plan.sketch_units(flt, (HOUR_US, DAY_US) if model_wide else (HOUR_US,), policy)
    plan = rollup_plan.sketch_levels(flt, bucket_us, units, policy)
    if plan is None:
        for k, q in pg_reads.quantiles(con, flt, bucket_us).items():
            if k in out:
                out[k].quantiles = q
        return
    # (table, unit) per level: a unit of 0 for the per-version table (rows to sum)
    tables = {
        TEN_MINUTES_US: (pg_model_rollups.LATENCY_10M, TEN_MINUTES_US),
        HOUR_US: (pg_model_rollups.LATENCY, HOUR_US) if model_wide else ("rollup_latency", 0),
        DAY_US: (pg_model_rollups.LATENCY_DAY, DAY_US),
    }
    # One statement (one snapshot): the raw events it subtracts are those its units hold.
    parts: list[str] = []
    params: list[Any] = []
    b = _bucket(flt, bucket_us)
    for level, ranges in zip(units, plan.per_level, strict=True):
        if not ranges:
            continue
        table, unit = tables[level]
        where, where_params = _where(flt, ranges)
        # A model-wide table read by buckets of its own unit has one row per bucket and bin
        # already: summing them in SQL would only cost time (sketch_quantiles adds duplicates).
        sql = f"SELECT {b} AS bk, bin, n FROM {table} WHERE {where}"
        if not unit or bucket_us != unit:
            sql = f"SELECT {b} AS bk, bin, sum(n) AS n FROM {table} WHERE {where} GROUP BY 1, 2"
        parts.append(sql)
        params += where_params
    for sign, spans in ((1, plan.spans), (-1, plan.minus)):
        for start, end in spans:
            base, base_params = pg_reads.latency_base(until(flt, end), bucket_us, start)
            parts.append(
                f"SELECT b AS bk, {BIN_SQL} AS bin, {sign} * count(*) AS n FROM ({base}) ev "
                "WHERE latency_ms IS NOT NULL GROUP BY 1, 2"
            )
            params += base_params
    union = " UNION ALL ".join(f"({sql})" for sql in parts)
    for k, q in sketch_quantiles(_bins(con, union, params)).items():
        if k in out:
            out[k].quantiles = q


def _bins(con: psycopg.Connection, sql: str, params: list[Any]) -> Bins:
    """The (bk, bin, n) rows of ``sql`` as arrays: a month of hourly bins is ~100k rows, which
    come over as three arrays far faster than as rows (pg_arrays)."""
    got = pg_arrays.bigint_arrays(
        con,
        "SELECT array_agg(bk::bigint), array_agg(bin::bigint), array_agg(n::bigint) "
        f"FROM ({sql}) AS r",
        params,
    )
    return as_bins(*got)


def score_histograms(
    con: psycopg.Connection, flt: EventFilter, bucket_us: int | None, policy: Policy
) -> dict[int, ScoreHistogram] | None:
    """See :func:`rollup_plan.score_histograms`."""
    b = _bucket(flt, bucket_us)

    def read(stored: list[tuple[str, Ranges]], spans: Ranges, minus: Ranges) -> ScoreRows:
        tables = [
            (pg_model_rollups.score_table(table, flt), *_where(flt, ranges))
            for table, ranges in stored
        ]
        return pg_scores.histogram_rows(con, flt, bucket_us, tables, spans, minus, b)

    return rollup_plan.score_histograms(flt, bucket_us, policy, read)
