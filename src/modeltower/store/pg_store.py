"""The PostgreSQL store: a connection pool for reads, one pooled connection for the writer.

Writes of every process using the database commit one at a time: each write transaction takes
a transaction-level advisory lock before it numbers its events after the newest committed one,
so ``events.seq`` order is commit order even with several server processes (what the drift job
and the Prometheus counters rely on when they read "events stored after seq X"). Events are
copied into a temporary table before the lock is taken, then moved with one
``DELETE ... RETURNING`` of the already stored ones (the duplicates) and one
``INSERT ... SELECT`` numbering the rest without gaps.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pyarrow as pa

from modeltower.ingest.schema import EventColumns, FeedbackColumns
from modeltower.metrics.score_sketch import ScoreHistogram
from modeltower.store import (
    key_sql,
    pg_alerts,
    pg_drift,
    pg_features,
    pg_health,
    pg_reads,
    pg_retention,
    pg_rollups,
)
from modeltower.store.alert_types import (
    ALERT_OPS,
    AlertState,
    AlertTransition,
    DeliveryAttempt,
    HistoryFilter,
    Notification,
    NotificationFilter,
    Silence,
    StoredChannel,
    StoredRule,
)
from modeltower.store.availability import Availability
from modeltower.store.base import (
    AddDriftSummaries,
    ColumnSpec,
    DailyHealth,
    DeleteReference,
    EnforceRetention,
    EventFilter,
    FeatureData,
    FillReference,
    HealthSnapshot,
    InsertEvents,
    InsertResult,
    InsertSnapshots,
    KeyCounts,
    ModelInfo,
    ModelSettings,
    OpsCounts,
    PutModelSettings,
    ReferenceRecord,
    ScoredRows,
    SetReference,
    Store,
    SummaryRows,
    UpdateReference,
    UpsertFeedback,
    WindowAggregate,
    WriteOp,
)
from modeltower.store.duckdb_rollups import Policy
from modeltower.store.duckdb_store import model_info
from modeltower.store.key_types import KEY_OPS, ApiKeyRecord
from modeltower.store.pg_conn import Connections
from modeltower.store.pg_leader import Leadership
from modeltower.store.pg_schema import LOCK_WRITE, migrate
from modeltower.store.pg_tags import apply_tag_op, read_tag_stats, read_tag_values
from modeltower.store.query_timeout import pg_deadline
from modeltower.store.registry import Registry
from modeltower.store.tag_types import TAG_OPS, TagKeyStats

# Column order of the COPY into the temporary table (and of the rows written to it).
_COPY_COLS = [
    "i",
    "model",
    "id",
    "version",
    "ts",
    "received_at",
    "prediction",
    "prediction_num",
    "score",
    "scores",
    "label",
    "label_num",
    "latency_ms",
    "error",
    "features",
    "tags",
    "grp",
    "converted",
    "revenue",
    "input_hash",
]
_FLOAT_COLS = {"prediction_num", "score", "label_num", "latency_ms", "revenue"}
_EVENT_COLS = _COPY_COLS[1:]
_CREATE_BATCH = """
    CREATE TEMP TABLE IF NOT EXISTS batch_events (
        i BIGINT, model TEXT COLLATE "C", id TEXT COLLATE "C", version TEXT COLLATE "C",
        ts BIGINT, received_at BIGINT, prediction TEXT COLLATE "C", prediction_num FLOAT8,
        score FLOAT8, scores TEXT COLLATE "C", label TEXT COLLATE "C", label_num FLOAT8,
        latency_ms FLOAT8, error TEXT COLLATE "C", features TEXT COLLATE "C",
        tags TEXT COLLATE "C", grp TEXT COLLATE "C", converted BOOLEAN, revenue FLOAT8,
        input_hash TEXT COLLATE "C"
    ) ON COMMIT DELETE ROWS
