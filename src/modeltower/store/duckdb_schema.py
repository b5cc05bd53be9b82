"""Versioned schema migrations of the embedded DuckDB store, applied in order on open."""

from __future__ import annotations

import time

import duckdb

# Each entry is applied once, in its own transaction, and recorded in schema_migrations.
# Never edit a released entry: append a new one.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE events (
            k            UHUGEINT PRIMARY KEY,   -- md5_number(model || chr(0) || id): dedup key
            seq          BIGINT NOT NULL,        -- insertion order, for incremental jobs
            model        VARCHAR NOT NULL,
            id           VARCHAR NOT NULL,
            version      VARCHAR,
            ts           BIGINT NOT NULL,        -- event time, epoch microseconds UTC
            received_at  BIGINT NOT NULL,
            prediction   VARCHAR,                -- canonical string form
            prediction_num DOUBLE,               -- numeric form when the prediction was a number
            score        DOUBLE,
            scores       VARCHAR,                -- JSON object class -> probability
            label        VARCHAR,
            label_num    DOUBLE,
            latency_ms   DOUBLE,
            error        VARCHAR,
            features     VARCHAR,                -- JSON object
            tags         VARCHAR,                -- JSON object
            grp          VARCHAR,
            converted    BOOLEAN,
            revenue      DOUBLE,
            input_hash   VARCHAR
        );
        CREATE TABLE feedback (
            k          UHUGEINT PRIMARY KEY,
            model      VARCHAR NOT NULL,
            id         VARCHAR NOT NULL,
            label      VARCHAR,
            label_num  DOUBLE,
            converted  BOOLEAN,
            revenue    DOUBLE,
            updated_at BIGINT NOT NULL
        );
        -- user-declared settings; which models and versions exist is derived from events
        CREATE TABLE models (
            model          VARCHAR PRIMARY KEY,
            task           VARCHAR,
            positive_label VARCHAR
        );
        """,
    ),
    (
        2,
        """
        -- periodic and on-demand health snapshots (jobs/snapshots.py); values as /metrics gives
        CREATE TABLE snapshots (
            model             VARCHAR NOT NULL,
            version           VARCHAR,        -- NULL: all versions of the model together
            window_start      BIGINT NOT NULL, -- epoch microseconds UTC, inclusive
            window_end        BIGINT NOT NULL, -- exclusive
            created_at        BIGINT NOT NULL,
            task              VARCHAR,
            total_predictions BIGINT NOT NULL,
            labeled_count     BIGINT NOT NULL,
            accuracy          DOUBLE,
            f1                DOUBLE,
            mae               DOUBLE,
            rmse              DOUBLE,
            latency_mean_ms   DOUBLE,
            latency_p95_ms    DOUBLE,
            latency_p99_ms    DOUBLE,
            error_rate        DOUBLE,
            label_coverage    DOUBLE
        );
        """,
    ),
    (
        3,
        """
        -- one drift reference per model (services/reference.py); ref_id changes whenever the rows
        -- or the feature types change, so summaries of an older reference are never mixed in
        CREATE TABLE drift_references (
            model       VARCHAR PRIMARY KEY,
            ref_id      BIGINT NOT NULL,
            kind        VARCHAR NOT NULL,   -- 'dataset' | 'window'
            spec        VARCHAR NOT NULL,   -- JSON: file name and format, or the window
            status      VARCHAR NOT NULL,   -- 'collecting' (window not over yet) | 'ready'
            created_at  BIGINT NOT NULL,
            row_count   BIGINT NOT NULL,
            settings    VARCHAR NOT NULL,   -- JSON: per-feature type/method/threshold, drift share
            profile     VARCHAR             -- JSON: feature types and trend bins (derived)
        );
        -- the reference's rows, shaped like events so that one extraction serves both
        CREATE TABLE reference_rows (
            ref_id         BIGINT NOT NULL,
            features       VARCHAR,
            prediction     VARCHAR,
            prediction_num DOUBLE,
            score          DOUBLE
        );
        -- per-hour histograms of every feature on reference-derived bins (jobs/drift_summaries.py)
        CREATE TABLE drift_summaries (
            ref_id   BIGINT NOT NULL,
            version  VARCHAR NOT NULL,      -- '' for events without a version
            grp      VARCHAR NOT NULL,      -- '' for events without a group
            hour     BIGINT NOT NULL,       -- epoch microseconds of the hour's start
            feature  VARCHAR NOT NULL,
            key      VARCHAR NOT NULL,      -- bin '#i', category (JSON text) or '~missing' …
            n        BIGINT NOT NULL,
            lo       DOUBLE,
            hi       DOUBLE,
            PRIMARY KEY (ref_id, version, grp, hour, feature, key)
        );
        -- how far (events.seq) each reference's summaries have been brought up to date
        CREATE TABLE drift_progress (
            ref_id   BIGINT PRIMARY KEY,
            last_seq BIGINT NOT NULL
        );
        """,
    ),
]


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations; return the schema version now in force."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT)"
    )
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0]
    current = int(row[0]) if row else 0
    for version, sql in MIGRATIONS:
        if version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?)", [version, int(time.time() * 1e6)]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        current = version
    return current
