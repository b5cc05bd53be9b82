"""Drift references and per-hour feature summaries in the PostgreSQL store.

Write functions run inside the writer's transaction; read functions take a pooled connection.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
import orjson
import psycopg
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


def _next_ref_id(con: psycopg.Connection) -> int:
    # ref ids are never reused, so stale summaries can never be mistaken for current ones
    row = con.execute(
        "SELECT greatest((SELECT coalesce(max(ref_id), 0) FROM drift_references), "
        "(SELECT coalesce(max(ref_id), 0) FROM drift_progress)) + 1"
    ).fetchone()
    assert row is not None
    return int(row[0])


def _drop_data(con: psycopg.Connection, ref_id: int) -> None:
    con.execute("DELETE FROM reference_rows WHERE ref_id = %s", [ref_id])
    con.execute("DELETE FROM drift_summaries WHERE ref_id = %s", [ref_id])


# JSON has no NaN or infinity, but reference files may hold them (DuckDB writes them as bare
# NaN/Infinity tokens, which PostgreSQL's json type refuses). Such a value is stored as a string
# with this private prefix; the extraction treats it as the non-finite number it was.
NONFINITE_PREFIX = "\ufdd0"  # a Unicode noncharacter: never in real data


def _json_safe(text: str | None) -> str | None:
    if text is None or ("NaN" not in text and "Infinity" not in text):
        return text
    try:
        obj = json.loads(text)
    except ValueError:
        return text
    if not isinstance(obj, dict):
        return text
    fixed = {
        k: NONFINITE_PREFIX + repr(v).replace("nan", "NaN").replace("inf", "Infinity")
        if isinstance(v, float) and not math.isfinite(v)
        else v
        for k, v in obj.items()
    }
    return json.dumps(fixed, ensure_ascii=False, separators=(",", ":"))


def _floats(values: list[Any]) -> list[float | None]:
    return [None if v is None else float(v) for v in values]


def set_reference(con: psycopg.Connection, op: SetReference) -> ReferenceRecord:
    old = con.execute("SELECT ref_id FROM drift_references WHERE model = %s", [op.model])
    for (old_id,) in old.fetchall():
        _drop_data(con, int(old_id))
        con.execute("DELETE FROM drift_references WHERE model = %s", [op.model])
    ref_id = _next_ref_id(con)
    count = 0
    if isinstance(op.source, ReferenceRows):
        table: pa.Table = op.source.table
        cols = [
            table.column(name).to_pylist()
            for name in ("features", "prediction", "prediction_num", "score")
        ]
        cols[0] = [_json_safe(t) for t in cols[0]]
        cols[2] = _floats(cols[2])
        cols[3] = _floats(cols[3])
        with con.cursor().copy(
            "COPY reference_rows (ref_id, features, prediction, prediction_num, score) FROM STDIN"
        ) as copy:
            for row in zip(*cols, strict=True):
                copy.write_row((ref_id, *row))
        count = table.num_rows
    elif isinstance(op.source, ReferenceWindow):
        count = _copy_window(con, ref_id, op.model, op.source)
    status = "collecting" if op.source is None else "ready"
    con.execute(
        f"INSERT INTO drift_references ({_REF_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL)",
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
    con.execute("INSERT INTO drift_progress VALUES (%s, 0)", [ref_id])
    record = con.execute(
        f"SELECT {_REF_COLS} FROM drift_references WHERE model = %s", [op.model]
    ).fetchone()
    assert record is not None
    return _record(record)


def _copy_window(con: psycopg.Connection, ref_id: int, model: str, w: ReferenceWindow) -> int:
    where = "model = %s AND ts >= %s::bigint AND ts < %s::bigint"
    params: list[Any] = [ref_id, model, w.start_us, w.end_us]
    if w.version is not None:
        where += " AND version = %s"
        params.append(w.version)
    con.execute(
        "INSERT INTO reference_rows (ref_id, features, prediction, prediction_num, score) "
        f"SELECT %s::bigint, features, prediction, prediction_num, score FROM events WHERE {where}",
        params,
    )
    row = con.execute("SELECT count(*) FROM reference_rows WHERE ref_id = %s", [ref_id]).fetchone()
    assert row is not None
    return int(row[0])


def fill_collecting(con: psycopg.Connection, model: str, ref_id: int, w: ReferenceWindow) -> int:
    """A collecting window reference whose window has ended gets its rows; returns the count."""
    count = _copy_window(con, ref_id, model, w)
    con.execute(
        "UPDATE drift_references SET status = 'ready', row_count = %s WHERE ref_id = %s",
        [count, ref_id],
    )
    return count


def update_reference(con: psycopg.Connection, op: UpdateReference) -> int:
    """Apply new settings/profile; returns the (possibly new) ref id, or 0 when superseded."""
    row = con.execute("SELECT ref_id FROM drift_references WHERE model = %s", [op.model]).fetchone()
    if row is None or int(row[0]) != op.ref_id:
        return 0  # replaced meanwhile: the update belongs to a reference that is gone
    ref_id = op.ref_id
    if op.new_ref_id:
        ref_id = _next_ref_id(con)
        con.execute("UPDATE reference_rows SET ref_id = %s WHERE ref_id = %s", [ref_id, op.ref_id])
        con.execute("DELETE FROM drift_summaries WHERE ref_id = %s", [op.ref_id])
        con.execute("DELETE FROM drift_progress WHERE ref_id = %s", [op.ref_id])
        con.execute("INSERT INTO drift_progress VALUES (%s, 0)", [ref_id])
        con.execute("UPDATE drift_references SET ref_id = %s WHERE model = %s", [ref_id, op.model])
    if op.settings is not None:
        con.execute(
            "UPDATE drift_references SET settings = %s WHERE model = %s",
            [orjson.dumps(op.settings).decode(), op.model],
        )
    if op.profile is not None:
        con.execute(
            "UPDATE drift_references SET profile = %s WHERE model = %s",
            [orjson.dumps(op.profile).decode(), op.model],
        )
    return ref_id


def delete_reference(con: psycopg.Connection, model: str) -> bool:
    rows = con.execute("SELECT ref_id FROM drift_references WHERE model = %s", [model]).fetchall()
    for (ref_id,) in rows:
        _drop_data(con, int(ref_id))
        con.execute("DELETE FROM drift_progress WHERE ref_id = %s", [int(ref_id)])
    con.execute("DELETE FROM drift_references WHERE model = %s", [model])
    return bool(rows)


def add_summaries(con: psycopg.Connection, ref_id: int, rows: pa.Table, last_seq: int) -> bool:
    """Add counts; a reference replaced meanwhile (no progress row) is ignored."""
    exists = con.execute(
        "SELECT last_seq FROM drift_progress WHERE ref_id = %s", [ref_id]
    ).fetchone()
    if exists is None or int(exists[0]) >= last_seq:
        return False  # gone, or a concurrent run already covered these events
    if rows.num_rows:
        cols = [
            rows.column(name).to_pylist()
            for name in ("version", "grp", "hour", "feature", "key", "n", "lo", "hi")
        ]
        cols[6] = _floats(cols[6])
        cols[7] = _floats(cols[7])
        con.execute(
            """
            INSERT INTO drift_summaries AS d (ref_id, version, grp, hour, feature, key, n, lo, hi)
            SELECT %s::bigint, * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[],
                                              %s::text[], %s::bigint[], %s::float8[], %s::float8[])
            ON CONFLICT (ref_id, version, grp, hour, feature, key) DO UPDATE SET
                n = d.n + excluded.n,
                lo = CASE WHEN d.lo IS NULL THEN excluded.lo
                          ELSE least(d.lo, coalesce(excluded.lo, d.lo)) END,
                hi = CASE WHEN d.hi IS NULL THEN excluded.hi
                          ELSE greatest(d.hi, coalesce(excluded.hi, d.hi)) END
            """,
            [ref_id, *cols],
        )
    con.execute("UPDATE drift_progress SET last_seq = %s WHERE ref_id = %s", [last_seq, ref_id])
    return True


# ---- reads -------------------------------------------------------------------------------------
def reference(con: psycopg.Connection, model: str) -> ReferenceRecord | None:
    row = con.execute(
        f"SELECT {_REF_COLS} FROM drift_references WHERE model = %s", [model]
    ).fetchone()
    return None if row is None else _record(row)


def references(con: psycopg.Connection) -> list[ReferenceRecord]:
    rows = con.execute(f"SELECT {_REF_COLS} FROM drift_references ORDER BY model").fetchall()
    return [_record(r) for r in rows]


def progress(con: psycopg.Connection, ref_id: int) -> int:
    row = con.execute("SELECT last_seq FROM drift_progress WHERE ref_id = %s", [ref_id]).fetchone()
    return 0 if row is None else int(row[0])


def drift_summaries(
    con: psycopg.Connection, ref_id: int, flt: EventFilter, bucket_us: int, origin_us: int
) -> SummaryRows:
    where = "ref_id = %s::bigint AND hour >= %s::bigint AND hour < %s::bigint"
    params: list[Any] = [origin_us, bucket_us, ref_id, flt.start_us, flt.end_us]
    if flt.version is not None:
        where += " AND version = %s"
        params.append(flt.version)
    if flt.group is not None:
        where += " AND grp = %s"
        params.append(flt.group)
    # Progress and summaries are read in one snapshot so that they describe the same events.
    with con.transaction():
        con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        last = progress(con, ref_id)
        rows = con.execute(
            f"""
            SELECT (hour - %s::bigint) / %s::bigint AS b, feature, key, sum(n)::bigint AS n,
                   min(lo) AS lo, max(hi) AS hi
            FROM drift_summaries WHERE {where} GROUP BY 1, 2, 3
            """,
            params,
        ).fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 6
    return SummaryRows(
        bucket=np.array(cols[0], dtype=np.int64),
        feature=list(cols[1]),
        key=list(cols[2]),
        n=np.array(cols[3], dtype=np.int64),
        lo=np.array(cols[4], dtype=np.float64),
        hi=np.array(cols[5], dtype=np.float64),
        last_seq=last,
    )
