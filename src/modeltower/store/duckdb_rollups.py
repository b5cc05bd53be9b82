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
label moves its event between the cells of the event's own minute, hour and day. What it adds
is appended to one table of deltas (``rollup_delta``, a row of any keyed table, named by its
``tbl`` column) and folded into the keyed tables later in bulk (store/duckdb_deltas.py says
why); reads sum both (:func:`source`).
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from modeltower.metrics.score_sketch import ScoreHistogram
from modeltower.store import class_values, duckdb_deltas, duckdb_reads, duckdb_scores, rollup_plan
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
    sketch_quantiles,
)
from modeltower.store.rollup_plan import (
    DAY_US,
    HOUR_US,
    MERGED_OPS,
    MINUTE_US,
    NONE_KEY,
    OPS_VALUES,
    Policy,
    Ranges,
    ScoreRows,
    decode,
    edge_spans,
    levels,
    split,
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
# What the confusion counts keep of a (lab, prediction) group (store/class_values.py): the
# writer's deltas leave the others out (this is their reference in the tests), and reads
# leave out those an older writer added (rollup_plan.decode).
CLASSES = class_values.duckdb_classes()
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


def _confusion_sql(ev: str, s: int, key: str, table: str, classes_only: bool = False) -> str:
    """``classes_only``: leave out the numbers with a fraction (store/class_values.py), as the
    writer's deltas do; schema version 5 filled the table without (reads leave them out)."""
    having = f"HAVING {CLASSES}" if classes_only else ""
    return f"""
        INSERT INTO {table}
        SELECT {key}, lab, prediction, {s} * count(*) FROM ({ev}) e WHERE {_CLS} GROUP BY ALL
        {having}
        ON CONFLICT DO UPDATE SET n = n + excluded.n
    """


_CREATE_BATCH = "CREATE OR REPLACE TEMP TABLE rollup_batch AS"


def add_sql(source: str) -> list[str]:
    """Schema version 5: the statements filling the per-minute rollups and the latency sketch
    from the events ``source`` selects (a SELECT of event columns including ``k``). The writer
    adds to the rollups through :class:`Updater` instead."""
    ev = "SELECT * FROM rollup_batch"
    _, ops, confusion = LEVELS[0]
    return [
        f"{_CREATE_BATCH} {_effective(source)}",
        _ops_sql(ev, 1, _key(MINUTE_US), ops),
        _confusion_sql(ev, 1, _key(MINUTE_US), confusion),
        f"""
        INSERT INTO rollup_latency
        SELECT {_HOUR_KEY}, {BIN_SQL}, count(*) FROM ({ev}) e
        WHERE latency_ms IS NOT NULL GROUP BY ALL
        ON CONFLICT DO UPDATE SET n = n + excluded.n
        """,
        "DROP TABLE rollup_batch",
    ]


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


# Every rollup table: the key columns after (model, version, grp, minute), and its values.
_SCORE_TABLE = (("lab", "bin"), ("n", "ln_p", "ln_1mp"))
# (the tables of schema version 12, which versions 12 and 15 name: never add to it)
_TABLES_12: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "rollup_minute": ((), tuple(OPS_VALUES)),
    "rollup_hour": ((), tuple(OPS_VALUES)),
    "rollup_confusion": (("lab", "pred"), ("n",)),
    "rollup_hour_confusion": (("lab", "pred"), ("n",)),
    "rollup_latency": (("bin",), ("n",)),
    "rollup_score": _SCORE_TABLE,
    "rollup_score_day": _SCORE_TABLE,
}
# Schema version 12: what the writer adds goes to a table of deltas without a key first
# (store/duckdb_deltas.py); :meth:`Updater.compact` folds them into the keyed table.
VERSION_12_SQL = ";\n".join(
    f"CREATE TABLE {t}_delta AS SELECT * FROM {t} LIMIT 0" for t in _TABLES_12
)


