"""Versioned schema migrations of the embedded DuckDB store, applied in order on open."""

from __future__ import annotations

import logging
import time

import duckdb

from modeltower.store import duckdb_keys, duckdb_retention, duckdb_rollups, duckdb_waiting
from modeltower.store.duckdb_tags import SCHEMA as TAG_SCHEMA

log = logging.getLogger(__name__)

# The columns after the key, the same since version 1 (versions 1 and 11 create the tables).
_EVENT_COLUMNS = """
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
"""
_FEEDBACK_COLUMNS = """
        model      VARCHAR NOT NULL,
        id         VARCHAR NOT NULL,
        label      VARCHAR,
        label_num  DOUBLE,
        converted  BOOLEAN,
        revenue    DOUBLE,
        updated_at BIGINT NOT NULL
"""
# Schema version 11: events and feedback rebuilt without their primary key on k, whose ART
# index DuckDB kept in memory (store/duckdb_keyset.py says what replaces it). Same columns, same
# row order (seq order matters to the writer's reads of the table's tail).
_VERSION_11 = f"""
    CREATE TABLE events_v11 (
        k            UHUGEINT NOT NULL,      -- md5_number(model || chr(0) || id): the event's key
        {_EVENT_COLUMNS}
    );
    INSERT INTO events_v11 SELECT * FROM events;
    DROP TABLE events;
    ALTER TABLE events_v11 RENAME TO events;
    CREATE TABLE feedback_v11 (
        k          UHUGEINT NOT NULL,        -- the event's key (one row per event)
        {_FEEDBACK_COLUMNS}
    );
    INSERT INTO feedback_v11 SELECT * FROM feedback;
    DROP TABLE feedback;
    ALTER TABLE feedback_v11 RENAME TO feedback;
"""

# Schema version 16: each feedback row carries the time of its event (NULL while the event has
# not come). Reads of a time range join only the feedback of that range: with no index on k,
# joining all of a model's feedback cost ~115 ms at 10M events even for a window of a minute
# (the edges of a long window), and the column's zone maps let DuckDB skip what is outside.
_VERSION_16 = """
    ALTER TABLE feedback ADD COLUMN ev_ts BIGINT;
    UPDATE feedback SET ev_ts = e.ts FROM events e WHERE e.k = feedback.k;
"""

