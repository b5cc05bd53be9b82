"""The embedded store: one DuckDB file, one writer connection, a pool of reader cursors."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from modeltower.ingest.schema import EventColumns, FeedbackColumns
from modeltower.metrics.score_sketch import ScoreHistogram
from modeltower.store import (
    duckdb_alerts,
    duckdb_backup,
    duckdb_deltas,
    duckdb_drift,
    duckdb_features,
    duckdb_health,
    duckdb_keyset,
    duckdb_reads,
    duckdb_retention,
    duckdb_rollups,
    duckdb_waiting,
    key_sql,
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
from modeltower.store.availability import Availability, StoreUnavailable
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
from modeltower.store.duckdb_schema import migrate
from modeltower.store.duckdb_tags import apply_tag_op, read_tag_stats, read_tag_values
from modeltower.store.key_types import KEY_OPS, ApiKeyRecord
from modeltower.store.query_timeout import duckdb_deadline
from modeltower.store.registry import ModelEntry, Registry
from modeltower.store.tag_types import TAG_OPS, TagKeyStats

log = logging.getLogger("modeltower.store")

_EVENT_SCHEMA = pa.schema(
    [
        ("i", pa.int64()),
        ("seq", pa.int64()),
        ("model", pa.string()),
        ("id", pa.string()),
        ("version", pa.string()),
        ("ts", pa.int64()),
        ("received_at", pa.int64()),
        ("prediction", pa.string()),
        ("prediction_num", pa.float64()),
        ("score", pa.float64()),
        ("scores", pa.string()),
        ("label", pa.string()),
        ("label_num", pa.float64()),
        ("latency_ms", pa.float64()),
        ("error", pa.string()),
        ("features", pa.string()),
        ("tags", pa.string()),
        ("grp", pa.string()),
        ("converted", pa.bool_()),
        ("revenue", pa.float64()),
        ("input_hash", pa.string()),
    ]
)
_EVENT_COLS = [f.name for f in _EVENT_SCHEMA if f.name != "i"]
_INSERT_EVENTS = (
    "INSERT INTO events (k, " + ", ".join(_EVENT_COLS) + ") "
    "SELECT md5_number(model || chr(0) || id), " + ", ".join(_EVENT_COLS) + " FROM batch_events"
)
_FEEDBACK_EVENTS = (
    "SELECT * FROM events WHERE k IN (SELECT md5_number(model || chr(0) || id) FROM batch_feedback)"
)
# How a write that the file system refused reads (DuckDB raises it as a TransactionException).
_WRITE_FAILURES = (
    "Could not write file",
    "File too large",
    "No space left",
    "Read-only file system",
    "Permission denied",
    "Could not truncate",
)
_MERGE_FEEDBACK = """
    CREATE OR REPLACE TEMP TABLE feedback_merged AS
    SELECT n.k, n.model, n.id,
           coalesce(n.label, o.label) AS label,
           CASE WHEN n.label IS NOT NULL THEN n.label_num ELSE o.label_num END AS label_num,
           coalesce(n.converted, o.converted) AS converted,
           coalesce(n.revenue, o.revenue) AS revenue,
           ?::BIGINT AS updated_at,
           e.ts AS ev_ts
    FROM (SELECT md5_number(model || chr(0) || id) AS k, * FROM batch_feedback) n
    LEFT JOIN feedback o ON o.k = n.k
    LEFT JOIN feedback_events e ON e.k = n.k
"""
_INDEX_MEMORY = "SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'ART_INDEX'"
_MEMORY_LIMIT = "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"
_UNITS = {"": 1, "b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def _bytes(text: str) -> int:
    """DuckDB's display of a size ('91.5 MiB') in bytes; a very large number if unreadable."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        return 1 << 62
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


_PROBE_EVENTS = (
    "SELECT b.i FROM batch_events b JOIN events e ON e.k = md5_number(b.model || chr(0) || b.id)"
)


