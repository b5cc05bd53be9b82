"""The score histogram of the PostgreSQL rollups: the counterpart of duckdb_scores.py (same
table, same bins, same sums), so both backends give the same numbers."""

from __future__ import annotations

from typing import Any

import psycopg

from modeltower.metrics.score_sketch import EPS, MULTI_BIN, SCORE_BINS
from modeltower.store import pg_reads
from modeltower.store.base import EventFilter
from modeltower.store.rollup_plan import ScoreRows

_COLUMNS = """
    model TEXT COLLATE "C" NOT NULL, version TEXT COLLATE "C" NOT NULL,
    grp TEXT COLLATE "C" NOT NULL, minute BIGINT NOT NULL,  -- the hour's (the day's) start
    lab TEXT COLLATE "C" NOT NULL, bin INTEGER NOT NULL,
    n BIGINT NOT NULL, ln_p DOUBLE PRECISION NOT NULL, ln_1mp DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (model, version, grp, minute, lab, bin)
"""
SCHEMA = f"CREATE TABLE rollup_score ({_COLUMNS}); CREATE TABLE rollup_score_day ({_COLUMNS})"

BIN_SQL = (
    f"CASE WHEN scores IS NOT NULL THEN {MULTI_BIN} "
    f"ELSE least(floor(score * {SCORE_BINS}), {SCORE_BINS - 1})::integer END"
)
LN_P = f"coalesce(sum(ln(greatest(least(score, {1 - EPS!r}), {EPS!r}))), 0)"
LN_1MP = f"coalesce(sum(ln(greatest(least(1.0 - score, {1 - EPS!r}), {EPS!r}))), 0)"
SCORED = "(score IS NOT NULL OR scores IS NOT NULL)"


def add_sql(
    source: str,
    sign: int,
    key: str,
    cls: str,
    table: str,
    key_columns: str = "model, version, grp, minute",
) -> str:
    """The statement adding ``sign`` times the scored events of ``source`` (a table or SELECT
    of effective event rows: feedback applied) to the histogram ``table``, whose rows are keyed
    by ``key_columns`` (computed by ``key``), the label and the bin."""
    s = int(sign)
    group = ", ".join(str(i + 1) for i in range(key_columns.count(",") + 3))
    return f"""
        INSERT INTO {table} AS r
        SELECT {key}, lab, {BIN_SQL}, {s} * count(*), {s} * {LN_P}, {s} * {LN_1MP}
        FROM {source} e WHERE {cls} AND {SCORED} GROUP BY {group}
        ON CONFLICT ({key_columns}, lab, bin) DO UPDATE SET
            n = r.n + excluded.n, ln_p = r.ln_p + excluded.ln_p,
            ln_1mp = r.ln_1mp + excluded.ln_1mp
    """


def stored_rows(
    con: psycopg.Connection,
    table: str,
    where: str,
    params: list[Any],
    bucket: str,
) -> ScoreRows:
    """The stored histogram rows of ``table`` that ``where`` selects, per bucket."""
    rows: ScoreRows = con.execute(
        f"SELECT {bucket} AS bk, lab, bin, sum(n)::bigint, sum(ln_p), sum(ln_1mp) FROM {table} "
        f"WHERE {where} GROUP BY 1, 2, 3",
        params,
    ).fetchall()
    return rows


def edge_rows(
    con: psycopg.Connection,
    flt: EventFilter,
    bucket_us: int | None,
    start_us: int | None,
) -> ScoreRows:
    """The histogram rows of the raw events of ``flt`` (from ``start_us``), per bucket."""
    base, params = pg_reads.base(flt, bucket_us, start_us, per_event=True)
    rows: ScoreRows = con.execute(
        f"""
        WITH ev AS ({base})
        SELECT b, lab, {BIN_SQL} AS bin, count(*), {LN_P}, {LN_1MP}
        FROM ev WHERE {pg_reads.CLS} AND {SCORED} GROUP BY 1, 2, 3
        """,
        params,
    ).fetchall()
    return rows