# Schema version 15: the seven delta tables become one, so that a write appends its deltas
# with one INSERT instead of seven (each statement costs the writer about a millisecond,
# whatever its size: most of a commit of a few single events). Its columns are all those of
# the keyed tables; ``tbl`` names the table a row belongs to, the others are NULL.
VERSION_15_SQL = ";\n".join(
    [
        "CREATE TABLE rollup_delta AS SELECT ''::VARCHAR AS tbl, * FROM ("
        + " UNION ALL BY NAME ".join(f"(SELECT * FROM {t} LIMIT 0)" for t in _TABLES_12)
        + ")",
        *(
            f"INSERT INTO rollup_delta BY NAME SELECT '{t}' AS tbl, * FROM {t}_delta"
            for t in _TABLES_12
        ),
        *(f"DROP TABLE {t}_delta" for t in _TABLES_12),
    ]
)


# Schema version 18: a model-wide copy of the latency sketch, version and group summed away
# (both hold NONE_KEY), which windows of a whole model (the dashboard's, most alerts') read.
# On the benchmark data it has 3.4x fewer rows than the per-version sketch: grouping those
# was ~40 ms of a 30-day timeseries by hour at 10M events. (The score histograms are sparse
# per version: their model-wide copy would have only 1.8x fewer rows, and reading it was not
# measurably faster.) The writer adds to it from the same batch of deltas
# (duckdb_deltas.model_wide), so the two always agree.
MODEL_WIDE = duckdb_deltas.MODEL_WIDE
TABLES = _TABLES_12 | {wide: _TABLES_12[table] for table, wide in MODEL_WIDE.items()}


def version_18_sql() -> str:
    """Schema version 18: the model-wide sketch tables, built from the per-version ones (their
    deltas not folded in yet included)."""
    out = []
    for table, wide in MODEL_WIDE.items():
        extra, values = TABLES[table]
        keys = ", ".join(["model", f"'{NONE_KEY}'", f"'{NONE_KEY}'", "minute", *extra])
        sums = ", ".join(f"sum({v})" for v in values)
        out += [
            f"CREATE TABLE {wide} AS SELECT * FROM {table} LIMIT 0",
            f"ALTER TABLE {wide} ADD PRIMARY KEY (model, version, grp, minute, {', '.join(extra)})",
            f"INSERT INTO {wide} SELECT {keys}, {sums} FROM {source(table)} "
            f"GROUP BY ALL HAVING sum(n) <> 0",
        ]
    return ";\n".join(out)


def sketch_table(table: str, flt: EventFilter) -> str:
    """The sketch table to read for ``flt``: the model-wide copy of ``table`` (if it has one)
    when the window filters neither version nor group."""
    return MODEL_WIDE.get(table, table) if rollup_plan.model_wide(flt) else table


def columns(table: str) -> list[str]:
    """The columns of a rollup table, in its order: the key, then the values."""
    extra, values = TABLES[table]
    return ["model", "version", "grp", "minute", *extra, *values]


def source(table: str) -> str:
    """The rows of a rollup table as reads see them: the keyed rows and the deltas not
    folded in yet (a key may repeat: every read sums)."""
    cols = ", ".join(columns(table))
    return (
        f"(SELECT * FROM {table} UNION ALL SELECT {cols} FROM rollup_delta WHERE tbl = '{table}')"
    )


def _fold_sql(table: str) -> str:
    extra, values = TABLES[table]
    keys = ", ".join(["model", "version", "grp", "minute", *extra])
    merged = ", ".join(f"max({v})" if v == "lat_max" else f"sum({v})" for v in values)
    sets = ", ".join(
        f"{v} = greatest({v}, excluded.{v})" if v == "lat_max" else f"{v} = {v} + excluded.{v}"
        for v in values
    )
    return (
        f"INSERT INTO {table} SELECT {keys}, {merged} FROM rollup_delta WHERE tbl = '{table}' "
        f"GROUP BY ALL ON CONFLICT DO UPDATE SET {sets}"
    )


def delta_rows(deltas: dict[str, pa.Table]) -> pa.Table:
    """The rows of ``rollup_delta`` for ``duckdb_deltas.deltas``: every table's rows, named."""
    named = [
        rows.add_column(0, "tbl", pa.repeat(table, len(rows))) for table, rows in deltas.items()
    ]
    return pa.concat_tables(named, promote_options="default")


