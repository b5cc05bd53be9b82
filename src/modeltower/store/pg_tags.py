"""Bounded tag cardinality in the PostgreSQL store (see store/tag_types.py).

Admissions of every process on the database take one transaction-level advisory lock and read
the known values after taking it (READ COMMITTED: each statement sees the latest commits), so
the limit holds exactly across replicas; a replica's own cache of known values is only ever a
subset of the table."""

from __future__ import annotations

from typing import Any

import psycopg

from modeltower.store import tag_types
from modeltower.store.tag_types import AdmitTagValues, CountFoldedTags, TagKeyStats, TagOp

LOCK_TAGS = 0x6D74_0009

# Schema version 9. Values already stored before it are known from the start.
SCHEMA = """
CREATE TABLE tag_values (
    model TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    first_seen_us BIGINT NOT NULL,
    PRIMARY KEY (model, key, value)
);
CREATE TABLE tag_overflow (
    model TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    folded BIGINT NOT NULL,
    last_us BIGINT NOT NULL,
    PRIMARY KEY (model, key)
);
INSERT INTO tag_values
SELECT e.model, t.key, t.value, min(e.ts)
FROM events e, jsonb_each_text(e.tags::jsonb) t
WHERE e.tags IS NOT NULL AND jsonb_typeof(e.tags::jsonb -> t.key) = 'string'
GROUP BY e.model, t.key, t.value;
"""


def apply_tag_op(con: psycopg.Connection, op: TagOp) -> Any:
    """Apply one tag op inside the writer's transaction."""
    if isinstance(op, AdmitTagValues):
        return admit(con, op)
    return count_folded(con, op)


def admit(con: psycopg.Connection, op: AdmitTagValues) -> dict[tuple[str, str], set[str]]:
    con.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_TAGS])

    def known(model: str, key: str) -> set[str]:
        sql = "SELECT value FROM tag_values WHERE model = %s AND key = %s"
        return {r[0] for r in con.execute(sql, [model, key]).fetchall()}

    def key_count(model: str) -> int:
        sql = "SELECT count(DISTINCT key) FROM tag_values WHERE model = %s"
        row = con.execute(sql, [model]).fetchone()
        return int(row[0]) if row else 0

    def insert(model: str, key: str, values: list[str]) -> None:
        con.execute(
            "INSERT INTO tag_values SELECT %s, %s, v, %s FROM unnest(%s::text[]) AS u(v) "
            "ON CONFLICT DO NOTHING",
            [model, key, op.now_us, values],
        )

    return tag_types.admit(op, known, key_count, insert)


def count_folded(con: psycopg.Connection, op: CountFoldedTags) -> int:
    for (model, key), n in op.counts.items():
        con.execute(
            """
            INSERT INTO tag_overflow AS o VALUES (%s, %s, %s, %s)
            ON CONFLICT (model, key) DO UPDATE SET
                folded = o.folded + excluded.folded, last_us = excluded.last_us
            """,
            [model, key, n, op.now_us],
        )
    return sum(op.counts.values())


def read_tag_values(con: psycopg.Connection, model: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for key, value in con.execute(
        "SELECT key, value FROM tag_values WHERE model = %s", [model]
    ).fetchall():
        out.setdefault(key, set()).add(value)
    return out


def read_tag_stats(con: psycopg.Connection, model: str | None) -> list[tuple[str, TagKeyStats]]:
    rows = con.execute(
        """
        SELECT coalesce(v.model, o.model) AS m, coalesce(v.key, o.key) AS k,
               coalesce(v.n, 0), coalesce(o.folded, 0)
        FROM (SELECT model, key, count(*) AS n FROM tag_values GROUP BY model, key) v
        FULL OUTER JOIN tag_overflow o ON o.model = v.model AND o.key = v.key
        WHERE %s::text IS NULL OR coalesce(v.model, o.model) = %s
        ORDER BY m, k
        """,
        [model, model],
    ).fetchall()
    return [(m, TagKeyStats(k, int(n), int(f))) for m, k, n, f in rows]
