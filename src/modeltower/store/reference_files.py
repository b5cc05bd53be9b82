"""Reading an uploaded reference dataset (CSV, Parquet, JSON rows) into event-shaped rows.

The file is parsed by a private in-memory DuckDB, outside the writer, so that a bad file is a
clear 4xx for its uploader and never holds up ingestion.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

FORMATS = ("csv", "parquet", "json")

# Columns of an event (or of an export) that are not features.
RESERVED = frozenset(
    {
        "id",
        "model",
        "version",
        "ts",
        "timestamp",
        "received_at",
        "prediction",
        "score",
        "scores",
        "label",
        "latency_ms",
        "error",
        "group",
        "grp",
        "converted",
        "revenue",
        "input_hash",
        "tags",
        "features",
    }
)
_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE")


class ReferenceFileInvalid(ValueError):
    """The uploaded file cannot be used as a reference; the message says why."""


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _reader(path: str, fmt: str) -> str:
    if fmt == "csv":
        return f"read_csv({_lit(path)}, header = true, auto_detect = true)"
    if fmt == "parquet":
        return f"read_parquet({_lit(path)})"
    if fmt == "json":
        return f"read_json({_lit(path)}, format = 'auto', maximum_object_size = 16777216)"
    raise ReferenceFileInvalid(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def load_reference_file(path: str, fmt: str, max_rows: int) -> pa.Table:
    """Rows of ``path`` as a table with columns features (JSON text), prediction,
    prediction_num and score.

    Features are, in order of preference: a ``features`` object column (event-shaped JSON rows),
    ``feature.<name>`` columns (the export format), or every column that is not an event field.
    """
    con = duckdb.connect()
    try:
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {_reader(path, fmt)}").fetchall()
        except duckdb.Error as exc:
            raise ReferenceFileInvalid(f"cannot read the {fmt} file: {exc}") from None
        types = {str(r[0]): str(r[1]) for r in described}
        if "features" in types:
            features = f"to_json({_ident('features')})::VARCHAR"
        else:
            prefixed = [c for c in types if c.startswith("feature.") and len(c) > 8]
            cols = (
                [(c[8:], c) for c in prefixed]
                if prefixed
                else [(c, c) for c in types if c not in RESERVED and not c.startswith("tag.")]
            )
            if not cols:
                raise ReferenceFileInvalid(
                    "the file has no feature columns (columns found: " + ", ".join(types) + ")"
                )
            args = ", ".join(f"{_lit(name)}, {_ident(col)}" for name, col in cols)
            features = f"json_object({args})::VARCHAR"
        pred_t = types.get("prediction")
        if pred_t is None:
            prediction, prediction_num = "NULL::VARCHAR", "NULL::DOUBLE"
        else:
            prediction = f"CAST({_ident('prediction')} AS VARCHAR)"
            prediction_num = (
                f"CAST({_ident('prediction')} AS DOUBLE)"
                if pred_t.startswith(_NUMERIC_TYPES) or pred_t.startswith("DECIMAL")
                else "NULL::DOUBLE"
            )
        score = "TRY_CAST(score AS DOUBLE)" if "score" in types else "NULL::DOUBLE"
        sql = (
            f"SELECT {features} AS features, {prediction} AS prediction, "
            f"{prediction_num} AS prediction_num, {score} AS score "
            f"FROM {_reader(path, fmt)} LIMIT {int(max_rows) + 1}"
        )
        try:
            table = con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise ReferenceFileInvalid(f"cannot read the {fmt} file: {exc}") from None
    finally:
        con.close()
    if table.num_rows == 0:
        raise ReferenceFileInvalid("the file holds no rows")
    if table.num_rows > max_rows:
        raise ReferenceFileInvalid(f"the file holds more than {max_rows} rows")
    if _holds_nul(table):
        raise ReferenceFileInvalid(
            "a value or column name holds the NUL character (U+0000), which cannot be stored"
        )
    return table


# ``\u0000`` in JSON text that is not an escaped backslash followed by "u0000".
_NUL_ESCAPE = r"(^|[^\\])(\\\\)*\\u0000"


def _holds_nul(table: pa.Table) -> bool:
    """Whether a string of the rows holds NUL: PostgreSQL cannot store it, so no backend does."""
    features = pc.match_substring_regex(table["features"], _NUL_ESCAPE)
    prediction = pc.match_substring(table["prediction"], "\x00")
    return bool(pc.any(features).as_py()) or bool(pc.any(prediction).as_py())
