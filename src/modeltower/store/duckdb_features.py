"""Typed feature values out of the JSON ``features`` column, for drift and data quality.

One scan parses each row's JSON once (a multi-path ``json_extract``) and returns, per column,
a status code (value / missing / null / type mismatch) and either a DOUBLE or the value's JSON
text. Events and reference rows have the same shape, so the same SQL serves both.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

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
from modeltower.store.duckdb_reads import event_where, json_path


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _select_list(columns: list[ColumnSpec]) -> tuple[str, list[str]]:
    """The multi-path extraction and one (status, value) pair of expressions per column."""
    paths = [json_path(c.name) for c in columns if c.role == ROLE_FEATURE]
    extract = (
        "json_extract(src.features, [" + ", ".join(_sql_str(p) for p in paths) + "])"
        if paths
        else "NULL"
    )
    exprs: list[str] = []
    fi = 0
    for i, c in enumerate(columns):
        if c.role == ROLE_FEATURE:
            fi += 1
            j = f"j[{fi}]::VARCHAR"
            if c.numeric:
                # The JSON text of a string keeps its quotes, so "1.5" (a string) is a mismatch.
                value = f"TRY_CAST({j} AS DOUBLE)"
                status = (
                    f"CASE WHEN {j} IS NULL THEN {ST_MISSING} WHEN {j} = 'null' THEN {ST_NULL} "
                    f"WHEN {value} IS NULL OR NOT isfinite({value}) THEN {ST_MISMATCH} "
                    f"ELSE {ST_OK} END"
                )
                exprs += [f"({status})::TINYINT AS s{i}", f"{value} AS v{i}"]
            else:
                status = (
                    f"CASE WHEN {j} IS NULL THEN {ST_MISSING} WHEN {j} = 'null' THEN {ST_NULL} "
                    f"WHEN left({j}, 1) IN ('{{', '[') THEN {ST_MISMATCH} ELSE {ST_OK} END"
                )
                exprs += [f"({status})::TINYINT AS s{i}", f"{j} AS v{i}"]
        elif c.role == ROLE_PREDICTION:
            if c.numeric:
                exprs += [
                    f"(CASE WHEN src.prediction_num IS NOT NULL THEN {ST_OK} "
                    f"WHEN src.prediction IS NOT NULL THEN {ST_MISMATCH} ELSE {ST_NULL} END)"
                    f"::TINYINT AS s{i}",
                    f"src.prediction_num AS v{i}",
                ]
            else:
                exprs += [
                    f"(CASE WHEN src.prediction IS NULL THEN {ST_NULL} ELSE {ST_OK} END)"
                    f"::TINYINT AS s{i}",
                    f"to_json(src.prediction)::VARCHAR AS v{i}",
                ]
        else:  # score
            exprs += [
                f"(CASE WHEN src.score IS NULL THEN {ST_NULL} ELSE {ST_OK} END)::TINYINT AS s{i}",
                f"src.score AS v{i}",
            ]
    return extract, exprs


def _to_feature_data(table: pa.Table, columns: list[ColumnSpec], extra: list[str]) -> FeatureData:
    out: dict[str, ColumnData] = {}
    for i, c in enumerate(columns):
        status = table.column(f"s{i}").to_numpy(zero_copy_only=False).astype(np.int8, copy=False)
        values = table.column(f"v{i}")
        if c.numeric:
            num = values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            num = np.where(status == ST_OK, num, np.nan)
            out[c.key] = ColumnData(status=status, numeric=num)
        else:
            out[c.key] = ColumnData(
                status=status, text=values.to_numpy(zero_copy_only=False).astype(object)
            )
    data = FeatureData(rows=table.num_rows, columns=out)
    if "b" in extra:
        data.bucket = table.column("b").to_numpy(zero_copy_only=False).astype(np.int64)
    if "version" in extra:
        data.version = table.column("version").to_numpy(zero_copy_only=False).astype(object)
        data.grp = table.column("grp").to_numpy(zero_copy_only=False).astype(object)
    if "seq" in extra and table.num_rows:
        data.last_seq = int(table.column("seq").to_numpy().max())
    return data


def _run(
    cur: duckdb.DuckDBPyConnection,
    source_sql: str,
    params: list[Any],
    columns: list[ColumnSpec],
    extra: list[str],
) -> FeatureData:
    extract, exprs = _select_list(columns)
    head = [e for e in extra]
    sql = (
        f"WITH src AS ({source_sql}), x AS (SELECT *, {extract} AS j FROM src) "
        f"SELECT {', '.join([*head, *exprs]) or '1'} FROM x src"
    )
    table = cur.sql(sql, params=params).to_arrow_table()
    return _to_feature_data(table, columns, extra)


_SRC_COLS = "features, prediction, prediction_num, score"


def _sampled(
    cur: duckdb.DuckDBPyConnection, where: str, params: list[Any], sample_max: int | None
) -> tuple[str, int]:
    """``where`` narrowed to a uniform sample of about ``sample_max`` events when it selects
    more, and how many it selects then (else 0)."""
    if sample_max is None:
        return where, 0
    row = cur.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchall()
    events = int(row[0][0])
    cut = sample_cut(events, sample_max)
    if cut is None:
        return where, 0
    # k is an md5 of the event's key, so its low bits are uniform (a mask, not %: a modulo of
    # the 128-bit k took seconds over millions of events)
    return f"{where} AND (k & {SAMPLE_SPACE - 1}::UHUGEINT) < {cut}", events


def window_features(
    cur: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    columns: list[ColumnSpec],
    bucket_us: int | None,
    after_seq: int | None = None,
    sample_max: int | None = None,
) -> FeatureData:
    where, params = event_where(flt)
    if after_seq is not None:
        where += " AND seq > ?"
        params.append(after_seq)
    where, sampled_from = _sampled(cur, where, params, sample_max)
    if bucket_us:
        src = f"SELECT {_SRC_COLS}, (ts - ?) // ? AS b FROM events WHERE {where}"
        data = _run(cur, src, [flt.start_us, bucket_us, *params], columns, ["b"])
    else:
        data = _run(cur, f"SELECT {_SRC_COLS} FROM events WHERE {where}", params, columns, [])
    return dataclasses.replace(data, sampled_from=sampled_from) if sampled_from else data


def new_event_features(
    cur: duckdb.DuckDBPyConnection,
    model: str,
    columns: list[ColumnSpec],
    after_seq: int,
    upto_seq: int,
    limit: int,
    hour_us: int,
) -> FeatureData:
    # The bound of the first ``limit`` events comes from a scan of seq alone: an ORDER BY … LIMIT
    # over the features themselves keeps its whole heap of JSON in memory, which ran out of a
    # 96MB cap on a freshly written month (the rows are summarized per hour, in any order).
    row = cur.execute(
        "SELECT max(seq) FROM (SELECT seq FROM events WHERE model = ? AND seq > ? AND seq <= ? "
        "ORDER BY seq LIMIT ?)",
        [model, after_seq, upto_seq, limit],
    ).fetchall()
    bound = upto_seq if row[0][0] is None else int(row[0][0])
    src = (
        f"SELECT {_SRC_COLS}, seq, ts - ts % {int(hour_us)} AS b, coalesce(version, '') AS version, "
        "coalesce(grp, '') AS grp FROM events WHERE model = ? AND seq > ? AND seq <= ?"
    )
    return _run(cur, src, [model, after_seq, bound], columns, ["b", "version", "grp", "seq"])


def reference_features(
    cur: duckdb.DuckDBPyConnection, ref_id: int, columns: list[ColumnSpec]
) -> FeatureData:
    src = f"SELECT {_SRC_COLS} FROM reference_rows WHERE ref_id = ?"
    return _run(cur, src, [ref_id], columns, [])


def reference_kinds(cur: duckdb.DuckDBPyConnection, ref_id: int) -> dict[str, dict[str, int]]:
    rows = cur.execute(
        """
        WITH k AS (
            SELECT features, unnest(json_keys(features)) AS key
            FROM reference_rows WHERE ref_id = ? AND features IS NOT NULL
        )
        SELECT key, json_type(features, '/' || replace(replace(key, '~', '~0'), '/', '~1')) AS t,
               count(*)
        FROM k GROUP BY ALL
        """,
        [ref_id],
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    kind = {
        "BIGINT": "number",
        "UBIGINT": "number",
        "DOUBLE": "number",
        "VARCHAR": "string",
        "BOOLEAN": "boolean",
        "NULL": "null",
    }
    for key, t, n in rows:
        k = kind.get(str(t), "other")
        d = out.setdefault(str(key), {})
        d[k] = d.get(k, 0) + int(n)
    counts = cur.execute(
        "SELECT count(*), count(prediction), count(prediction_num), count(score) "
        "FROM reference_rows WHERE ref_id = ?",
        [ref_id],
    ).fetchall()[0]
    # The prediction and the score are described under reserved names.
    out["\x00rows"] = {"number": int(counts[0])}
    out["\x00prediction"] = {
        "number": int(counts[2]),
        "string": int(counts[1]) - int(counts[2]),
    }
    out["\x00score"] = {"number": int(counts[3])}
    return out


def feature_keys(
    cur: duckdb.DuckDBPyConnection,
    flt: EventFilter,
    known: list[str],
    sample_max: int | None = None,
) -> KeyCounts:
    where, params = event_where(flt)
    where, _ = _sampled(cur, where, params, sample_max)
    rows = cur.execute(
        f"""
        WITH ev AS (SELECT json_keys(features) AS ks FROM events WHERE {where}),
        per_key AS (SELECT unnest(ks) AS key FROM ev)
        SELECT 'k' AS t, key, count(*) FROM per_key GROUP BY key
        UNION ALL
        SELECT 'n', NULL, count(*) FROM ev
        UNION ALL
        SELECT 'u', NULL, count(*) FROM ev
            WHERE len(list_filter(ks, lambda k: NOT list_contains(?::VARCHAR[], k))) > 0
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