"""
_COPY_EVENTS = f"COPY batch_events ({', '.join(_COPY_COLS)}) FROM STDIN"
# Under the write lock no other transaction inserts events: the rows already stored are found
# first, so that the others are numbered without gaps.
_DROP_DUPLICATES = (
    "DELETE FROM batch_events b USING events e WHERE e.model = b.model AND e.id = b.id "
    "RETURNING b.i"
)
_INSERT_EVENTS = (
    f"INSERT INTO events (seq, {', '.join(_EVENT_COLS)}) "
    f"SELECT %s::bigint + row_number() OVER (ORDER BY i), {', '.join(_EVENT_COLS)} "
    "FROM batch_events ORDER BY i"
)
_UPSERT_FEEDBACK = """
    INSERT INTO feedback AS f (model, id, label, label_num, converted, revenue, updated_at)
    SELECT m, i, l, ln, c, r, %s::bigint
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::float8[], %s::boolean[], %s::float8[])
         AS u(m, i, l, ln, c, r)
    ON CONFLICT (model, id) DO UPDATE SET
        label = coalesce(excluded.label, f.label),
        label_num = CASE WHEN excluded.label IS NOT NULL THEN excluded.label_num
                         ELSE f.label_num END,
        converted = coalesce(excluded.converted, f.converted),
        revenue = coalesce(excluded.revenue, f.revenue),
        updated_at = excluded.updated_at
"""
_MATCHED_FEEDBACK = """
    SELECT u.m, u.i FROM unnest(%s::text[], %s::text[]) AS u(m, i)
    JOIN events e ON e.model = u.m AND e.id = u.i
"""


class _Registry(Registry):
    """The in-memory registry, also fed with aggregated rows (events of other processes)."""

    def add_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows of (model, version or '', first, last, count, saw_numeric, saw_categorical)."""
        with self._lock:
            for model, version, first, last, count, num, cat in rows:
                self._add(model, version, int(first), int(last), int(count), bool(num), bool(cat))


