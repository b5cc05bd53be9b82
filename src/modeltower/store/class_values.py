"""Which predictions and labels are classes: the confusion counts leave out numbers with a fraction.

A regression model's predictions and labels (3.71, 12.5) are all different, so counting them as
classes gave its confusion rollups a row for nearly every labeled event (on the 10M benchmark
data, 1.74M of the 2.83M confusion rows, none of them ever read: a regression model's metrics
come from the error sums). A class is text, a boolean or a whole number; a value whose text
reads as a number with a fraction is not one. The rule looks at the canonical text (what the
confusion tables store), whether the value came as a JSON number or as a string, so that it
can be applied to the stored rows too: the writers no longer add such rows, and the reads of
the rollups leave out those an older writer added (a database from an earlier release keeps
them until rollup retention drops their minutes). Deleting them in a migration was measured
and not done: on the 10M benchmark data the DELETE, and the rebuilt table's new index, ran
out of the server's 96 MB DuckDB memory limit (an index being built stays in memory until
its commit).

The rule is written three times — pyarrow (the DuckDB writer's in-memory deltas, and the reads
of both stores, :func:`class_rows`), PostgreSQL SQL (its writer's upserts) and DuckDB SQL (the
reference the deltas are tested against) — and tests/store/test_class_values.py checks that
they agree. The pattern bounds the digits so that every text it accepts parses to a finite
double in all three (PostgreSQL raises on a cast that overflows or underflows). Canonical texts
of numbers of magnitude below 1e-99 (three-digit exponents) are therefore counted as classes;
the values the ingest accepts stop at 1e-100, so that is the band [1e-100, 1e-99).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

# A plain decimal number, optionally with an exponent: what ``ingest.schema.canonical`` writes
# for a float (Python's repr) and what a client may send as a numeric string.
NUMBER = r"-?[0-9]{1,20}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,2})?"
Row = TypeVar("Row", bound=tuple[Any, ...])


def _maybe(col: str, find: str) -> str:
    """A cheap test that every text with a fraction passes: a number of the pattern without a
    point or a negative exponent is whole. The SQL forms run per row, not per group (a HAVING on
    the group keys is pushed below the GROUP BY), and most class names fail this test at once."""
    return " OR ".join(f"{find}({col}, '{s}') > 0" for s in (".", "e-", "E-"))


def duckdb_fraction(col: str) -> str:
    """DuckDB: true when the text ``col`` reads as a number with a fraction."""
    # CASE, not AND: DuckDB evaluated the cast on every row under AND (a failing TRY_CAST costs
    # about 0.25 µs), and CASE evaluates its THEN only on the rows its WHEN selects.
    num = f"TRY_CAST({col} AS DOUBLE)"
    return (
        f"(CASE WHEN ({_maybe(col, 'strpos')}) AND regexp_full_match({col}, '{NUMBER}') "
        f"THEN {num} <> floor({num}) ELSE false END)"
    )


def pg_fraction(col: str) -> str:
    """PostgreSQL: true when the text ``col`` reads as a number with a fraction (the cast only
    runs on text the pattern accepts: it would raise on any other)."""
    return (
        f"(CASE WHEN ({_maybe(col, 'strpos')}) AND {col} ~ '^{NUMBER}$' "
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


def class_rows(rows: Sequence[Row], lab_at: int, pred_at: int) -> list[Row]:
    """The rows (of stored confusion counts, or of raw events grouped) whose label and
    prediction are both classes. Reads filter here, on the few rows a read returns, instead of
    in its SQL: DuckDB and PostgreSQL push such a filter below the GROUP BY, onto every row
    read (on DuckDB, +3.5 ms for a 30-day timeseries by hour at 10M events)."""
    if not rows:
        return []
    texts = sorted({r[lab_at] for r in rows} | {r[pred_at] for r in rows})
    flags = fraction_flags(pa.array(texts, pa.string()))
    fractions = {t for t, f in zip(texts, flags, strict=True) if f}
    if not fractions:
        return list(rows)
    return [r for r in rows if r[lab_at] not in fractions and r[pred_at] not in fractions]


def is_fraction(text: str) -> bool:
    """One text: whether it reads as a number with a fraction (as :func:`fraction_flags`)."""
    return bool(fraction_flags(pa.array([text]))[0])
