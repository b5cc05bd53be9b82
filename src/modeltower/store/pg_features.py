"""Typed feature values out of the JSON ``features`` column (PostgreSQL store), for drift and
data quality: the counterpart of duckdb_features.py.

The text is parsed as ``json`` (which keeps every value's text as received), once per row; per
column there is a status code (value / missing / null / type mismatch) and either a double or
the value's JSON text.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import psycopg

from modeltower.store.base import (
    ROLE_FEATURE,
    ROLE_PREDICTION,
    SAMPLE_SPACE,
    ST_MISMATCH,
    ST_MISSING,
    ST_NULL,
    ST_OK,
    ColumnData,
    ColumnSpec,
    EventFilter,
    FeatureData,
    KeyCounts,
    sample_cut,
)
from modeltower.store.pg_reads import event_where

# The JSON text of a string starting with pg_drift.NONFINITE_PREFIX.
_MARK = "'\"\ufdd0'"


def _select_list(columns: list[ColumnSpec]) -> tuple[list[str], list[str], list[Any]]:
    """Per-feature value extractions, one (status, value) pair of expressions per column, and
    the parameters (feature keys) of the extractions."""
    extract: list[str] = []
    keys: list[Any] = []
    exprs: list[str] = []
    for i, c in enumerate(columns):
        if c.role == ROLE_FEATURE:
            extract.append(f"(src.fj -> %s::text) AS j{i}")
            keys.append(c.name)
            j = f"j{i}"
            if c.numeric:
                # A string holding a number ("1.5") is a mismatch, as in the DuckDB store.
                value = f"CASE WHEN json_typeof({j}) = 'number' THEN ({j}::text)::float8 END"
                status = (
                    f"CASE WHEN {j} IS NULL THEN {ST_MISSING} "
                    f"WHEN json_typeof({j}) = 'null' THEN {ST_NULL} "
                    f"WHEN json_typeof({j}) <> 'number' OR ({value}) IN "
                    "('Infinity'::float8, '-Infinity'::float8, 'NaN'::float8) "
                    f"THEN {ST_MISMATCH} ELSE {ST_OK} END"
                )
                exprs += [f"{status} AS s{i}", f"{value} AS v{i}"]
            else:
                status = (
                    f"CASE WHEN {j} IS NULL THEN {ST_MISSING} "
                    f"WHEN json_typeof({j}) = 'null' THEN {ST_NULL} "
                    f"WHEN json_typeof({j}) IN ('object', 'array') THEN {ST_MISMATCH} "
                    f"ELSE {ST_OK} END"
                )
                # A non-finite number of a reference file (see pg_drift) reads as its token.
                text = (
                    f"CASE WHEN starts_with({j}::text, {_MARK}) "
                    f"THEN substr({j}::text, 3, length({j}::text) - 3) ELSE {j}::text END"
                )
                exprs += [f"{status} AS s{i}", f"{text} AS v{i}"]
        elif c.role == ROLE_PREDICTION:
            if c.numeric:
                exprs += [
                    f"CASE WHEN x.prediction_num IS NOT NULL THEN {ST_OK} "
                    f"WHEN x.prediction IS NOT NULL THEN {ST_MISMATCH} ELSE {ST_NULL} END AS s{i}",
                    f"x.prediction_num AS v{i}",
                ]
            else:
                exprs += [
                    f"CASE WHEN x.prediction IS NULL THEN {ST_NULL} ELSE {ST_OK} END AS s{i}",
                    f"to_json(x.prediction)::text AS v{i}",
                ]
        else:  # score
            exprs += [
                f"CASE WHEN x.score IS NULL THEN {ST_NULL} ELSE {ST_OK} END AS s{i}",
                f"x.score AS v{i}",
            ]
    return extract, exprs, keys


def _to_feature_data(
    rows: list[tuple[Any, ...]], columns: list[ColumnSpec], extra: list[str]
) -> FeatureData:
    n_extra = len(extra)
    width = n_extra + 2 * len(columns)
    cols: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * width
    out: dict[str, ColumnData] = {}
    for i, c in enumerate(columns):
        status = np.array(cols[n_extra + 2 * i], dtype=np.int8)
        values = cols[n_extra + 2 * i + 1]
        if c.numeric:
            num = np.array(values, dtype=np.float64)
            num = np.where(status == ST_OK, num, np.nan)
            out[c.key] = ColumnData(status=status, numeric=num)
        else:
            text = np.empty(len(values), dtype=object)
            text[:] = values
            out[c.key] = ColumnData(status=status, text=text)
    data = FeatureData(rows=len(rows), columns=out)
    pos = {name: k for k, name in enumerate(extra)}
    if "b" in pos:
        data.bucket = np.array(cols[pos["b"]], dtype=np.int64)
    if "version" in pos:
        for name in ("version", "grp"):
            arr = np.empty(len(rows), dtype=object)
            arr[:] = cols[pos[name]]
            setattr(data, name, arr)
    if "seq" in pos and rows:
        data.last_seq = int(max(cols[pos["seq"]]))
    return data


def _run(
    con: psycopg.Connection,
    source_sql: str,
    params: list[Any],
    columns: list[ColumnSpec],
    extra: list[str],
) -> FeatureData:
    extract, exprs, keys = _select_list(columns)
    inner = ", ".join(["src.*", *extract])
    sql = (
        f"WITH src0 AS ({source_sql}), "
        f"x AS (SELECT {inner} FROM (SELECT *, features::json AS fj FROM src0) src) "
        f"SELECT {', '.join([*(f'x.{e}' for e in extra), *exprs]) or '1'} FROM x"
    )
    rows = con.execute(sql, [*params, *keys]).fetchall()
    return _to_feature_data(rows, columns, extra)


_SRC_COLS = "features, prediction, prediction_num, score"


def _sampled(
    con: psycopg.Connection, where: str, params: list[Any], sample_max: int | None
) -> tuple[str, int]:
    """``where`` narrowed to a uniform sample of about ``sample_max`` events when it selects
    more, and how many it selects then (else 0)."""
    if sample_max is None:
        return where, 0
    row = con.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()
    events = int(row[0]) if row else 0
    cut = sample_cut(events, sample_max)
    if cut is None:
        return where, 0
    return f"{where} AND (hashtextextended(id, 0) & {SAMPLE_SPACE - 1}) < {cut}", events


def window_features(
    con: psycopg.Connection,
    flt: EventFilter,
    columns: list[ColumnSpec],
    bucket_us: int | None,
    after_seq: int | None = None,
    sample_max: int | None = None,
) -> FeatureData:
    where, params = event_where(flt)
    if after_seq is not None:
        where += " AND seq > %s::bigint"
        params.append(after_seq)
    where, sampled_from = _sampled(con, where, params, sample_max)
    if bucket_us:
        src = f"SELECT {_SRC_COLS}, (ts - %s::bigint) / %s::bigint AS b FROM events WHERE {where}"
        data = _run(con, src, [flt.start_us, bucket_us, *params], columns, ["b"])
    else:
        data = _run(con, f"SELECT {_SRC_COLS} FROM events WHERE {where}", params, columns, [])
    return dataclasses.replace(data, sampled_from=sampled_from) if sampled_from else data


def new_event_features(
    con: psycopg.Connection,
    model: str,
    columns: list[ColumnSpec],
    after_seq: int,
    upto_seq: int,
    limit: int,
    hour_us: int,
) -> FeatureData:
    src = (
        f"SELECT {_SRC_COLS}, seq, ts - ts %% {int(hour_us)} AS b, "
        "coalesce(version, '') AS version, coalesce(grp, '') AS grp FROM events "
        "WHERE model = %s AND seq > %s::bigint AND seq <= %s::bigint ORDER BY seq LIMIT %s"
    )
    return _run(
        con, src, [model, after_seq, upto_seq, limit], columns, ["b", "version", "grp", "seq"]
    )


def reference_features(
    con: psycopg.Connection, ref_id: int, columns: list[ColumnSpec]
) -> FeatureData:
    src = f"SELECT {_SRC_COLS} FROM reference_rows WHERE ref_id = %s::bigint"
    return _run(con, src, [ref_id], columns, [])


_KINDS = {"number": "number", "string": "string", "boolean": "boolean", "null": "null"}


def reference_kinds(con: psycopg.Connection, ref_id: int) -> dict[str, dict[str, int]]:
    rows = con.execute(
        f"""
        SELECT kv.key,
               CASE WHEN starts_with(kv.value::text, {_MARK}) THEN 'number'
                    ELSE json_typeof(kv.value) END,
               count(*)
        FROM reference_rows r, json_each(r.features::json) kv
        WHERE r.ref_id = %s::bigint AND r.features IS NOT NULL
        GROUP BY 1, 2
        """,
        [ref_id],
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for key, t, n in rows:
        k = _KINDS.get(str(t), "other")
        d = out.setdefault(str(key), {})
        d[k] = d.get(k, 0) + int(n)
    counts = con.execute(
        "SELECT count(*), count(prediction), count(prediction_num), count(score) "
        "FROM reference_rows WHERE ref_id = %s::bigint",
        [ref_id],
    ).fetchone()
    assert counts is not None
    # The prediction and the score are described under reserved names.
    out["\x00rows"] = {"number": int(counts[0])}
    out["\x00prediction"] = {
        "number": int(counts[2]),
        "string": int(counts[1]) - int(counts[2]),
    }
    out["\x00score"] = {"number": int(counts[3])}
    return out


def feature_keys(
    con: psycopg.Connection, flt: EventFilter, known: list[str], sample_max: int | None = None
) -> KeyCounts:
    where, params = event_where(flt)
    where, _ = _sampled(con, where, params, sample_max)
    rows = con.execute(
        f"""
        WITH ev AS (SELECT features::json AS fj FROM events WHERE {where}),
        per_key AS (SELECT k FROM ev, json_object_keys(ev.fj) AS k)
        SELECT 'k' AS t, k, count(*) FROM per_key GROUP BY k
        UNION ALL
        SELECT 'n', NULL, count(*) FROM ev
        UNION ALL
        SELECT 'u', NULL, count(*) FROM ev
            WHERE EXISTS (SELECT 1 FROM json_object_keys(ev.fj) AS k
                          WHERE NOT (k = ANY(%s::text[])))
        """,
        [*params, known],
    ).fetchall()
    keys: dict[str, int] = {}
    total = unknown = 0
    for t, key, n in rows:
        if t == "k":
            keys[str(key)] = int(n)
        elif t == "n":
            total = int(n)
        else:
            unknown = int(n)
    return KeyCounts(rows=total, keys=keys, unknown_rows=unknown)
