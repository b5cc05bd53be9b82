"""The score histogram of the DuckDB rollups: per (model, version, group, hour, true label) the
positive-class scores of classified events in :data:`SCORE_BINS` bins, with the log-loss sums.

See metrics/score_sketch.py for what is computed from it and its error bound. Rows are kept per
true label, so a late label moves its event between rows (the writer subtracts the event's
contribution before the feedback and adds it after, as for the other rollup tables). Events
whose score is a class -> probability object are counted in :data:`MULTI_BIN` only.
"""

from __future__ import annotations

from typing import Any

import duckdb

from modeltower.metrics.score_sketch import EPS, MULTI_BIN, SCORE_BINS
from modeltower.store import duckdb_reads
from modeltower.store.base import EventFilter
from modeltower.store.rollup_plan import ScoreRows

_COLUMNS = """
    model VARCHAR NOT NULL, version VARCHAR NOT NULL, grp VARCHAR NOT NULL,
    minute BIGINT NOT NULL,  -- the hour's (the day's) start
    lab VARCHAR NOT NULL, bin INTEGER NOT NULL,
    n BIGINT NOT NULL, ln_p DOUBLE NOT NULL, ln_1mp DOUBLE NOT NULL,
    PRIMARY KEY (model, version, grp, minute, lab, bin)
"""
# per hour, and per day for windows of weeks and months
SCHEMA = f"CREATE TABLE rollup_score ({_COLUMNS}); CREATE TABLE rollup_score_day ({_COLUMNS})"

# The same arithmetic as metrics/score_sketch.py (score_bin, and sklearn's clipping).
BIN_SQL = (
    f"CASE WHEN scores IS NOT NULL THEN {MULTI_BIN} "
    f"ELSE least(floor(score * {SCORE_BINS}), {SCORE_BINS - 1})::INTEGER END"
)
LN_P = f"coalesce(sum(ln(greatest(least(score, {1 - EPS!r}), {EPS!r}))), 0)"
LN_1MP = f"coalesce(sum(ln(greatest(least(1.0 - score, {1 - EPS!r}), {EPS!r}))), 0)"
SCORED = "(score IS NOT NULL OR scores IS NOT NULL)"


def add_sql(ev: str, sign: int, key: str, cls: str, table: str) -> str:
    """The statement adding ``sign`` times the scored events of ``ev`` (a SELECT of effective
    event rows: feedback applied) to the histogram ``table`` (``key``: its key columns)."""
    s = int(sign)
    return f"""
        INSERT INTO {table}
        SELECT {key}, lab, {BIN_SQL}, {s} * count(*), {s} * {LN_P}, {s} * {LN_1MP}
        FROM ({ev}) e WHERE {cls} AND {SCORED} GROUP BY ALL
        ON CONFLICT DO UPDATE SET
            n = n + excluded.n, ln_p = ln_p + excluded.ln_p, ln_1mp = ln_1mp + excluded.ln_1mp
    """


def histogram_rows(
    cur: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    bucket_us: int | None,
    stored: list[tuple[str, str, list[Any]]],
    spans: duckdb_reads.Spans,
    bucket: str,
) -> ScoreRows:
    """The histogram rows per bucket of the stored tables (``(source, where, params)`` of each,
    ``bucket`` its bucket expression) and of the raw events of ``flt`` in ``spans``, in one
    statement (each costs a few milliseconds of planning of its own)."""
    parts: list[str] = []
    params: list[Any] = []
    for table, where, where_params in stored:
        parts.append(f"SELECT {bucket} AS bk, lab, bin, n, ln_p, ln_1mp FROM {table} WHERE {where}")
        params += where_params
    if spans:
        base, base_params = duckdb_reads._base(flt, bucket_us, spans)
        parts.append(
            f"SELECT b, lab, {BIN_SQL} AS bin, count(*), {LN_P}, {LN_1MP} FROM ({base}) ev "
            f"WHERE {duckdb_reads._CLS} AND {SCORED} GROUP BY ALL"
        )
        params += base_params
    if not parts:
        return []
    rows: ScoreRows = cur.execute(
        f"SELECT bk, lab, bin, sum(n), sum(ln_p), sum(ln_1mp) FROM ({' UNION ALL '.join(parts)}) "
        "GROUP BY ALL",
        params,
    ).fetchall()
    return rows
