"""Model-wide copies of the PostgreSQL sketch rollups: the latency bins and the score
histograms with version and group summed away, per hour and per day.

Why they exist, and only on PostgreSQL: its executor sums rollup rows one at a time, and a read
of a whole model from the per-version tables sums every version x group row of every bin (30
days of one model's latency bins at 10M events are 729k rows, 150 ms of grouping alone). These
tables hold the same sums already collapsed, about 6x fewer rows on the benchmark data, and a
window that filters neither version nor group reads them. They are written in the same
transaction as the per-version tables, from the same batch of effective event rows, so both
always agree. DuckDB keeps a model-wide copy of the hourly latency sketch only
(store/duckdb_rollups.py, MODEL_WIDE): its vectorised scans sum the per-version score bins fast
enough.

Per ten minutes there are model-wide sketches only (schema version 19, :data:`TEN_MINUTES`):
they answer most of a window's partial hours, whose raw events PostgreSQL reads looking each
event's feedback up by key, and live as long as the raw events.
"""

from __future__ import annotations

from modeltower.store import rollup_plan
from modeltower.store.base import EventFilter
from modeltower.store.rollup_plan import DAY_US, HOUR_US, TEN_MINUTES_US

LATENCY = "rollup_latency_model"
LATENCY_DAY = "rollup_latency_day_model"
# the model-wide counterpart of each per-version score histogram table
SCORE_TABLES = {"rollup_score": "rollup_score_model", "rollup_score_day": "rollup_score_day_model"}
TABLES = (LATENCY, LATENCY_DAY, *SCORE_TABLES.values())

KEY_COLUMNS = "model, minute"
_LATENCY_COLUMNS = """
    model TEXT COLLATE "C" NOT NULL, minute BIGINT NOT NULL,  -- the hour's (the day's) start
    bin INTEGER NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (model, minute, bin)
"""
_SCORE_COLUMNS = """
    model TEXT COLLATE "C" NOT NULL, minute BIGINT NOT NULL,  -- the hour's (the day's) start
    lab TEXT COLLATE "C" NOT NULL, bin INTEGER NOT NULL,
    n BIGINT NOT NULL, ln_p DOUBLE PRECISION NOT NULL, ln_1mp DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (model, minute, lab, bin)
"""
# (unit, latency table, score table) per level, the score tables under their model-wide names
UNITS = (
    (HOUR_US, LATENCY, SCORE_TABLES["rollup_score"]),
    (DAY_US, LATENCY_DAY, SCORE_TABLES["rollup_score_day"]),
)
# Schema version 19: the ten-minute sketches, model-wide only (rollup_plan.sketch_units says
# why), under the names DuckDB gives them. They live as long as the raw events (pg_retention).
LATENCY_10M = rollup_plan.LATENCY_10M
SCORE_10M = rollup_plan.SCORE_TABLES[TEN_MINUTES_US]
TEN_MINUTES = (TEN_MINUTES_US, LATENCY_10M, SCORE_10M)  # (unit, latency, score), as UNITS
TEN_MINUTE_TABLES = (LATENCY_10M, SCORE_10M)


def score_table(table: str, flt: EventFilter) -> str:
    """The score histogram table to read for ``flt`` in place of the per-version ``table``
    (the ten-minute one is model-wide already)."""
    return SCORE_TABLES.get(table, table) if rollup_plan.model_wide(flt) else table


def version_19_schema() -> str:
    """Schema version 19: the ten-minute tables (pg_rollups.version_19_sql fills them)."""
    return (
        f"CREATE TABLE {LATENCY_10M} ({_LATENCY_COLUMNS}); "
        f"CREATE TABLE {SCORE_10M} ({_SCORE_COLUMNS})"
    )


def key(unit_us: int) -> str:
    """The key columns' values of an event row (of the writer's batch) at this unit."""
    return f"model, ts / {unit_us} * {unit_us}"


def version_10_sql() -> str:
    """Schema version 10: these tables, built by summing the per-version rollups, and indexes
    on (model, minute) for the per-version reads that filter a version or a group."""
    sums = "sum(n), sum(ln_p), sum(ln_1mp)"
    day = f"minute / {DAY_US} * {DAY_US}"
    return ";\n".join(
        [
            *(f"CREATE TABLE {t} ({_LATENCY_COLUMNS})" for t in (LATENCY, LATENCY_DAY)),
            *(f"CREATE TABLE {t} ({_SCORE_COLUMNS})" for t in SCORE_TABLES.values()),
            f"INSERT INTO {LATENCY} SELECT model, minute, bin, sum(n) FROM rollup_latency "
            "GROUP BY 1, 2, 3",
            f"INSERT INTO {LATENCY_DAY} SELECT model, {day}, bin, sum(n) FROM rollup_latency "
            "GROUP BY 1, 2, 3",
            *(
                f"INSERT INTO {model} SELECT model, minute, lab, bin, {sums} FROM {table} "
                "GROUP BY 1, 2, 3, 4"
                for table, model in SCORE_TABLES.items()
            ),
            *(
                f"CREATE INDEX {t}_model_minute ON {t} (model, minute)"
                for t in ("rollup_latency", *SCORE_TABLES)
            ),
        ]
    )


def version_13_sql() -> str:
    """Schema version 13: the latency tables' primary keys carry ``n`` (INCLUDE), so a month's
    hourly bins (~114k rows of a model at 10M events) come from an index-only scan of about
    700 pages instead of a scan of the whole table: 51 → 32 ms on the benchmark data."""
    return ";\n".join(
        f"ALTER TABLE {t} DROP CONSTRAINT {t}_pkey, ADD PRIMARY KEY (model, minute, bin) "
        "INCLUDE (n)"
        for t in (LATENCY, LATENCY_DAY)
    )
