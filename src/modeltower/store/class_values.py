"""Which predictions and labels are classes: the confusion counts leave out numbers with a fraction.

A regression model's predictions and labels (3.71, 12.5) are all different, so counting them as
classes gave its confusion rollups a row for nearly every labeled event (on the 10M benchmark
data, 1.74M of the 2.83M confusion rows, none of them ever read: a regression model's metrics
come from the error sums). A class is text, a boolean or a whole number; a value whose text
reads as a number with a fraction is not one. The rule looks at the canonical text (what the
confusion tables store), whether the value came as a JSON number or as a string, so that the
migration that removes such rows from an existing database removes exactly what the writers
no longer add (store/duckdb_schema.py and store/pg_schema.py, version 20).

The same rule is written three times — DuckDB SQL, PostgreSQL SQL, and pyarrow for the DuckDB
writer's in-memory deltas — and tests/store/test_class_values.py checks that they agree. The
pattern bounds the digits so that every text it accepts parses to a finite double in all three
(PostgreSQL raises on a cast that overflows or underflows). Canonical texts of numbers of
magnitude below 1e-99 (three-digit exponents) are therefore counted as classes; the values
the ingest accepts stop at 1e-100, so that is the band [1e-100, 1e-99).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

# A plain decimal number, optionally with an exponent: what ``ingest.schema.canonical`` writes
# for a float (Python's repr) and what a client may send as a numeric string.
NUMBER = r"-?[0-9]{1,20}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,2})?"


def duckdb_fraction(col: str) -> str:
    """DuckDB: true when the text ``col`` reads as a number with a fraction."""
    num = f"TRY_CAST({col} AS DOUBLE)"
    return f"(regexp_full_match({col}, '{NUMBER}') AND {num} <> floor({num}))"


def pg_fraction(col: str) -> str:
    """PostgreSQL: true when the text ``col`` reads as a number with a fraction (the cast only
    runs on text the pattern accepts: it would raise on any other)."""
    return (
        f"(CASE WHEN {col} ~ '^{NUMBER}$' "
        f"THEN {col}::float8 <> floor({col}::float8) ELSE false END)"
    )


def duckdb_classes(lab: str = "lab", pred: str = "prediction") -> str:
    """DuckDB: true when both texts are classes (neither reads as a number with a fraction)."""
    return f"NOT {duckdb_fraction(lab)} AND NOT {duckdb_fraction(pred)}"


def pg_classes(lab: str = "lab", pred: str = "prediction") -> str:
    """PostgreSQL: as :func:`duckdb_classes`."""
    return f"NOT {pg_fraction(lab)} AND NOT {pg_fraction(pred)}"


def fraction_flags(values: pa.Array) -> npt.NDArray[np.bool_]:
    """Per text of ``values`` (NULL: False), whether it reads as a number with a fraction."""
    texts = values.cast(pa.string()) if values.type != pa.string() else values
    looks = pc.fill_null(pc.match_substring_regex(texts, f"^{NUMBER}$"), False)
    flags = np.zeros(len(texts), dtype=np.bool_)
    idx = np.flatnonzero(np.asarray(looks.to_numpy(zero_copy_only=False), dtype=np.bool_))
    if len(idx):
        x = np.asarray(
            pc.cast(texts.take(pa.array(idx)), pa.float64()).to_numpy(zero_copy_only=False),
            dtype=np.float64,
        )
        flags[idx] = x != np.floor(x)
    return flags


def is_fraction(text: str) -> bool:
    """One text: whether it reads as a number with a fraction (as :func:`fraction_flags`)."""
    return bool(fraction_flags(pa.array([text]))[0])
