"""Versioned schema migrations of the PostgreSQL store, applied in order on open.

The versions and tables are those of :mod:`modeltower.store.duckdb_schema`. Text columns use the
"C" collation, so that sorting and comparing are by code point, as in DuckDB. Events and feedback
are keyed by (model, id) directly instead of DuckDB's hash of the two.
"""

from __future__ import annotations

import time

import psycopg

from modeltower.store import pg_keys, pg_model_rollups, pg_retention, pg_rollups
from modeltower.store.pg_tags import SCHEMA as TAG_SCHEMA

# Taken (for the transaction) by every migration run and by every write: two processes starting
# on one database do not race, and writes of several processes commit one at a time.
LOCK_MIGRATE = 0x6D74_0001
LOCK_WRITE = 0x6D74_0002

# Each entry is applied once, in its own transaction, and recorded in schema_migrations.
# Never edit a released entry: append a new one.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE events (
            seq            BIGINT NOT NULL,           -- commit order, for incremental jobs
            model          TEXT COLLATE "C" NOT NULL,
            id             TEXT COLLATE "C" NOT NULL,
            version        TEXT COLLATE "C",
            ts             BIGINT NOT NULL,           -- event time, epoch microseconds UTC
            received_at    BIGINT NOT NULL,
            prediction     TEXT COLLATE "C",          -- canonical string form
            prediction_num DOUBLE PRECISION,          -- numeric form when it was a number
            score          DOUBLE PRECISION,
            scores         TEXT COLLATE "C",          -- JSON object class -> probability
            label          TEXT COLLATE "C",
            label_num      DOUBLE PRECISION,
            latency_ms     DOUBLE PRECISION,
            error          TEXT COLLATE "C",
            features       TEXT COLLATE "C",          -- JSON object, as received
            tags           TEXT COLLATE "C",          -- JSON object
            grp            TEXT COLLATE "C",
            converted      BOOLEAN,
            revenue        DOUBLE PRECISION,
            input_hash     TEXT COLLATE "C",
            PRIMARY KEY (model, id)
        );
        CREATE UNIQUE INDEX events_seq ON events (seq);
        CREATE INDEX events_model_ts ON events (model, ts);
        CREATE TABLE feedback (
            model      TEXT COLLATE "C" NOT NULL,
            id         TEXT COLLATE "C" NOT NULL,
            label      TEXT COLLATE "C",
            label_num  DOUBLE PRECISION,
            converted  BOOLEAN,
            revenue    DOUBLE PRECISION,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (model, id)
        );
        -- user-declared settings; which models and versions exist is derived from events
        CREATE TABLE models (
            model          TEXT COLLATE "C" PRIMARY KEY,
            task           TEXT COLLATE "C",
            positive_label TEXT COLLATE "C"
        );
        """,
    ),
    (
        2,
        """
        CREATE TABLE snapshots (
            model             TEXT COLLATE "C" NOT NULL,
            version           TEXT COLLATE "C",   -- NULL: all versions of the model together
            window_start      BIGINT NOT NULL,
            window_end        BIGINT NOT NULL,
            created_at        BIGINT NOT NULL,
            task              TEXT COLLATE "C",
            total_predictions BIGINT NOT NULL,
            labeled_count     BIGINT NOT NULL,
            accuracy          DOUBLE PRECISION,
            f1                DOUBLE PRECISION,
            mae               DOUBLE PRECISION,
            rmse              DOUBLE PRECISION,
            latency_mean_ms   DOUBLE PRECISION,
            latency_p95_ms    DOUBLE PRECISION,
            latency_p99_ms    DOUBLE PRECISION,
            error_rate        DOUBLE PRECISION,
            label_coverage    DOUBLE PRECISION
        );
        CREATE INDEX snapshots_model_end ON snapshots (model, window_end);
        """,
    ),
    (
        3,
        """
        CREATE TABLE drift_references (
            model       TEXT COLLATE "C" PRIMARY KEY,
            ref_id      BIGINT NOT NULL,
            kind        TEXT COLLATE "C" NOT NULL,
            spec        TEXT COLLATE "C" NOT NULL,
            status      TEXT COLLATE "C" NOT NULL,
            created_at  BIGINT NOT NULL,
            row_count   BIGINT NOT NULL,
            settings    TEXT COLLATE "C" NOT NULL,
            profile     TEXT COLLATE "C"
        );
        CREATE TABLE reference_rows (
            ref_id         BIGINT NOT NULL,
            features       TEXT COLLATE "C",
            prediction     TEXT COLLATE "C",
            prediction_num DOUBLE PRECISION,
            score          DOUBLE PRECISION
        );
        CREATE INDEX reference_rows_ref ON reference_rows (ref_id);
        CREATE TABLE drift_summaries (
            ref_id   BIGINT NOT NULL,
            version  TEXT COLLATE "C" NOT NULL,
            grp      TEXT COLLATE "C" NOT NULL,
            hour     BIGINT NOT NULL,
            feature  TEXT COLLATE "C" NOT NULL,
            key      TEXT COLLATE "C" NOT NULL,
            n        BIGINT NOT NULL,
            lo       DOUBLE PRECISION,
            hi       DOUBLE PRECISION,
            PRIMARY KEY (ref_id, version, grp, hour, feature, key)
        );
        CREATE TABLE drift_progress (
            ref_id   BIGINT PRIMARY KEY,
            last_seq BIGINT NOT NULL
        );
        """,
    ),
    (
        4,
        """
        CREATE TABLE alert_rules (
            name        TEXT COLLATE "C" PRIMARY KEY,
            spec        TEXT COLLATE "C" NOT NULL,
            created_at  BIGINT NOT NULL,
            updated_at  BIGINT NOT NULL
        );
        CREATE TABLE alert_channels (
            name        TEXT COLLATE "C" PRIMARY KEY,
            kind        TEXT COLLATE "C" NOT NULL,
            config      TEXT COLLATE "C" NOT NULL,
            created_at  BIGINT NOT NULL
        );
        CREATE TABLE alert_states (
            fingerprint TEXT COLLATE "C" PRIMARY KEY,
            rule        TEXT COLLATE "C" NOT NULL,
            model       TEXT COLLATE "C" NOT NULL,
            version     TEXT COLLATE "C",
            state       TEXT COLLATE "C" NOT NULL,
            since_us    BIGINT NOT NULL,
            active_us   BIGINT,
            fired_us    BIGINT,
            resolved_us BIGINT,
            last_eval_us BIGINT NOT NULL,
            last_true_us BIGINT,
            value       DOUBLE PRECISION,
            baseline    DOUBLE PRECISION,
            threshold   DOUBLE PRECISION NOT NULL,
            samples     BIGINT,
            notified    TEXT COLLATE "C" NOT NULL,
            notified_us BIGINT,
            silenced    BOOLEAN NOT NULL,
            labels      TEXT COLLATE "C" NOT NULL,
            message     TEXT COLLATE "C" NOT NULL
        );
        CREATE SEQUENCE alert_history_seq;
        CREATE TABLE alert_history (
            id          BIGINT PRIMARY KEY DEFAULT nextval('alert_history_seq'),
            fingerprint TEXT COLLATE "C" NOT NULL,
            rule        TEXT COLLATE "C" NOT NULL,
            model       TEXT COLLATE "C" NOT NULL,
            version     TEXT COLLATE "C",
            from_state  TEXT COLLATE "C" NOT NULL,
            to_state    TEXT COLLATE "C" NOT NULL,
            at_us       BIGINT NOT NULL,
            value       DOUBLE PRECISION,
            baseline    DOUBLE PRECISION,
            threshold   DOUBLE PRECISION NOT NULL,
            silenced    BOOLEAN NOT NULL,
            labels      TEXT COLLATE "C" NOT NULL,
            message     TEXT COLLATE "C" NOT NULL
        );
        CREATE TABLE alert_silences (
            id          TEXT COLLATE "C" PRIMARY KEY,
            matchers    TEXT COLLATE "C" NOT NULL,
            starts_us   BIGINT NOT NULL,
            ends_us     BIGINT NOT NULL,
            created_us  BIGINT NOT NULL,
            created_by  TEXT COLLATE "C" NOT NULL,
            comment     TEXT COLLATE "C" NOT NULL
        );
        CREATE SEQUENCE alert_outbox_seq;
        CREATE TABLE alert_outbox (
            id              BIGINT PRIMARY KEY DEFAULT nextval('alert_outbox_seq'),
            fingerprint     TEXT COLLATE "C" NOT NULL,
            rule            TEXT COLLATE "C" NOT NULL,
            channel         TEXT COLLATE "C" NOT NULL,
            kind            TEXT COLLATE "C" NOT NULL,
            payload         TEXT COLLATE "C" NOT NULL,
            created_us      BIGINT NOT NULL,
            status          TEXT COLLATE "C" NOT NULL,
            attempts        INTEGER NOT NULL,
            next_attempt_us BIGINT NOT NULL,
            last_error      TEXT COLLATE "C",
            delivered_us    BIGINT
        );
        CREATE INDEX alert_outbox_status ON alert_outbox (status, fingerprint, channel);
        CREATE SEQUENCE alert_delivery_seq;
        CREATE TABLE alert_deliveries (
            id              BIGINT PRIMARY KEY DEFAULT nextval('alert_delivery_seq'),
            notification_id BIGINT NOT NULL,
            channel         TEXT COLLATE "C" NOT NULL,
            attempt         INTEGER NOT NULL,
            at_us           BIGINT NOT NULL,
            duration_ms     DOUBLE PRECISION NOT NULL,
            status_code     INTEGER,
            outcome         TEXT COLLATE "C" NOT NULL,
            error           TEXT COLLATE "C"
        );
        """,
    ),
    (
        5,
        # per-minute rollups (store/pg_rollups.py), filled from the events already stored
        pg_rollups.SCHEMA
        + ";\n".join(pg_rollups.add_sql("SELECT * FROM events", 1, True, current=False)),
    ),
    (6, pg_retention.SCHEMA),  # retention cut-offs (store/pg_retention.py)
    (7, pg_rollups.version_7_sql()),  # hourly rollups, score histograms
    (8, pg_keys.SCHEMA),  # API keys and the session secret (store/pg_keys.py)
    (9, TAG_SCHEMA),  # known tag values per model and key (store/pg_tags.py)
    (10, pg_model_rollups.version_10_sql()),  # model-wide sketch rollups (pg_model_rollups.py)
    # (11 and 12 are DuckDB's own: its key set and rollup deltas)
    (13, pg_model_rollups.version_13_sql()),  # covering keys of the model-wide latency bins
    (14, pg_keys.ENDED_SESSIONS),  # signed-out dashboard sessions (store/pg_keys.py)
    # (15 and 16 are DuckDB's own: one delta table, feedback with its event's time)
    (17, pg_rollups.VERSION_17_SQL),  # the minute-level rollups by model and minute
    # (18 is DuckDB's own: its model-wide sketch tables, as 10 here)
    (19, pg_rollups.version_19_sql()),  # ten-minute model-wide sketches (pg_model_rollups.py)
]


def migrate(con: psycopg.Connection) -> int:
    """Apply pending migrations (an autocommit connection); return the schema version in force.

    Each version commits on its own; an advisory lock held for the transaction keeps a second
    process that starts at the same time waiting until the first has applied it."""
    current = 0
    for version, ddl in sorted(MIGRATIONS):  # in version order, however the list was appended
        with con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_MIGRATE])
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at BIGINT)"
            )
            rows = con.execute("SELECT version FROM schema_migrations").fetchall()
            applied = {int(r[0]) for r in rows}
            current = max(applied, default=0)
            # every version not applied yet, in order (also one a development build skipped)
            if version in applied:
                continue
            con.execute(ddl)
            con.execute(
                "INSERT INTO schema_migrations VALUES (%s, %s)", [version, int(time.time() * 1e6)]
            )
            current = max(current, version)
    return current