class Updater:
    """Adds to the rollups in the writer's transaction, and folds the deltas in.

    An upsert per rollup table and batch cost more than inserting the batch's events; so a
    batch's contributions are computed in memory (store/duckdb_deltas.py) and appended to the
    ``*_delta`` tables, and once they hold :attr:`fold_rows` rows (or the writer is idle) one
    upsert per table moves them into the keyed tables.
    """

    fold_rows = 50_000

    def __init__(self) -> None:
        self.pending = 0  # delta rows not folded in yet (as far as this connection knows)

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        """Count the deltas a previous process left (folded in at its next fold)."""
        self.pending = int(con.execute("SELECT count(*) FROM rollup_delta").fetchall()[0][0])

    def add(self, con: duckdb.DuckDBPyConnection, rows: pa.Table, sign: int, sketch: bool) -> None:
        """Add ``sign`` times the contributions of the effective rows ``rows``
        (duckdb_deltas.EFFECTIVE)."""
        deltas = duckdb_deltas.deltas(rows, sign, sketch)
        if not deltas:
            return
        new_deltas = delta_rows(deltas)  # read by the INSERT by its name (a replacement scan)
        con.execute("INSERT INTO rollup_delta BY NAME SELECT * FROM new_deltas")
        self.pending += new_deltas.num_rows

    def compact(self, con: duckdb.DuckDBPyConnection) -> None:
        """Fold every delta into its keyed table (inside the caller's transaction)."""
        for table in TABLES:
            con.execute(_fold_sql(table))
        con.execute("DELETE FROM rollup_delta")
        self.pending = 0


def effective_rows(con: duckdb.DuckDBPyConnection, events: str) -> pa.Table:
    """The effective rows (feedback applied) of the events ``events`` selects."""
    return con.sql(_effective(events)).to_arrow_table()


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


# The sums of one bucket, as decode() takes them (the business columns are read per group).
_BUCKET_SUMS = ", ".join(
    f"{'max' if c == 'lat_max' else 'sum'}({c})" for c in OPS_VALUES[: OPS_VALUES.index("conv_n")]
)
# The kinds of result row of aggregate() (its first column), and the columns a kind leaves empty.
_SUMS, _GROUPS, _CONFUSION = 0, 1, 2
_NULLS = ", ".join(["NULL"] * 9)


def aggregate(
    cur: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    bucket_us: int | None,
    parts: frozenset[str],
    per_level: list[Ranges],
) -> dict[int, WindowAggregate]:
    """Aggregates of the units in ``per_level[i]`` of each rollup level ``i`` per bucket
    (quantiles left out): all levels in one statement of up to three groupings, the sums per
    bucket and, when asked for, the business sums per group and the confusion counts. Each
    statement costs a few milliseconds of planning, more than these small reads. (Summing the
    groups' sums in Python instead changed the float sums in the last bits with the parts.)"""
    b = _bucket(flt, bucket_us)
    ops_sql: list[str] = []
    confusion_sql: list[str] = []
    ops_params: list[Any] = []
    for level, ranges in enumerate(per_level):
        if not ranges:
            continue
        _, ops_table, confusion_table = LEVELS[level]
        where, where_params = _where(flt, ranges)
        ops_sql.append(
            f"SELECT {b} AS bk, grp, {', '.join(OPS_VALUES)} FROM {source(ops_table)} WHERE {where}"
        )
        confusion_sql.append(
            f"SELECT {b} AS bk, lab, pred, n FROM {source(confusion_table)} WHERE {where}"
        )
        ops_params += where_params
    if not ops_sql:
        return {}
    groupings = [
        f"SELECT {_SUMS}, NULL::VARCHAR, NULL::VARCHAR, bk, {_BUCKET_SUMS} "
        "FROM ops GROUP BY bk HAVING sum(n) > 0"
    ]
    if PART_BUSINESS in parts:
        groupings.append(
            f"SELECT {_GROUPS}, grp, NULL, bk, sum(n), sum(conv_n), "
            f"sum(conv_known) + sum(rev_known), sum(rev_sum), {_NULLS} "
            "FROM ops GROUP BY bk, grp HAVING sum(n) > 0"
        )
    params = ops_params
    if PART_CONFUSION in parts:
        groupings.append(
            f"SELECT {_CONFUSION}, lab, pred, bk, sum(n), NULL, NULL, NULL, {_NULLS} "
            f"FROM ({' UNION ALL '.join(confusion_sql)}) GROUP BY ALL HAVING sum(n) > 0"
        )
        params = ops_params + ops_params
    # (not materialized: each grouping reads the rollups itself, so that the sums of one do not
    # depend on which others are there)
    union = " UNION ALL ".join(ops_sql)
    sql = f"WITH ops AS NOT MATERIALIZED ({union}) {' UNION ALL '.join(groupings)}"
    rows = cur.execute(sql, params).fetchall()
    minutes = [r[3:] for r in rows if r[0] == _SUMS]
    business = [
        (r[3], r[1], r[4], r[5], r[7], r[6])  # (bk, grp, n, conv, rev, known)
        for r in rows
        if r[0] == _GROUPS
    ]
    confusion = [(r[3], r[1], r[2], r[4]) for r in rows if r[0] == _CONFUSION]
    return decode(minutes, confusion, business, parts, NONE_KEY)