class PostgresStore(Store):
    """Store backed by a PostgreSQL database (psycopg 3)."""

    def __init__(self, url: str, *, readers: int = 4, timeout_s: float = 10.0) -> None:
        self.url = url
        self._readers = readers
        self._timeout = timeout_s
        self._rpool: Connections | None = None
        self._wpool: Connections | None = None
        # While PostgreSQL is gone (or refuses writes) requests fail fast with 503.
        self.availability = Availability("PostgreSQL")
        self.registry = _Registry()
        # The newest events.seq the registry accounts for; guarded by _reg_lock.
        self._reg_seq = 0
        self._reg_lock = threading.Lock()
        # Exact percentiles sort the window's latencies on the server: past 50,000 of them that
        # took PostgreSQL 100-200 ms, so larger windows take the sketch (within 1 %) sooner.
        # Its edges look each event's feedback up by key, ~2 µs an event: the ten-minute
        # sketches and the complemented edges keep a window's raw events few.
        self.rollup_policy = Policy(
            exact_quantiles_max=50_000, ten_minutes=True, complement_edges=True
        )
        self._leadership = Leadership(url)

    # ---- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as con:
            migrate(con)
        # Connections are made on demand with a bounded connect timeout (store/pg_conn.py).
        self._rpool = Connections(
            self.url,
            self.availability,
            max_size=max(self._readers, 1) * 2,
            wait_s=self._timeout,
            configure=_configure_reader,
        )
        self._wpool = Connections(
            self.url,
            self.availability,
            max_size=1,
            wait_s=self._timeout,
            configure=_configure_writer,
        )
        self._sync_registry()
        self._load_retention()

    def close(self) -> None:
        self._leadership.close()  # another process takes over the jobs
        for pool in (self._wpool, self._rpool):
            if pool is not None:
                pool.close()
        self._wpool = self._rpool = None

    @contextmanager
    def reader(self) -> Iterator[psycopg.Connection]:
        """Borrow a pooled connection (autocommit: each statement sees the latest commits)."""
        assert self._rpool is not None, "store is not open"
        with self._rpool.connection() as con, pg_deadline(con, self.query_timeout_s):
            yield con

    def ping(self) -> None:
        """One round trip to the database; StoreUnavailable when it does not answer."""
        with self.reader() as con:
            con.execute("SELECT 1")

    # ---- writes ----------------------------------------------------------------------------
    def write(self, ops: list[WriteOp]) -> list[Any]:
        """One transaction for the whole group, committed before this returns. An unreachable,
        full or read-only database raises StoreUnavailable (the writer answers 503); the next
        write connects anew."""
        assert self._wpool is not None, "store is not open"
        inserted: list[tuple[int, pa.Table]] = []
        with self._wpool.connection() as con, con.transaction():
            results: list[Any] = [None] * len(ops)
            inserts = [(j, op) for j, op in enumerate(ops) if isinstance(op, InsertEvents)]
            staged = self._stage_events(con, [op.columns for _, op in inserts]) if inserts else None
            # From here on, writes of every process are serialised until this one commits.
            con.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_WRITE])
            if staged is not None:
                per_op, base_seq, table = self._insert_events(con, *staged)
                for (j, _), res in zip(inserts, per_op, strict=True):
                    results[j] = res
                if table.num_rows:
                    inserted.append((base_seq, table))
                    pg_rollups.add(
                        con,
                        "SELECT * FROM events WHERE seq > %s::bigint AND seq <= %s::bigint",
                        [base_seq, base_seq + table.num_rows],
                        1,
                        sketch=True,
                    )
            for j, op in enumerate(ops):
                if isinstance(op, UpsertFeedback):
                    results[j] = self._upsert_feedback(con, op.columns)
                elif isinstance(op, PutModelSettings):
                    self._put_settings(con, op.model, op.settings)
                    results[j] = True
                elif isinstance(op, InsertSnapshots):
                    results[j] = pg_health.insert_snapshots(con, op.snapshots)
                elif isinstance(op, SetReference):
                    results[j] = pg_drift.set_reference(con, op)
                elif isinstance(op, UpdateReference):
                    results[j] = pg_drift.update_reference(con, op)
                elif isinstance(op, FillReference):
                    results[j] = pg_drift.fill_collecting(con, op.model, op.ref_id, op.window)
                elif isinstance(op, DeleteReference):
                    results[j] = pg_drift.delete_reference(con, op.model)
                elif isinstance(op, AddDriftSummaries):
                    results[j] = pg_drift.add_summaries(con, op.ref_id, op.rows, op.last_seq)
                elif isinstance(op, EnforceRetention):
                    results[j] = pg_retention.apply(con, op)
                elif isinstance(op, ALERT_OPS):
                    results[j] = pg_alerts.apply(con, op)
                elif isinstance(op, TAG_OPS):
                    results[j] = apply_tag_op(con, op)
                elif isinstance(op, KEY_OPS):
                    results[j] = key_sql.apply(con, op, "%s")
        self.availability.mark_writable()
        # Committed: the registry learns of the new events (unless another process's events
        # came in between, which the next read of the registry picks up from the database).
        for base_seq, table in inserted:
            with self._reg_lock:
                if self._reg_seq == base_seq:
                    self.registry.add_batch(table)
                    self._reg_seq = int(pa.compute.max(table.column("seq")).as_py())
        for op in ops:
            if isinstance(op, PutModelSettings):
                self.registry.ensure(op.model)
            elif isinstance(op, EnforceRetention):
                self._load_retention()
        return results

    def _load_retention(self) -> None:
        with self.reader() as con:
            raw_before, _ = pg_retention.cutoffs(con)
        self.rollup_policy = dataclasses.replace(self.rollup_policy, raw_from_us=raw_before)

    def is_leader(self, job: str) -> bool:
        """One process of those on this database runs each job (an advisory lock per job)."""
        return self._leadership.is_leader(job)

    @staticmethod
    def _stage_events(
        con: psycopg.Connection, batches: list[EventColumns]
    ) -> tuple[list[EventColumns], list[bool], EventColumns]:
        """Copy the group's events (first occurrence of each (model, id) only) into the
        temporary table, numbered 0.. in arrival order."""
        seen: set[tuple[str, str]] = set()
        keep: list[bool] = []
        for cols in batches:
            for key in zip(cols.model, cols.id, strict=True):
                if key in seen:
                    keep.append(False)
                else:
                    seen.add(key)
                    keep.append(True)
        merged = batches[0] if len(batches) == 1 else EventColumns()
        if len(batches) > 1:
            for cols in batches:
                merged.extend(cols)
        now_us = int(time.time() * 1_000_000)
        n = len(merged)
        values: dict[str, list[Any]] = {"received_at": [now_us] * n}
        for name in _COPY_COLS[1:]:
            if name not in values:
                col = getattr(merged, name)
                if name in _FLOAT_COLS:
                    col = [None if v is None else float(v) for v in col]
                values[name] = col
        columns = [values[name] for name in _COPY_COLS[1:]]
        with con.cursor().copy(_COPY_EVENTS) as copy:
            i = 0
            for k, row in zip(keep, zip(*columns, strict=True), strict=True):
                if k:
                    copy.write_row((i, *row))
                    i += 1
        return batches, keep, merged

    @staticmethod
    def _insert_events(
        con: psycopg.Connection, batches: list[EventColumns], keep: list[bool], merged: EventColumns
    ) -> tuple[list[InsertResult], int, pa.Table]:
        row = con.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        base_seq = int(row[0]) if row else 0
        stored = [True] * sum(keep)
        for (i,) in con.execute(_DROP_DUPLICATES).fetchall():
            stored[i] = False
        n_new = sum(stored)
        if n_new:
            con.execute(_INSERT_EVENTS, [base_seq])
        # Map the kept rows' outcome back to every row of every request.
        outcome: list[bool] = []
        it = iter(stored)
        for k in keep:
            outcome.append(next(it) if k else False)
        results: list[InsertResult] = []
        pos = 0
        for cols in batches:
            m = len(cols)
            results.append(
                InsertResult(ids=cols.id, duplicate=[not x for x in outcome[pos : pos + m]])
            )
            pos += m
        mask = pa.array(outcome, pa.bool_())
        kept_seq: list[int | None] = [None] * len(outcome)
        for n, idx in enumerate(i for i, x in enumerate(outcome) if x):
            kept_seq[idx] = base_seq + 1 + n
        table = pa.table(
            {
                "model": pa.array(merged.model, pa.string()),
                "version": pa.array(merged.version, pa.string()),
                "ts": pa.array(merged.ts, pa.int64()),
                "prediction": pa.array(merged.prediction, pa.string()),
                "prediction_num": pa.array(merged.prediction_num, pa.float64()),
                "seq": pa.array(kept_seq, pa.int64()),
            }
        ).filter(mask)
        return results, base_seq, table

    @staticmethod
    def _upsert_feedback(con: psycopg.Connection, cols: FeedbackColumns) -> set[tuple[str, str]]:
        # Later items of the batch win field by field (non-null values), as one by one would.
        merged: dict[tuple[str, str], list[Any]] = {}
        for m, i, lab, ln, conv, rev in zip(
            cols.model,
            cols.id,
            cols.label,
            cols.label_num,
            cols.converted,
            cols.revenue,
            strict=True,
        ):
            ln = None if ln is None else float(ln)
            rev = None if rev is None else float(rev)
            cur = merged.get((m, i))
            if cur is None:
                merged[(m, i)] = [lab, ln, conv, rev]
                continue
            if lab is not None:
                cur[0], cur[1] = lab, ln
            if conv is not None:
                cur[2] = conv
            if rev is not None:
                cur[3] = rev
        keys = list(merged)
        models = [k[0] for k in keys]
        ids = [k[1] for k in keys]
        vals = list(zip(*merged.values(), strict=True)) if merged else [(), (), (), ()]
        # The events' rollup contributions move with their feedback: out before, in after.
        touched = (
            "SELECT e.* FROM events e JOIN unnest(%s::text[], %s::text[]) AS k(model, id) "
            "ON e.model = k.model AND e.id = k.id"
        )
        pg_rollups.add(con, touched, [models, ids], -1, sketch=False)
        con.execute(
            _UPSERT_FEEDBACK,
            [int(time.time() * 1_000_000), models, ids, *(list(v) for v in vals)],
        )
        pg_rollups.add(con, touched, [models, ids], 1, sketch=False)
        matched = con.execute(_MATCHED_FEEDBACK, [models, ids]).fetchall()
        return {(m, i) for m, i in matched}

    @staticmethod
    def _put_settings(con: psycopg.Connection, model: str, s: ModelSettings) -> None:
        con.execute(
            """
            INSERT INTO models AS m (model, task, positive_label) VALUES (%s, %s, %s)
            ON CONFLICT (model) DO UPDATE SET task = excluded.task,
                positive_label = excluded.positive_label
            """,
            [model, s.task, s.positive_label],
        )

    # ---- the registry ----------------------------------------------------------------------
    def _sync_registry(self) -> None:
        """Account for events committed since the registry's last look (by any process), and
        for models declared by other processes."""
        with self.reader() as con, self._reg_lock:
            if pg_health.last_seq(con) > self._reg_seq:
                rows = pg_reads.registry_rows(con, self._reg_seq)
            else:
                rows = []
            if rows:
                self.registry.add_rows([r[:7] for r in rows])
                self._reg_seq = max(self._reg_seq, *(int(r[7]) for r in rows))
            for name in pg_reads.declared_models(con):
                self.registry.ensure(name)

    # ---- reads -----------------------------------------------------------------------------
    def aggregate(
        self, flt: EventFilter, bucket_us: int | None, parts: frozenset[str]
    ) -> dict[int, WindowAggregate]:
        with self.reader() as con:
            return pg_rollups.window_aggregate(con, flt, bucket_us, parts, self.rollup_policy)

    def rolling_quantiles(
        self, flt: EventFilter, bucket_us: int, rolling_us: int
    ) -> dict[int, dict[str, float]]:
        with self.reader() as con:
            return pg_reads.rolling_quantiles(con, flt, bucket_us, rolling_us)

    def scored_rows(self, flt: EventFilter, bucket_us: int | None) -> ScoredRows:
        with self.reader() as con:
            return pg_reads.scored_rows(con, flt, bucket_us)

    def score_histograms(
        self, flt: EventFilter, bucket_us: int | None, labeled: int | None = None
    ) -> dict[int, ScoreHistogram] | None:
        if self.rollup_policy.raw_scores(flt, labeled):
            return None
        with self.reader() as con:
            return pg_rollups.score_histograms(con, flt, bucket_us, self.rollup_policy)

    def get_model(self, model: str) -> ModelInfo | None:
        self._sync_registry()
        entry = self.registry.get(model)
        if entry is None:
            return None
        with self.reader() as con:
            settings = pg_reads.model_settings(con, [model]).get(model, ModelSettings())
        return model_info(model, entry, settings)

    def model_names(self) -> list[str]:
        self._sync_registry()
        return self.registry.names()

    def list_models(self, since_us: int) -> list[tuple[ModelInfo, int]]:
        self._sync_registry()
        names = self.registry.names()
        with self.reader() as con:
            settings = pg_reads.model_settings(con, names)
            recent = pg_reads.recent_counts(con, since_us)
        out = []
        for name in names:
            entry = self.registry.get(name)
            if entry is not None:
                info = model_info(name, entry, settings.get(name, ModelSettings()))
                out.append((info, recent.get(name, 0)))
        return out

    def export(self, flt: EventFilter, fmt: str, path: str) -> int:
        with self.reader() as con:
            return pg_reads.export(con, flt, fmt, path)

    def snapshots(
        self, model: str, start_us: int, end_us: int, version: str | None
    ) -> list[HealthSnapshot]:
        with self.reader() as con:
            return pg_health.snapshots(con, model, start_us, end_us, version)

    def daily_health(self, flt: EventFilter) -> list[DailyHealth]:
        with self.reader() as con:
            return pg_health.daily_health(con, flt)

    # ---- drift --------------------------------------------------------------------------------
    def reference(self, model: str) -> ReferenceRecord | None:
        with self.reader() as con:
            return pg_drift.reference(con, model)

    def references(self) -> list[ReferenceRecord]:
        with self.reader() as con:
            return pg_drift.references(con)

    def reference_kinds(self, ref_id: int) -> dict[str, dict[str, int]]:
        with self.reader() as con:
            return pg_features.reference_kinds(con, ref_id)

    def reference_features(self, ref_id: int, columns: list[ColumnSpec]) -> FeatureData:
        with self.reader() as con:
            return pg_features.reference_features(con, ref_id, columns)

    def window_features(
        self,
        flt: EventFilter,
        columns: list[ColumnSpec],
        bucket_us: int | None = None,
        after_seq: int | None = None,
        sample_max: int | None = None,
    ) -> FeatureData:
        with self.reader() as con:
            return pg_features.window_features(con, flt, columns, bucket_us, after_seq, sample_max)

    def new_event_features(
        self, model: str, columns: list[ColumnSpec], after_seq: int, upto_seq: int, limit: int
    ) -> FeatureData:
        with self.reader() as con:
            return pg_features.new_event_features(
                con, model, columns, after_seq, upto_seq, limit, 3_600_000_000
            )

    def feature_keys(
        self, flt: EventFilter, known: list[str], sample_max: int | None = None
    ) -> KeyCounts:
        with self.reader() as con:
            return pg_features.feature_keys(con, flt, known, sample_max)

    def drift_progress(self, ref_id: int) -> int:
        with self.reader() as con:
            return pg_drift.progress(con, ref_id)

    def drift_summaries(
        self, ref_id: int, flt: EventFilter, bucket_us: int, origin_us: int
    ) -> SummaryRows:
        with self.reader() as con:
            return pg_drift.drift_summaries(con, ref_id, flt, bucket_us, origin_us)

    def last_seq(self) -> int:
        with self.reader() as con:
            return pg_health.last_seq(con)

    def ops_counts_since(
        self, seq: int, latency_bounds_ms: tuple[float, ...]
    ) -> tuple[int, list[OpsCounts]]:
        with self.reader() as con:
            return pg_health.ops_counts_since(con, seq, latency_bounds_ms)

    def count_all(self) -> int:
        """Total stored events (used by tests and the benchmark)."""
        with self.reader() as con:
            row = con.execute("SELECT count(*) FROM events").fetchone()
            return int(row[0]) if row else 0

    # ---- alerting --------------------------------------------------------------------------
    def alert_rules(self) -> list[StoredRule]:
        with self.reader() as con:
            return pg_alerts.alert_rules(con)

    def channels(self) -> list[StoredChannel]:
        with self.reader() as con:
            return pg_alerts.channels(con)

    def alert_states(self) -> list[AlertState]:
        with self.reader() as con:
            return pg_alerts.alert_states(con)

    def alert_history(self, flt: HistoryFilter) -> list[AlertTransition]:
        with self.reader() as con:
            return pg_alerts.alert_history(con, flt)

    def silences(self) -> list[Silence]:
        with self.reader() as con:
            return pg_alerts.silences(con)

    def notifications(self, flt: NotificationFilter) -> list[Notification]:
        with self.reader() as con:
            return pg_alerts.notifications(con, flt)

    def notification(self, notification_id: int) -> Notification | None:
        with self.reader() as con:
            return pg_alerts.notification(con, notification_id)

    def due_notifications(self, now_us: int, limit: int) -> list[Notification]:
        with self.reader() as con:
            return pg_alerts.due_notifications(con, now_us, limit)

    def deliveries(self, flt: NotificationFilter) -> list[DeliveryAttempt]:
        with self.reader() as con:
            return pg_alerts.deliveries(con, flt)

    # ---- bounded tag cardinality (store/pg_tags.py) -------------------------------------
    def tag_values(self, model: str) -> dict[str, set[str]]:
        with self.reader() as con:
            return read_tag_values(con, model)

    def tag_stats(self, model: str | None = None) -> list[tuple[str, TagKeyStats]]:
        with self.reader() as con:
            return read_tag_stats(con, model)

    # ---- access control (store/key_sql.py) ----------------------------------------------
    def api_keys(self) -> list[ApiKeyRecord]:
        with self.reader() as con:
            return key_sql.api_keys(con)

    def api_key(self, prefix: str) -> ApiKeyRecord | None:
        with self.reader() as con:
            return key_sql.api_key(con, prefix, "%s")

    def auth_secret(self) -> str | None:
        with self.reader() as con:
            return key_sql.auth_secret(con)

    def session_ended(self, digest: str) -> bool:
        with self.reader() as con:
            return key_sql.session_ended(con, digest, "%s")


def _configure_reader(con: psycopg.Connection) -> None:
    """No JIT for reads: the planner overestimates the range joins of rolling windows and then
    spent more time compiling than running them (measured: half of a 1.5 s statement). More
    memory per sort or hash than the default 4MB: grouping a month of latency bins by hour
    spilled to disk with it."""
    con.execute("SET jit = off")
    con.execute("SET work_mem = '32MB'")


def _configure_writer(con: psycopg.Connection) -> None:
    """Every writer connection has its own staging table for the COPY of events."""
    con.execute(_CREATE_BATCH)