class DuckDBStore(Store):
    """Store backed by one DuckDB database file."""

    def __init__(self, path: str, *, readers: int = 4, memory_limit: str | None = None) -> None:
        self.path = path
        self._readers = readers
        self._memory_limit = memory_limit
        self._con: duckdb.DuckDBPyConnection | None = None
        self._pool: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
        self._seq = 0
        self.registry = Registry()
        self._committed_tables: list[pa.Table] = []
        self._lock = threading.Lock()  # guards open/close against concurrent reads
        self.rollup_policy = duckdb_rollups.Policy()
        self._rollups = duckdb_rollups.Updater()  # adds to the rollups, folds their deltas in
        self._early_feedback = False  # some feedback is stored whose event has not come yet
        self._waiting_after_commit: bool | None = None  # the flag once the transaction commits
        self._keys = duckdb_keyset.KeySet()  # the stored events' keys (no index: see the module)
        self._keys_after_commit: list[duckdb_keyset.Fingerprints] = []
        # Disk full, read-only file, a database DuckDB invalidated: 503 for writes, reads go on.
        self.availability = Availability(f"the database file {path}")
        self._con_lock = threading.RLock()  # the writer's connection: writes, checkpoints, reopen
        self._gen = 0  # bumped by each reopen; cursors of an older generation are not reused
        self._checkpoint_after = 0.0  # monotonic time before which no idle checkpoint is tried
        self._commits = 0
        self._index_memory_max = 1 << 62  # bytes of index memory that trigger a checkpoint

    # ---- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        config: dict[str, Any] = {}
        if self._memory_limit:
            config["memory_limit"] = self._memory_limit
        # The default 16 MB WAL threshold checkpoints inside a commit about once a second under
        # load (the p99 of ingestion); the writer checkpoints when idle instead.
        config["checkpoint_threshold"] = "256MB"
        con = duckdb.connect(self.path, config=config)
        migrate(con)
        row = con.execute("SELECT coalesce(max(seq), 0) FROM events").fetchall()[0]
        self._seq = int(row[0]) if row else 0
        self.registry.load(duckdb_reads.registry_rows(con))
        for name in duckdb_reads.declared_models(con):
            self.registry.ensure(name)
        self._con = con
        self._load_retention(con)
        self._early_feedback = duckdb_waiting.any_waiting(con)
        self._keys.load(con)
        self._rollups.load(con)
        limit = con.execute(_MEMORY_LIMIT).fetchall()
        if limit:  # two fifths of the limit: room left for the queries
            self._index_memory_max = _bytes(str(limit[0][0])) * 2 // 5
        for _ in range(self._readers):
            self._pool.put(con.cursor())

    def close(self) -> None:
        with self._lock:
            if self._con is None:
                return
            while True:
                try:
                    self._pool.get_nowait().close()
                except queue.Empty:
                    break
            with contextlib.suppress(duckdb.Error):
                self._fold(self._con)
                self._con.execute("CHECKPOINT")
            self._con.close()
            self._con = None

    def _load_retention(self, con: duckdb.DuckDBPyConnection) -> None:
        raw_before, _ = duckdb_retention.cutoffs(con)
        self.rollup_policy = dataclasses.replace(self.rollup_policy, raw_from_us=raw_before)

    def maintenance(self) -> None:
        """Checkpoint the WAL into the database file (called by the writer when idle). While the
        file cannot be written, a checkpoint is tried at most every 30 s: a failed checkpoint
        invalidates the database, which is then reopened from the file and its WAL."""
        with self._con_lock:
            if self._con is None:
                self._reopen(self._gen)
                return
            if self.availability.writes_refused and time.monotonic() < self._checkpoint_after:
                return
            try:
                self._fold(self._con)
                self._con.execute("CHECKPOINT")
            except duckdb.Error as exc:
                self._checkpoint_after = time.monotonic() + 30.0
                if self._fault(exc) is None:
                    raise

    def _fold(self, con: duckdb.DuckDBPyConnection) -> None:
        """Fold the rollup deltas into their tables, in a transaction of its own."""
        if not self._rollups.pending:
            return
        pending = self._rollups.pending
        con.execute("BEGIN TRANSACTION")
        try:
            self._rollups.compact(con)
            con.execute("COMMIT")
        except BaseException:
            self._rollups.pending = pending
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise

    def backup_to(self, dest_dir: str) -> duckdb_backup.FileFacts:
        """Copy the database into ``dest_dir`` as of the last commit. Call it on the writer
        thread (Writer.exclusive), so that no write runs while the file is copied."""
        with self._con_lock:
            if self._con is None:
                raise StoreUnavailable(self.availability.reason() or "the store is closed")
            try:
                return duckdb_backup.snapshot(self._con, self.path, dest_dir)
            except duckdb.Error as exc:  # the checkpoint needs room too
                fault = self._fault(exc)
                if fault is None:
                    raise
                raise fault from exc

    def ping(self) -> None:
        """Reads work (one trivial query)."""
        with self.reader() as cur:
            cur.execute("SELECT 1").fetchall()

    def _fault(self, exc: duckdb.Error) -> StoreUnavailable | None:
        """A write or checkpoint failed: the file cannot be written (disk full, file size limit,
        read-only) or DuckDB invalidated the database. Returns what to raise, or None for any
        other error (a bug, a constraint)."""
        if isinstance(exc, duckdb.FatalException):
            # "database has been invalidated because of a previous fatal error": nothing works on
            # this instance any more; the committed data is in the file and its WAL.
            fault = self.availability.mark_writes_refused(exc)
            self._reopen(self._gen)
            return fault
        text = str(exc)
        if isinstance(exc, duckdb.IOException | duckdb.PermissionException) or any(
            m in text for m in _WRITE_FAILURES
        ):
            # No idle checkpoint for a while: it would need space too, and a failed checkpoint
            # invalidates the database (reads included) until it is reopened.
            self._checkpoint_after = time.monotonic() + 30.0
            return self.availability.mark_writes_refused(exc)
        return None

    def _reopen(self, gen: int) -> None:
        """Close every connection of generation ``gen`` and open the file again (once per
        generation, whoever notices first)."""
        with self._con_lock:
            if gen != self._gen:
                return
            # Readers on an invalidated database fail at once, so their cursors come back soon.
            got = 0
            deadline = time.monotonic() + 5.0
            while got < self._readers:
                try:
                    cur = self._pool.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    break
                got += 1
                with contextlib.suppress(duckdb.Error):
                    cur.close()
            self._gen += 1
            con, self._con = self._con, None
            if con is not None:
                with contextlib.suppress(duckdb.Error):
                    con.close()
            try:
                self.open()
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    if self._con is not None:
                        self._con.close()
                self._con = None
                self.availability.mark_unreachable(exc)
            else:
                log.warning(
                    "%s reopened: DuckDB had invalidated it after a failed write", self.path
                )
                self.availability.mark_reachable()

    @contextlib.contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Borrow a reader cursor: its own connection to the same database (MVCC snapshot)."""
        try:
            cur = self._pool.get(timeout=30.0)
        except queue.Empty:
            raise StoreUnavailable("no database reader free within 30 s") from None
        gen = self._gen
        try:
            with duckdb_deadline(cur, self.query_timeout_s):
                yield cur
        except duckdb.FatalException as exc:
            self._give_back(cur, gen)
            self._reopen(gen)
            raise StoreUnavailable(f"the database was reopened: {exc}") from exc
        except BaseException:
            self._give_back(cur, gen)
            raise
        else:
            self._give_back(cur, gen)

    def _give_back(self, cur: duckdb.DuckDBPyConnection, gen: int) -> None:
        if gen == self._gen:
            self._pool.put(cur)
        else:  # its database was closed and opened again meanwhile
            with contextlib.suppress(duckdb.Error):
                cur.close()

    # ---- writes ----------------------------------------------------------------------------
    def write(self, ops: list[WriteOp]) -> list[Any]:
        """One transaction for the whole group."""
        with self._con_lock:
            if self._con is None:  # a reopen failed: try again
                self._reopen(self._gen)
                if self._con is None:
                    raise StoreUnavailable(self.availability.reason() or "the store is closed")
            try:
                results = self._write_tx(ops)
            except duckdb.Error as exc:
                fault = self._fault(exc)
                if fault is None:
                    raise
                raise fault from exc
            self._after_commit(ops)
        self.availability.mark_writable()
        return results

    def _after_commit(self, ops: list[WriteOp]) -> None:
        """Fold the rollup deltas in once there are enough, and checkpoint when index memory
        runs high. After the write has committed: a failure here loses nothing (the deltas
        wait for the next try) and does not fail the write."""
        con = self._con
        assert con is not None
        self._commits += 1
        try:
            folded = self._rollups.pending >= self._rollups.fold_rows
            if folded:
                self._fold(con)
            # Upserts into keyed tables (the fold, the drift summaries) grow their indexes,
            # which stay in memory — outside what the memory limit can evict — until a
            # checkpoint has written them: a bulk load of 3M events spread over 30 days
            # failed with "Out of Memory" under a 96MB limit without this, and 10M under 256MB.
            drift = any(isinstance(op, AddDriftSummaries) for op in ops)
            if folded or drift or self._commits % 64 == 0:
                got = con.execute(_INDEX_MEMORY).fetchall()
                if got and int(got[0][0]) > self._index_memory_max:
                    con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            log.warning("folding rollup deltas or a checkpoint failed (tried later): %s", exc)
            self._fault(exc)

    def _write_tx(self, ops: list[WriteOp]) -> list[Any]:
        con = self._con
        assert con is not None
        seq_before = self._seq
        pending_before = self._rollups.pending
        con.execute("BEGIN TRANSACTION")
        try:
            results: list[Any] = [None] * len(ops)
            inserts = [(j, op) for j, op in enumerate(ops) if isinstance(op, InsertEvents)]
            if inserts:
                per_op = self._insert_events(con, [op.columns for _, op in inserts])
                for (j, _), res in zip(inserts, per_op, strict=True):
                    results[j] = res
            for j, op in enumerate(ops):
                if isinstance(op, UpsertFeedback):
                    results[j] = self._upsert_feedback(con, op.columns)
                    pairs = set(zip(op.columns.model, op.columns.id, strict=True))
                    if len(results[j]) < len(pairs):  # feedback waiting for its event
                        duckdb_waiting.add(con, sorted(pairs - results[j]))
                        self._early_feedback = True
                        self._waiting_after_commit = True
                elif isinstance(op, PutModelSettings):
                    self._put_settings(con, op.model, op.settings)
                    results[j] = True
                elif isinstance(op, InsertSnapshots):
                    results[j] = duckdb_health.insert_snapshots(con, op.snapshots)
                elif isinstance(op, SetReference):
                    results[j] = duckdb_drift.set_reference(con, op)
                elif isinstance(op, UpdateReference):
                    results[j] = duckdb_drift.update_reference(con, op)
                elif isinstance(op, FillReference):
                    results[j] = duckdb_drift.fill_collecting(con, op.model, op.ref_id, op.window)
                elif isinstance(op, DeleteReference):
                    results[j] = duckdb_drift.delete_reference(con, op.model)
                elif isinstance(op, AddDriftSummaries):
                    results[j] = duckdb_drift.add_summaries(con, op.ref_id, op.rows, op.last_seq)
                elif isinstance(op, EnforceRetention):
                    self._rollups.compact(con)  # expired deltas go with their rows
                    results[j] = duckdb_retention.apply(con, op)
                elif isinstance(op, ALERT_OPS):
                    results[j] = duckdb_alerts.apply(con, op)
                elif isinstance(op, TAG_OPS):
                    results[j] = apply_tag_op(con, op)
                elif isinstance(op, KEY_OPS):
                    results[j] = key_sql.apply(con, op, "?")
            con.execute("COMMIT")
        except BaseException:
            self._seq = seq_before
            self._rollups.pending = pending_before
            self._committed_tables.clear()
            self._waiting_after_commit = None
            self._keys_after_commit.clear()
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        for fps in self._keys_after_commit:
            self._keys.add(fps)
        self._keys_after_commit.clear()
        if self._waiting_after_commit is not None:
            self._early_feedback, self._waiting_after_commit = self._waiting_after_commit, None
        # Only what has committed becomes visible in the registry.
        for table in self._committed_tables:
            self.registry.add_batch(table)
        self._committed_tables.clear()
        for op, result in zip(ops, results, strict=True):
            if isinstance(op, PutModelSettings):
                self.registry.ensure(op.model)
            elif isinstance(op, EnforceRetention):
                self._load_retention(con)
                self._keys.expired(con, result.events)
        return results

    def _insert_events(
        self, con: duckdb.DuckDBPyConnection, batches: list[EventColumns]
    ) -> list[InsertResult]:
        now_us = int(time.time() * 1_000_000)
        merged = batches[0] if len(batches) == 1 else EventColumns()
        if len(batches) > 1:
            for cols in batches:
                merged.extend(cols)
        # The SQL below reads the Arrow tables by the name of the local variable that holds
        # them (DuckDB's replacement scan), not through con.register: registering and dropping
        # a view are statements of their own, each of which lets go of the GIL and then waits
        # to take it back from the event loop — under load, most of a write's time.
        batch_events = self._event_table(merged, now_us)
        fps = duckdb_keyset.batch_fingerprints(con, batch_events, merged.model, merged.id)
        # Dedup inside the group: the first occurrence (in arrival order) wins.
        keep = duckdb_keyset.first_occurrences(fps, merged.model, merged.id)
        # Only rows whose fingerprint is known can be stored already (client retries): those
        # are checked exactly, by one scan of the keys.
        if self._keys.contains(fps).any():
            for (i,) in con.execute(_PROBE_EVENTS).fetchall():
                keep[i] = False
        if not keep.all():
            batch_events = batch_events.filter(pa.array(keep))
        self._keys_after_commit.append(fps[keep])
        if batch_events.num_rows:
            n = batch_events.num_rows
            seqs = pa.array(np.arange(self._seq + 1, self._seq + 1 + n), pa.int64())
            batch_events = batch_events.set_column(1, "seq", seqs)
            self._seq += n
            con.execute(_INSERT_EVENTS)
            first = self._seq - n
            # Feedback can only apply to new events when some came before its event; then
            # their effective rows come from the table (the tail by seq), feedback joined.
            if self._early_feedback:
                rows = duckdb_rollups.effective_rows(
                    con, f"SELECT * FROM events WHERE seq > {first} AND seq <= {self._seq}"
                )
            else:
                rows = duckdb_deltas.effective_of_batch(batch_events)
            self._rollups.add(con, rows, 1, sketch=True)
            if self._early_feedback:
                self._waiting_after_commit = duckdb_waiting.settle(con, first, self._seq)
            self._committed_tables.append(batch_events)
        results: list[InsertResult] = []
        pos = 0
        for cols in batches:
            k = len(cols)
            results.append(InsertResult(ids=cols.id, duplicate=(~keep[pos : pos + k]).tolist()))
            pos += k
        return results

    @staticmethod
    def _event_table(cols: EventColumns, now_us: int) -> pa.Table:
        n = len(cols)
        data = {
            "i": pa.array(np.arange(n), pa.int64()),
            "seq": pa.nulls(n, pa.int64()),
            "received_at": pa.array(np.full(n, now_us), pa.int64()),
        }
        for f in _EVENT_SCHEMA:
            if f.name not in data:
                data[f.name] = pa.array(getattr(cols, f.name), f.type)
        return pa.table(data, schema=_EVENT_SCHEMA)

    def _upsert_feedback(
        self, con: duckdb.DuckDBPyConnection, cols: FeedbackColumns
    ) -> set[tuple[str, str]]:
        table = pa.table(
            {
                "model": pa.array(cols.model, pa.string()),
                "id": pa.array(cols.id, pa.string()),
                "label": pa.array(cols.label, pa.string()),
                "label_num": pa.array(cols.label_num, pa.float64()),
                "converted": pa.array(cols.converted, pa.bool_()),
                "revenue": pa.array(cols.revenue, pa.float64()),
            }
        )
        now_us = int(time.time() * 1_000_000)
        con.register("batch_feedback", table)
        try:
            # The events this feedback is about, found once: events has no index on k, so each
            # lookup is a scan of the keys (store/duckdb_keyset.py).
            con.execute(f"CREATE OR REPLACE TEMP TABLE feedback_events AS {_FEEDBACK_EVENTS}")
            # Their rollup contributions move with their feedback: out before, in after.
            before = duckdb_rollups.effective_rows(con, "SELECT * FROM feedback_events")
            self._rollups.add(con, before, -1, sketch=False)
            # An upsert by hand (the table has no key for ON CONFLICT): the fields sent replace
            # the stored ones, the others stay.
            con.execute(_MERGE_FEEDBACK, [now_us])
            con.execute("DELETE FROM feedback WHERE k IN (SELECT k FROM feedback_merged)")
            con.execute("INSERT INTO feedback SELECT * FROM feedback_merged")
            after = duckdb_rollups.effective_rows(con, "SELECT * FROM feedback_events")
            self._rollups.add(con, after, 1, sketch=False)
            matched = con.execute("SELECT model, id FROM feedback_events").fetchall()
        finally:
            _unregister(con, "batch_feedback")
            with contextlib.suppress(duckdb.Error):
                con.execute("DROP TABLE IF EXISTS feedback_events")
                con.execute("DROP TABLE IF EXISTS feedback_merged")
        return {(m, i) for m, i in matched}

    @staticmethod
    def _put_settings(con: duckdb.DuckDBPyConnection, model: str, s: ModelSettings) -> None:
        con.execute(
            """
            INSERT INTO models AS m (model, task, positive_label) VALUES (?, ?, ?)
            ON CONFLICT (model) DO UPDATE SET task = excluded.task,
                positive_label = excluded.positive_label
            """,
            [model, s.task, s.positive_label],
        )

    # ---- reads -----------------------------------------------------------------------------
    def aggregate(
        self, flt: EventFilter, bucket_us: int | None, parts: frozenset[str]
    ) -> dict[int, WindowAggregate]:
        with self.reader() as cur:
            return duckdb_rollups.window_aggregate(cur, flt, bucket_us, parts, self.rollup_policy)

    def rolling_quantiles(
        self, flt: EventFilter, bucket_us: int, rolling_us: int
    ) -> dict[int, dict[str, float]]:
        with self.reader() as cur:
            return duckdb_reads.rolling_quantiles(cur, flt, bucket_us, rolling_us)

    def scored_rows(self, flt: EventFilter, bucket_us: int | None) -> ScoredRows:
        with self.reader() as cur:
            return duckdb_reads.scored_rows(cur, flt, bucket_us)

    def score_histograms(
        self, flt: EventFilter, bucket_us: int | None, labeled: int | None = None
    ) -> dict[int, ScoreHistogram] | None:
        if self.rollup_policy.raw_scores(flt, labeled):
            return None
        with self.reader() as cur:
            return duckdb_rollups.score_histograms(cur, flt, bucket_us, self.rollup_policy)

    def get_model(self, model: str) -> ModelInfo | None:
        entry = self.registry.get(model)
        if entry is None:
            return None
        with self.reader() as cur:
            settings = duckdb_reads.model_settings(cur, [model]).get(model, ModelSettings())
        return model_info(model, entry, settings)

    def model_names(self) -> list[str]:
        return self.registry.names()

    def list_models(self, since_us: int) -> list[tuple[ModelInfo, int]]:
        names = self.registry.names()
        with self.reader() as cur:
            settings = duckdb_reads.model_settings(cur, names)
            recent = duckdb_reads.recent_counts(cur, since_us)
        out = []
        for name in names:
            entry = self.registry.get(name)
            if entry is not None:
                info = model_info(name, entry, settings.get(name, ModelSettings()))
                out.append((info, recent.get(name, 0)))
        return out

    def export(self, flt: EventFilter, fmt: str, path: str) -> int:
        with self.reader() as cur:
            return duckdb_reads.export(cur, flt, fmt, path)

    def snapshots(
        self, model: str, start_us: int, end_us: int, version: str | None
    ) -> list[HealthSnapshot]:
        with self.reader() as cur:
            return duckdb_health.snapshots(cur, model, start_us, end_us, version)

    def daily_health(self, flt: EventFilter) -> list[DailyHealth]:
        with self.reader() as cur:
            return duckdb_health.daily_health(cur, flt)

    # ---- drift --------------------------------------------------------------------------------
    def reference(self, model: str) -> ReferenceRecord | None:
        with self.reader() as cur:
            return duckdb_drift.reference(cur, model)

    def references(self) -> list[ReferenceRecord]:
        with self.reader() as cur:
            return duckdb_drift.references(cur)

    def reference_kinds(self, ref_id: int) -> dict[str, dict[str, int]]:
        with self.reader() as cur:
            return duckdb_features.reference_kinds(cur, ref_id)

    def reference_features(self, ref_id: int, columns: list[ColumnSpec]) -> FeatureData:
        with self.reader() as cur:
            return duckdb_features.reference_features(cur, ref_id, columns)

    def window_features(
        self,
        flt: EventFilter,
        columns: list[ColumnSpec],
        bucket_us: int | None = None,
        after_seq: int | None = None,
        sample_max: int | None = None,
    ) -> FeatureData:
        with self.reader() as cur:
            return duckdb_features.window_features(
                cur, flt, columns, bucket_us, after_seq, sample_max
            )

    def new_event_features(
        self, model: str, columns: list[ColumnSpec], after_seq: int, upto_seq: int, limit: int
    ) -> FeatureData:
        with self.reader() as cur:
            return duckdb_features.new_event_features(
                cur, model, columns, after_seq, upto_seq, limit, 3_600_000_000
            )

    def feature_keys(
        self, flt: EventFilter, known: list[str], sample_max: int | None = None
    ) -> KeyCounts:
        with self.reader() as cur:
            return duckdb_features.feature_keys(cur, flt, known, sample_max)

    def drift_progress(self, ref_id: int) -> int:
        with self.reader() as cur:
            return duckdb_drift.progress(cur, ref_id)

    def drift_summaries(
        self, ref_id: int, flt: EventFilter, bucket_us: int, origin_us: int
    ) -> SummaryRows:
        with self.reader() as cur:
            return duckdb_drift.drift_summaries(cur, ref_id, flt, bucket_us, origin_us)

    def last_seq(self) -> int:
        with self.reader() as cur:
            return duckdb_health.last_seq(cur)

    def ops_counts_since(
        self, seq: int, latency_bounds_ms: tuple[float, ...]
    ) -> tuple[int, list[OpsCounts]]:
        with self.reader() as cur:
            return duckdb_health.ops_counts_since(cur, seq, latency_bounds_ms)

    def count_all(self) -> int:
        """Total stored events (used by tests and the benchmark)."""
        with self.reader() as cur:
            row = cur.execute("SELECT count(*) FROM events").fetchall()[0]
            return int(row[0]) if row else 0

    # ---- alerting --------------------------------------------------------------------------
    def alert_rules(self) -> list[StoredRule]:
        with self.reader() as cur:
            return duckdb_alerts.alert_rules(cur)

    def channels(self) -> list[StoredChannel]:
        with self.reader() as cur:
            return duckdb_alerts.channels(cur)

    def alert_states(self) -> list[AlertState]:
        with self.reader() as cur:
            return duckdb_alerts.alert_states(cur)

    def alert_history(self, flt: HistoryFilter) -> list[AlertTransition]:
        with self.reader() as cur:
            return duckdb_alerts.alert_history(cur, flt)

    def silences(self) -> list[Silence]:
        with self.reader() as cur:
            return duckdb_alerts.silences(cur)

    def notifications(self, flt: NotificationFilter) -> list[Notification]:
        with self.reader() as cur:
            return duckdb_alerts.notifications(cur, flt)

    def notification(self, notification_id: int) -> Notification | None:
        with self.reader() as cur:
            return duckdb_alerts.notification(cur, notification_id)

    def due_notifications(self, now_us: int, limit: int) -> list[Notification]:
        with self.reader() as cur:
            return duckdb_alerts.due_notifications(cur, now_us, limit)

    def deliveries(self, flt: NotificationFilter) -> list[DeliveryAttempt]:
        with self.reader() as cur:
            return duckdb_alerts.deliveries(cur, flt)

    # ---- bounded tag cardinality (store/duckdb_tags.py) -------------------------------------
    def tag_values(self, model: str) -> dict[str, set[str]]:
        with self.reader() as cur:
            return read_tag_values(cur, model)

    def tag_stats(self, model: str | None = None) -> list[tuple[str, TagKeyStats]]:
        with self.reader() as cur:
            return read_tag_stats(cur, model)

    # ---- access control (store/key_sql.py) --------------------------------------------------
    def api_keys(self) -> list[ApiKeyRecord]:
        with self.reader() as cur:
            return key_sql.api_keys(cur)

    def api_key(self, prefix: str) -> ApiKeyRecord | None:
        with self.reader() as cur:
            return key_sql.api_key(cur, prefix, "?")

    def auth_secret(self) -> str | None:
        with self.reader() as cur:
            return key_sql.auth_secret(cur)

    def session_ended(self, digest: str) -> bool:
        with self.reader() as cur:
            return key_sql.session_ended(cur, digest, "?")


def _unregister(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a registered view; inside an aborted transaction this fails and must not hide the
    original error (a key conflict is what triggers the probing retry)."""
    with contextlib.suppress(duckdb.Error):
        con.unregister(name)


def model_info(name: str, entry: ModelEntry, settings: ModelSettings) -> ModelInfo:
    """Registry entry + declared settings -> ModelInfo."""
    inferred = (
        "classification" if entry.saw_categorical else ("regression" if entry.saw_numeric else None)
    )
    versions = [
        {
            "version": v or None,
            "first_seen_us": st.first,
            "last_seen_us": st.last,
            "event_count": st.count,
        }
        for v, st in sorted(entry.versions.items(), key=lambda kv: kv[1].first)
    ]
    st = entry.stats
    return ModelInfo(
        name=name,
        settings=settings,
        inferred_task=inferred,
        first_seen_us=None if st is None else st.first,
        last_seen_us=None if st is None else st.last,
        event_count=0 if st is None else st.count,
        versions=versions,
    )
