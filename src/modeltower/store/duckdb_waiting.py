"""Feedback that arrived before its event, in the DuckDB store.

New events join feedback only while some is waiting for its event (the join costs the writer
time on every batch). Which feedback waits used to be found at open by an anti-join of all
feedback with all events, which at 10M events took about 600 MB of memory and failed under a
memory limit. The keys of waiting feedback are kept in a small table instead: added when
feedback finds no event, removed when the event comes.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

SCHEMA = "CREATE TABLE feedback_waiting (k UHUGEINT NOT NULL)"
# schema version 10: the table, filled once from what is stored
VERSION_10_SQL = (
    SCHEMA + "; INSERT INTO feedback_waiting SELECT f.k FROM feedback f "
    "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.k = f.k)"
)


def any_waiting(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether some stored feedback has no event yet."""
    row = con.execute("SELECT EXISTS (SELECT 1 FROM feedback_waiting)").fetchall()
    return bool(row[0][0])


def add(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]]) -> None:
    """Record feedback of these (model, id) pairs as waiting (their events are not stored)."""
    if not pairs:
        return
    models, ids = zip(*pairs, strict=True)
    table = pa.table({"model": pa.array(models, pa.string()), "id": pa.array(ids, pa.string())})
    con.register("waiting_pairs", table)
    try:
        con.execute(
            "INSERT INTO feedback_waiting SELECT md5_number(model || chr(0) || id) "
            "FROM waiting_pairs"
        )
    finally:
        con.unregister("waiting_pairs")


def settle(con: duckdb.DuckDBPyConnection, first_seq: int, last_seq: int) -> bool:
    """Events with seq in (first_seq, last_seq] were stored: their feedback waits no more.
    Returns whether some feedback is still waiting."""
    # The feedback learns its event's time (reads of a time range find it by that).
    con.execute(
        "UPDATE feedback SET ev_ts = e.ts FROM events e "
        "WHERE e.seq > ? AND e.seq <= ? AND e.k = feedback.k "
        "AND feedback.k IN (SELECT k FROM feedback_waiting)",
        [first_seq, last_seq],
    )
    con.execute(
        "DELETE FROM feedback_waiting WHERE k IN (SELECT k FROM events WHERE seq > ? AND seq <= ?)",
        [first_seq, last_seq],
    )
    return any_waiting(con)