def sketch_bins(
    cur: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    bucket_us: int | None,
    stored: list[tuple[str, Ranges]],
    spans: Ranges,
) -> Bins:
    """Latency sketch bins, (bucket, bin, count) arrays, of the sketch tables' ``(table,
    ranges)`` in ``stored`` and of the raw events in ``spans``: one statement. A (bucket, bin)
    pair may repeat (once per version and group, per delta, per table, and in the edges):
    summing them here cost more than sketch_quantiles' bincount, which adds them anyway."""
    b = _bucket(flt, bucket_us)
    parts: list[str] = []
    params: list[Any] = []
    for table, ranges in stored:
        where, where_params = _where(flt, ranges)
        parts.append(f"SELECT {b} AS bk, bin, n FROM {source(table)} WHERE {where}")
        params += where_params
    if spans:
        raw, raw_params = duckdb_reads.latency_bins_sql(flt, bucket_us, spans, BIN_SQL)
        parts.append(raw)
        params += raw_params
    got = cur.execute(" UNION ALL ".join(parts), params).fetchnumpy()
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
    pieces = [aggregate(cur, flt, bucket_us, parts, levels(a, b, units, flt, bucket_us))]
    # Both edges in one read: each read of raw events costs a scan of the window's row groups.
    edges = edge_spans(flt, a, b)
    if edges:
        pieces.append(duckdb_reads.aggregate(cur, flt, bucket_us, raw_parts, edges, piece=True))
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
            _sketch_quantiles(cur, flt, bucket_us, policy, out)
    return out


def _sketch_quantiles(
    cur: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    bucket_us: int | None,
    policy: Policy,
    out: dict[int, WindowAggregate],
) -> None:
    """Percentiles from the hourly sketch for the window's whole hours, plus the bins of the raw
    events of its partial hours; exact from raw events when buckets do not fall on hours
    (rollup_plan.sketch_units says why DuckDB keeps no ten-minute level)."""
    plan = rollup_plan.sketch_levels(flt, bucket_us, (HOUR_US,), policy)
    if plan is None:
        for k, q in duckdb_reads.quantiles(cur, flt, bucket_us).items():
            if k in out:
                out[k].quantiles = q
        return
    assert not plan.minus, "DuckDB's policy reads partial hours raw"
    stored = [(sketch_table("rollup_latency", flt), plan.per_level[0])]
    got = sketch_quantiles(sketch_bins(cur, flt, bucket_us, stored, plan.spans))
    for k, q in got.items():
        if k in out:
            out[k].quantiles = q


def score_histograms(
    cur: duckdb.DuckDBPyConnection, flt: EventFilter, bucket_us: int | None, policy: Policy
) -> dict[int, ScoreHistogram] | None:
    """See :func:`rollup_plan.score_histograms`."""
    b = _bucket(flt, bucket_us)

    def read(stored: list[tuple[str, Ranges]], spans: Ranges, minus: Ranges) -> ScoreRows:
        assert not minus, "DuckDB's policy reads partial hours raw"
        tables = [(source(table), *_where(flt, ranges)) for table, ranges in stored]
        return duckdb_scores.histogram_rows(cur, flt, bucket_us, tables, spans, b)

    return rollup_plan.score_histograms(flt, bucket_us, policy, read)
