"""The score histogram of the PostgreSQL rollups: the counterpart of duckdb_scores.py (same
table, same bins, same sums), so both backends give the same numbers."""

from __future__ import annotations

from typing import Any

import psycopg

from modeltower.metrics.score_sketch import EPS, MULTI_BIN, SCORE_BINS
from modeltower.store import pg_reads
from modeltower.store.base import EventFilter
from modeltower.store.rollup_plan import ScoreRows, until

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


def histogram_rows(
    con: psycopg.Connection,
    flt: EventFilter,
    bucket_us: int | None,
    stored: list[tuple[str, str, list[Any]]],
    spans: list[tuple[int, int]],
    minus: list[tuple[int, int]],
    bucket: str,
) -> ScoreRows:
    """The histogram rows per bucket of the stored tables (``(table, where, params)`` of each,
    ``bucket`` its bucket expression), plus those of the raw events of ``flt`` in ``spans``,
    less those of its raw events in ``minus``: one statement, so that one snapshot holds what
    it subtracts. The raw events' feedback is looked up by key (a window's edges are few)."""
    parts: list[str] = []
    params: list[Any] = []
    for table, where, where_params in stored:
        parts.append(f"SELECT {bucket} AS bk, lab, bin, n, ln_p, ln_1mp FROM {table} WHERE {where}")
        params += where_params
    for sign, edges in ((1, spans), (-1, minus)):
        for lo, hi in edges:
            base, base_params = pg_reads.base(until(flt, hi), bucket_us, lo, per_event=True)
            parts.append(
                f"SELECT b, lab, {BIN_SQL} AS bin, {sign} * count(*), {sign} * {LN_P}, "
                f"{sign} * {LN_1MP} FROM ({base}) ev "
                f"WHERE {pg_reads.CLS} AND {SCORED} GROUP BY 1, 2, 3"
            )
            params += base_params
    if not parts:
        return []
    union = " UNION ALL ".join(f"({sql})" for sql in parts)
    rows: ScoreRows = con.execute(
        f"SELECT bk, lab, bin, sum(n)::bigint, sum(ln_p), sum(ln_1mp) FROM ({union}) AS r "
        "GROUP BY 1, 2, 3",
        params,
    ).fetchall()
    return rows
