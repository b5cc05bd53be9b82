"""Bounded tag cardinality in the DuckDB store (see store/tag_types.py).

Only the writer thread admits values, so the limit holds exactly."""

from __future__ import annotations

from typing import Any

import duckdb

from modeltower.store import tag_types
from modeltower.store.tag_types import AdmitTagValues, CountFoldedTags, TagKeyStats, TagOp

# Schema version 9. Values already stored before it are known from the start (a key that had
# more than the limit keeps them all and folds only newer ones).
SCHEMA = """
CREATE TABLE tag_values (
    model VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    first_seen_us BIGINT NOT NULL,
    PRIMARY KEY (model, key, value)
);
CREATE TABLE tag_overflow (
    model VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    folded BIGINT NOT NULL,
    last_us BIGINT NOT NULL,
    PRIMARY KEY (model, key)
);
INSERT INTO tag_values
SELECT e.model, t.key, t.value ->> '$', min(e.ts)
FROM events e, json_each(e.tags) t
WHERE e.tags IS NOT NULL AND json_type(t.value) = 'VARCHAR'
GROUP BY ALL;
"""


def apply_tag_op(con: duckdb.DuckDBPyConnection, op: TagOp) -> Any:
    """Apply one tag op inside the writer's transaction."""
    if isinstance(op, AdmitTagValues):
        return admit(con, op)
    return count_folded(con, op)


def admit(con: duckdb.DuckDBPyConnection, op: AdmitTagValues) -> dict[tuple[str, str], set[str]]:
    def known(model: str, key: str) -> set[str]:
        sql = "SELECT value FROM tag_values WHERE model = ? AND key = ?"
        return {r[0] for r in con.execute(sql, [model, key]).fetchall()}

    def key_count(model: str) -> int:
        sql = "SELECT count(DISTINCT key) FROM tag_values WHERE model = ?"
        return int(con.execute(sql, [model]).fetchall()[0][0])

    def insert(model: str, key: str, values: list[str]) -> None:
        con.executemany(
            "INSERT INTO tag_values VALUES (?, ?, ?, ?)",
            [[model, key, v, op.now_us] for v in values],
        )

    return tag_types.admit(op, known, key_count, insert)


def count_folded(con: duckdb.DuckDBPyConnection, op: CountFoldedTags) -> int:
    for (model, key), n in op.counts.items():
        con.execute(
            """
            INSERT INTO tag_overflow AS o VALUES (?, ?, ?, ?)
            ON CONFLICT (model, key) DO UPDATE SET
                folded = o.folded + excluded.folded, last_us = excluded.last_us
            """,
            [model, key, n, op.now_us],
        )
    return sum(op.counts.values())


def read_tag_values(cur: duckdb.DuckDBPyConnection, model: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for key, value in cur.execute(
        "SELECT key, value FROM tag_values WHERE model = ?", [model]
    ).fetchall():
        out.setdefault(key, set()).add(value)
    return out


def read_tag_stats(
    cur: duckdb.DuckDBPyConnection, model: str | None
) -> list[tuple[str, TagKeyStats]]:
    rows = cur.execute(
        """
        SELECT coalesce(v.model, o.model) AS m, coalesce(v.key, o.key) AS k,
               coalesce(v.n, 0), coalesce(o.folded, 0)
        FROM (SELECT model, key, count(*) AS n FROM tag_values GROUP BY ALL) v
        FULL OUTER JOIN tag_overflow o ON o.model = v.model AND o.key = v.key
        WHERE ?::VARCHAR IS NULL OR coalesce(v.model, o.model) = ?
        ORDER BY m, k
        """,
        [model, model],
    ).fetchall()
    return [(m, TagKeyStats(k, int(n), int(f))) for m, k, n, f in rows]
