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


def stored_rows(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    where: str,
    params: list[Any],
    bucket: str,
) -> ScoreRows:
    """The stored histogram rows of ``table`` that ``where`` selects, per bucket."""
    rows: ScoreRows = cur.execute(
        f"SELECT {bucket} AS bk, lab, bin, sum(n), sum(ln_p), sum(ln_1mp) FROM {table} "
        f"WHERE {where} GROUP BY ALL",
        params,
    ).fetchall()
    return rows


def edge_rows(
    cur: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    bucket_us: int | None,
    spans: duckdb_reads.Spans,
) -> ScoreRows:
    """The histogram rows of the raw events of ``flt`` in ``spans``, per bucket."""
    if not spans:
        return []
    base, params = duckdb_reads._base(flt, bucket_us, spans)
    rows: ScoreRows = cur.execute(
        f"""
        WITH ev AS ({base})
        SELECT b, lab, {BIN_SQL} AS bin, count(*), {LN_P}, {LN_1MP}
        FROM ev WHERE {duckdb_reads._CLS} AND {SCORED} GROUP BY ALL
        """,
        params,
    ).fetchall()
    return rows
