"""Drift references and per-hour feature summaries in the DuckDB store.

Write functions run inside the writer's transaction; read functions take a reader cursor.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from modeltower.store.base import (
    EventFilter,
    ReferenceRecord,
    ReferenceRows,
    ReferenceWindow,
    SetReference,
    SummaryRows,
    UpdateReference,
)

_REF_COLS = "model, ref_id, kind, spec, status, created_at, row_count, settings, profile"


def _record(row: tuple[Any, ...]) -> ReferenceRecord:
    return ReferenceRecord(
        model=str(row[0]),
        ref_id=int(row[1]),
        kind=str(row[2]),
        spec=orjson.loads(row[3]),
        status=str(row[4]),
        created_us=int(row[5]),
        row_count=int(row[6]),
        settings=orjson.loads(row[7]),
        profile=None if row[8] is None else orjson.loads(row[8]),
    )


def _next_ref_id(con: duckdb.DuckDBPyConnection) -> int:
    # ref ids are never reused, so stale summaries can never be mistaken for current ones
    row = con.execute(
        "SELECT greatest((SELECT coalesce(max(ref_id), 0) FROM drift_references), "
        "(SELECT coalesce(max(ref_id), 0) FROM drift_progress)) + 1"
    ).fetchall()[0]
    return int(row[0])


def _drop_data(con: duckdb.DuckDBPyConnection, ref_id: int) -> None:
    con.execute("DELETE FROM reference_rows WHERE ref_id = ?", [ref_id])
    con.execute("DELETE FROM drift_summaries WHERE ref_id = ?", [ref_id])


def set_reference(con: duckdb.DuckDBPyConnection, op: SetReference) -> ReferenceRecord:
    old = con.execute("SELECT ref_id FROM drift_references WHERE model = ?", [op.model]).fetchall()
    for (old_id,) in old:
        _drop_data(con, int(old_id))
        con.execute("DELETE FROM drift_references WHERE model = ?", [op.model])
    ref_id = _next_ref_id(con)
    count = 0
    if isinstance(op.source, ReferenceRows):
        table: pa.Table = op.source.table
        con.register("ref_upload", table)
        try:
            con.execute(
                "INSERT INTO reference_rows SELECT ?, features, prediction, prediction_num, score "
                "FROM ref_upload",
                [ref_id],
            )
        finally:
            con.unregister("ref_upload")
        count = table.num_rows
    elif isinstance(op.source, ReferenceWindow):
        count = _copy_window(con, ref_id, op.model, op.source)
    status = "collecting" if op.source is None else "ready"
    con.execute(
        f"INSERT INTO drift_references ({_REF_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        [
            op.model,
            ref_id,
            op.kind,
            orjson.dumps(op.spec).decode(),
            status,
            int(time.time() * 1_000_000),
            count,
            orjson.dumps(op.settings).decode(),
        ],
    )
    con.execute("INSERT INTO drift_progress VALUES (?, 0)", [ref_id])
    rows = con.execute(
        f"SELECT {_REF_COLS} FROM drift_references WHERE model = ?", [op.model]
    ).fetchall()
    return _record(rows[0])


def _copy_window(
    con: duckdb.DuckDBPyConnection, ref_id: int, model: str, w: ReferenceWindow
) -> int:
    where = "model = ? AND ts >= ? AND ts < ?"
    params: list[Any] = [ref_id, model, w.start_us, w.end_us]
    if w.version is not None:
        where += " AND version = ?"
        params.append(w.version)
    con.execute(
        "INSERT INTO reference_rows SELECT ?, features, prediction, prediction_num, score "
        f"FROM events WHERE {where}",
        params,
    )
    row = con.execute("SELECT count(*) FROM reference_rows WHERE ref_id = ?", [ref_id]).fetchall()
    return int(row[0][0])


def fill_collecting(
    con: duckdb.DuckDBPyConnection, model: str, ref_id: int, w: ReferenceWindow
) -> int:
    """A collecting window reference whose window has ended gets its rows; returns the count."""
    count = _copy_window(con, ref_id, model, w)
    con.execute(
        "UPDATE drift_references SET status = 'ready', row_count = ? WHERE ref_id = ?",
        [count, ref_id],
    )
    return count


def update_reference(con: duckdb.DuckDBPyConnection, op: UpdateReference) -> int:
    """Apply new settings/profile; returns the (possibly new) ref id, or 0 when superseded."""
    rows = con.execute("SELECT ref_id FROM drift_references WHERE model = ?", [op.model]).fetchall()
    if not rows or int(rows[0][0]) != op.ref_id:
        return 0  # replaced meanwhile: the update belongs to a reference that is gone
    ref_id = op.ref_id
    if op.new_ref_id:
        ref_id = _next_ref_id(con)
        con.execute("UPDATE reference_rows SET ref_id = ? WHERE ref_id = ?", [ref_id, op.ref_id])
        con.execute("DELETE FROM drift_summaries WHERE ref_id = ?", [op.ref_id])
        con.execute("DELETE FROM drift_progress WHERE ref_id = ?", [op.ref_id])
        con.execute("INSERT INTO drift_progress VALUES (?, 0)", [ref_id])
        con.execute("UPDATE drift_references SET ref_id = ? WHERE model = ?", [ref_id, op.model])
    if op.settings is not None:
        con.execute(
            "UPDATE drift_references SET settings = ? WHERE model = ?",
            [orjson.dumps(op.settings).decode(), op.model],
        )
    if op.profile is not None:
        con.execute(
            "UPDATE drift_references SET profile = ? WHERE model = ?",
            [orjson.dumps(op.profile).decode(), op.model],
        )
    return ref_id


def delete_reference(con: duckdb.DuckDBPyConnection, model: str) -> bool:
    rows = con.execute("SELECT ref_id FROM drift_references WHERE model = ?", [model]).fetchall()
    for (ref_id,) in rows:
        _drop_data(con, int(ref_id))
        con.execute("DELETE FROM drift_progress WHERE ref_id = ?", [int(ref_id)])
    con.execute("DELETE FROM drift_references WHERE model = ?", [model])
    return bool(rows)


def add_summaries(
    con: duckdb.DuckDBPyConnection, ref_id: int, rows: pa.Table, last_seq: int
) -> bool:
    """Add counts; a reference replaced meanwhile (no progress row) is ignored."""
    exists = con.execute(
        "SELECT last_seq FROM drift_progress WHERE ref_id = ?", [ref_id]
    ).fetchall()
    if not exists or int(exists[0][0]) >= last_seq:
        return False  # gone, or a concurrent run already covered these events
    if rows.num_rows:
        con.register("batch_summaries", rows)
        try:
            con.execute(
                """
                INSERT INTO drift_summaries AS d
                SELECT ?, version, grp, hour, feature, key, n, lo, hi FROM batch_summaries
                ON CONFLICT (ref_id, version, grp, hour, feature, key) DO UPDATE SET
                    n = d.n + excluded.n,
                    lo = CASE WHEN d.lo IS NULL THEN excluded.lo
                              ELSE least(d.lo, coalesce(excluded.lo, d.lo)) END,
                    hi = CASE WHEN d.hi IS NULL THEN excluded.hi
                              ELSE greatest(d.hi, coalesce(excluded.hi, d.hi)) END
                """,
                [ref_id],
            )
        finally:
            con.unregister("batch_summaries")
    con.execute("UPDATE drift_progress SET last_seq = ? WHERE ref_id = ?", [last_seq, ref_id])
    return True


# ---- reads -------------------------------------------------------------------------------------
def reference(cur: duckdb.DuckDBPyConnection, model: str) -> ReferenceRecord | None:
    rows = cur.execute(
        f"SELECT {_REF_COLS} FROM drift_references WHERE model = ?", [model]
    ).fetchall()
    return _record(rows[0]) if rows else None


def references(cur: duckdb.DuckDBPyConnection) -> list[ReferenceRecord]:
    rows = cur.execute(f"SELECT {_REF_COLS} FROM drift_references ORDER BY model").fetchall()
    return [_record(r) for r in rows]


def progress(cur: duckdb.DuckDBPyConnection, ref_id: int) -> int:
    rows = cur.execute("SELECT last_seq FROM drift_progress WHERE ref_id = ?", [ref_id]).fetchall()
    return int(rows[0][0]) if rows else 0


def drift_summaries(
    cur: duckdb.DuckDBPyConnection, ref_id: int, flt: EventFilter, bucket_us: int, origin_us: int
) -> SummaryRows:
    where = "ref_id = ? AND hour >= ? AND hour < ?"
    params: list[Any] = [origin_us, bucket_us, ref_id, flt.start_us, flt.end_us]
    if flt.version is not None:
        where += " AND version = ?"
        params.append(flt.version)
    if flt.group is not None:
        where += " AND grp = ?"
        params.append(flt.group)
    # Progress and summaries are read in one snapshot so that they describe the same events.
    cur.execute("BEGIN TRANSACTION")
    try:
        last = progress(cur, ref_id)
        t = cur.sql(
            f"""
            SELECT (hour - ?) // ? AS b, feature, key, sum(n)::BIGINT AS n, min(lo) AS lo,
                   max(hi) AS hi
            FROM drift_summaries WHERE {where} GROUP BY ALL
            """,
            params=params,
        ).to_arrow_table()
    finally:
        cur.execute("COMMIT")
    return SummaryRows(
        bucket=t.column("b").to_numpy(zero_copy_only=False).astype(np.int64),
        feature=t.column("feature").to_pylist(),
        key=t.column("key").to_pylist(),
        n=t.column("n").to_numpy(zero_copy_only=False).astype(np.int64),
        lo=np.asarray(t.column("lo").to_numpy(zero_copy_only=False), dtype=np.float64),
        hi=np.asarray(t.column("hi").to_numpy(zero_copy_only=False), dtype=np.float64),
        last_seq=last,
    )