# Each entry is applied once, in its own transaction, and recorded in schema_migrations.
# Never edit a released entry: append a new one.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        f"""
        CREATE TABLE events (
            k            UHUGEINT PRIMARY KEY,   -- md5_number(model || chr(0) || id): dedup key
            {_EVENT_COLUMNS}
        );
        CREATE TABLE feedback (
            k          UHUGEINT PRIMARY KEY,
            {_FEEDBACK_COLUMNS}
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
    (
        4,
        """
        -- alerting (alerts/): rules and channels created over the API (file ones live in memory)
        CREATE TABLE alert_rules (
            name        VARCHAR PRIMARY KEY,
            spec        VARCHAR NOT NULL,   -- JSON: the normalised rule
            created_at  BIGINT NOT NULL,
            updated_at  BIGINT NOT NULL
        );
        CREATE TABLE alert_channels (
            name        VARCHAR PRIMARY KEY,
            kind        VARCHAR NOT NULL,   -- 'slack' | 'pagerduty' | 'webhook'
            config      VARCHAR NOT NULL,   -- JSON, holds the channel's secrets
            created_at  BIGINT NOT NULL
        );
        -- the current state of every alert instance (one rule on one model and version)
        CREATE TABLE alert_states (
            fingerprint VARCHAR PRIMARY KEY,
            rule        VARCHAR NOT NULL,
            model       VARCHAR NOT NULL,
            version     VARCHAR,
            state       VARCHAR NOT NULL,
            since_us    BIGINT NOT NULL,
            active_us   BIGINT,
            fired_us    BIGINT,
            resolved_us BIGINT,
            last_eval_us BIGINT NOT NULL,
            last_true_us BIGINT,
            value       DOUBLE,
            baseline    DOUBLE,
            threshold   DOUBLE NOT NULL,
            samples     BIGINT,
            notified    VARCHAR NOT NULL,
            notified_us BIGINT,
            silenced    BOOLEAN NOT NULL,
            labels      VARCHAR NOT NULL,
            message     VARCHAR NOT NULL
        );
        CREATE SEQUENCE alert_history_seq;
        CREATE TABLE alert_history (
            id          BIGINT PRIMARY KEY DEFAULT nextval('alert_history_seq'),
            fingerprint VARCHAR NOT NULL,
            rule        VARCHAR NOT NULL,
            model       VARCHAR NOT NULL,
            version     VARCHAR,
            from_state  VARCHAR NOT NULL,
            to_state    VARCHAR NOT NULL,
            at_us       BIGINT NOT NULL,
            value       DOUBLE,
            baseline    DOUBLE,
            threshold   DOUBLE NOT NULL,
            silenced    BOOLEAN NOT NULL,
            labels      VARCHAR NOT NULL,
            message     VARCHAR NOT NULL
        );
        CREATE TABLE alert_silences (
            id          VARCHAR PRIMARY KEY,
            matchers    VARCHAR NOT NULL,   -- JSON: [[label, op, value], ...]
            starts_us   BIGINT NOT NULL,
            ends_us     BIGINT NOT NULL,
            created_us  BIGINT NOT NULL,
            created_by  VARCHAR NOT NULL,
            comment     VARCHAR NOT NULL
        );
        -- the notification outbox: a row per (state change, channel), delivered at least once
        CREATE SEQUENCE alert_outbox_seq;
        CREATE TABLE alert_outbox (
            id              BIGINT PRIMARY KEY DEFAULT nextval('alert_outbox_seq'),
            fingerprint     VARCHAR NOT NULL,
            rule            VARCHAR NOT NULL,
            channel         VARCHAR NOT NULL,
            kind            VARCHAR NOT NULL,   -- 'firing' | 'resolved' | 'reminder' | 'test'
            payload         VARCHAR NOT NULL,   -- JSON: what every channel renders from
            created_us      BIGINT NOT NULL,
            status          VARCHAR NOT NULL,   -- 'pending' | 'delivered' | 'failed'
            attempts        INTEGER NOT NULL,
            next_attempt_us BIGINT NOT NULL,
            last_error      VARCHAR,
            delivered_us    BIGINT
        );
        CREATE SEQUENCE alert_delivery_seq;
        CREATE TABLE alert_deliveries (
            id              BIGINT PRIMARY KEY DEFAULT nextval('alert_delivery_seq'),
            notification_id BIGINT NOT NULL,
            channel         VARCHAR NOT NULL,
            attempt         INTEGER NOT NULL,
            at_us           BIGINT NOT NULL,
            duration_ms     DOUBLE NOT NULL,
            status_code     INTEGER,
            outcome         VARCHAR NOT NULL,   -- 'delivered' | 'retry' | 'failed'
            error           VARCHAR
        );
        """,
    ),
    (
        5,
        # per-minute rollups (store/duckdb_rollups.py), filled from the events already stored
        duckdb_rollups.SCHEMA + ";\n".join(duckdb_rollups.add_sql("SELECT * FROM events")),
    ),
    (6, duckdb_retention.SCHEMA),  # retention cut-offs (store/duckdb_retention.py)
    (7, duckdb_rollups.version_7_sql()),  # hourly rollups, score histograms
    (8, duckdb_keys.SCHEMA),  # API keys and the session secret (store/duckdb_keys.py)
    (9, TAG_SCHEMA),  # known tag values per model and key (store/duckdb_tags.py)
    (10, duckdb_waiting.VERSION_10_SQL),  # feedback waiting for its event (duckdb_waiting.py)
    (11, _VERSION_11),  # events and feedback without a primary key (store/duckdb_keyset.py)
    (12, duckdb_rollups.VERSION_12_SQL),  # rollup deltas (store/duckdb_deltas.py)
    # (13 is PostgreSQL's own: covering keys of its model-wide latency tables)
    (14, duckdb_keys.ENDED_SESSIONS),  # signed-out dashboard sessions (store/duckdb_keys.py)
    (15, duckdb_rollups.VERSION_15_SQL),  # one table of rollup deltas for the seven
    (16, _VERSION_16),  # feedback.ev_ts: the time of the event a label is about
    # (17 is PostgreSQL's own: its minute-level rollups by model and minute)
    (18, duckdb_rollups.version_18_sql()),  # model-wide sketch tables (duckdb_rollups.py)
]


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations; return the schema version now in force."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT)"
    )
    applied = {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    current = max(applied, default=0)
    # Every version not applied yet, in order: a database that skipped one (a development
    # build) still gets it.
    for version, sql in sorted(MIGRATIONS):
        if version in applied:
            continue
        started = time.monotonic()
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
        if applied:  # an upgrade (some rebuild tables: say why the start takes a while)
            log.info("schema version %d applied in %.1f s", version, time.monotonic() - started)
        current = max(current, version)
    return current
