"""SQL of alerting (DuckDB store): rules, channels, states, history, silences and the outbox."""

from __future__ import annotations

from typing import Any

import duckdb
import orjson
import pyarrow as pa

from modeltower.store.alert_rows import (
    DELIVERY_COLS,
    HISTORY_FIELDS,
    OUTBOX_COLS,
    STATE_FIELDS,
    notification_from_row,
    state_from_row,
    to_json,
    to_row,
    transition_from_row,
)
from modeltower.store.alert_types import (
    NOTIFY_PENDING,
    AlertOp,
    AlertState,
    AlertTransition,
    ApplyEvaluation,
    DeleteAlertRule,
    DeleteChannel,
    DeliveryAttempt,
    HistoryFilter,
    Notification,
    NotificationFilter,
    PutAlertRule,
    PutChannel,
    PutSilence,
    RecordDelivery,
    Silence,
    StoredChannel,
    StoredRule,
)

_INT, _FLOAT, _STR, _BOOL = pa.int64(), pa.float64(), pa.string(), pa.bool_()
_STATE_SCHEMA = pa.schema(
    [
        (
            name,
            {"value": _FLOAT, "baseline": _FLOAT, "threshold": _FLOAT, "silenced": _BOOL}.get(
                name,
                _STR
                if name
                in (
                    "fingerprint",
                    "rule",
                    "model",
                    "version",
                    "state",
                    "notified",
                    "labels",
                    "message",
                )
                else _INT,
            ),
        )
        for name in STATE_FIELDS
    ]
)
_INSERT_HISTORY = (
    f"INSERT INTO alert_history ({', '.join(HISTORY_FIELDS)}) "
    f"VALUES ({', '.join('?' for _ in HISTORY_FIELDS)})"
)


def apply(con: duckdb.DuckDBPyConnection, op: AlertOp) -> Any:
    """Apply one alerting write op inside the writer's transaction."""
    if isinstance(op, ApplyEvaluation):
        return _apply_evaluation(con, op)
    if isinstance(op, RecordDelivery):
        return _record_delivery(con, op)
    if isinstance(op, PutAlertRule):
        con.execute(
            "INSERT INTO alert_rules VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "spec = excluded.spec, updated_at = excluded.updated_at",
            [op.name, to_json(op.spec), op.now_us, op.now_us],
        )
        return True
    if isinstance(op, DeleteAlertRule):
        found = con.execute("SELECT count(*) FROM alert_rules WHERE name = ?", [op.name])
        existed = bool(found.fetchall()[0][0])
        con.execute("DELETE FROM alert_rules WHERE name = ?", [op.name])
        return existed
    if isinstance(op, PutChannel):
        con.execute(
            "INSERT INTO alert_channels VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "kind = excluded.kind, config = excluded.config",
            [op.name, op.kind, to_json(op.config), op.now_us],
        )
        return True
    if isinstance(op, DeleteChannel):
        found = con.execute("SELECT count(*) FROM alert_channels WHERE name = ?", [op.name])
        existed = bool(found.fetchall()[0][0])
        con.execute("DELETE FROM alert_channels WHERE name = ?", [op.name])
        return existed
    if isinstance(op, PutSilence):
        s = op.silence
        con.execute(
            "INSERT OR REPLACE INTO alert_silences VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                s.id,
                to_json([list(m) for m in s.matchers]),
                s.starts_us,
                s.ends_us,
                s.created_us,
                s.created_by,
                s.comment,
            ],
        )
        return True
    raise TypeError(f"not an alert op: {op!r}")


def _apply_evaluation(con: duckdb.DuckDBPyConnection, op: ApplyEvaluation) -> list[int]:
    for fp in op.drop:
        con.execute("DELETE FROM alert_states WHERE fingerprint = ?", [fp])
    if op.states:
        # One statement for all instances (executemany costs a round trip per row, and an
        # evaluation rewrites every instance's last value).
        rows = [to_row(s, STATE_FIELDS) for s in op.states]
        table = pa.Table.from_pylist(
            [dict(zip(STATE_FIELDS, r, strict=True)) for r in rows], schema=_STATE_SCHEMA
        )
        con.register("batch_alert_states", table)
        try:
            con.execute(
                f"INSERT OR REPLACE INTO alert_states ({', '.join(STATE_FIELDS)}) "
                f"SELECT {', '.join(STATE_FIELDS)} FROM batch_alert_states"
            )
        finally:
            con.unregister("batch_alert_states")
    if op.transitions:
        con.executemany(
            _INSERT_HISTORY,
            [to_row(t, HISTORY_FIELDS) for t in op.transitions],
        )
    ids: list[int] = []
    for n in op.notifications:
        row = con.execute(
            "INSERT INTO alert_outbox (fingerprint, rule, channel, kind, payload, created_us, "
            "status, attempts, next_attempt_us) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?) RETURNING id",
            [
                n.fingerprint,
                n.rule,
                n.channel,
                n.kind,
                to_json(n.payload),
                n.created_us,
                NOTIFY_PENDING,
                n.created_us,
            ],
        ).fetchall()
        ids.append(int(row[0][0]))
    return ids


def _record_delivery(con: duckdb.DuckDBPyConnection, op: RecordDelivery) -> int:
    a = op.attempt
    row = con.execute(
        "INSERT INTO alert_deliveries (notification_id, channel, attempt, at_us, duration_ms, "
        "status_code, outcome, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            a.notification_id,
            a.channel,
            a.attempt,
            a.at_us,
            a.duration_ms,
            a.status_code,
            a.outcome,
            a.error,
        ],
    ).fetchall()
    delivered = a.at_us if a.outcome == "delivered" else None
    con.execute(
        "UPDATE alert_outbox SET status = ?, attempts = ?, next_attempt_us = ?, last_error = ?, "
        "delivered_us = coalesce(?, delivered_us) WHERE id = ?",
        [op.status, a.attempt, op.next_attempt_us, op.last_error, delivered, a.notification_id],
    )
    return int(row[0][0])


# ---- reads ------------------------------------------------------------------------------------
def alert_rules(cur: duckdb.DuckDBPyConnection) -> list[StoredRule]:
    rows = cur.execute(
        "SELECT name, spec, created_at, updated_at FROM alert_rules ORDER BY name"
    ).fetchall()
    return [StoredRule(r[0], orjson.loads(r[1]), r[2], r[3]) for r in rows]


def channels(cur: duckdb.DuckDBPyConnection) -> list[StoredChannel]:
    rows = cur.execute(
        "SELECT name, kind, config, created_at FROM alert_channels ORDER BY name"
    ).fetchall()
    return [StoredChannel(r[0], r[1], orjson.loads(r[2]), r[3]) for r in rows]


def alert_states(cur: duckdb.DuckDBPyConnection) -> list[AlertState]:
    rows = cur.execute(
        f"SELECT {', '.join(STATE_FIELDS)} FROM alert_states ORDER BY rule, model, version"
    ).fetchall()
    return [state_from_row(r) for r in rows]


def alert_history(cur: duckdb.DuckDBPyConnection, flt: HistoryFilter) -> list[AlertTransition]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("model", flt.model),
        ("rule", flt.rule),
        ("fingerprint", flt.fingerprint),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if flt.since_us is not None:
        where.append("at_us >= ?")
        params.append(flt.since_us)
    if flt.until_us is not None:
        where.append("at_us < ?")
        params.append(flt.until_us)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = cur.execute(
        f"SELECT {', '.join(HISTORY_FIELDS)} FROM alert_history {clause} "
        "ORDER BY at_us DESC, id DESC LIMIT ?",
        [*params, flt.limit],
    ).fetchall()
    out = []
    for r in rows:
        out.append(transition_from_row(r))
    return out


def silences(cur: duckdb.DuckDBPyConnection) -> list[Silence]:
    rows = cur.execute(
        "SELECT id, matchers, starts_us, ends_us, created_us, created_by, comment "
        "FROM alert_silences ORDER BY created_us DESC, id"
    ).fetchall()
    return [
        Silence(r[0], tuple(tuple(m) for m in orjson.loads(r[1])), r[2], r[3], r[4], r[5], r[6])
        for r in rows
    ]


def _notification_where(flt: NotificationFilter) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("channel", flt.channel),
        ("fingerprint", flt.fingerprint),
        ("status", flt.status),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return (f"WHERE {' AND '.join(where)}" if where else ""), params


def notifications(cur: duckdb.DuckDBPyConnection, flt: NotificationFilter) -> list[Notification]:
    clause, params = _notification_where(flt)
    rows = cur.execute(
        f"SELECT {OUTBOX_COLS} FROM alert_outbox {clause} ORDER BY id DESC LIMIT ?",
        [*params, flt.limit],
    ).fetchall()
    return [notification_from_row(r) for r in rows]


def notification(cur: duckdb.DuckDBPyConnection, notification_id: int) -> Notification | None:
    rows = cur.execute(
        f"SELECT {OUTBOX_COLS} FROM alert_outbox WHERE id = ?", [notification_id]
    ).fetchall()
    return notification_from_row(rows[0]) if rows else None


def due_notifications(
    cur: duckdb.DuckDBPyConnection, now_us: int, limit: int
) -> list[Notification]:
    rows = cur.execute(
        f"""
        WITH heads AS (
            SELECT min(id) AS id FROM alert_outbox WHERE status = ? GROUP BY fingerprint, channel
        )
        SELECT {OUTBOX_COLS} FROM alert_outbox
        WHERE id IN (SELECT id FROM heads) AND next_attempt_us <= ?
        ORDER BY next_attempt_us, id LIMIT ?
        """,
        [NOTIFY_PENDING, now_us, limit],
    ).fetchall()
    return [notification_from_row(r) for r in rows]


def deliveries(cur: duckdb.DuckDBPyConnection, flt: NotificationFilter) -> list[DeliveryAttempt]:
    where: list[str] = []
    params: list[Any] = []
    if flt.channel is not None:
        where.append("d.channel = ?")
        params.append(flt.channel)
    if flt.fingerprint is not None:
        where.append("o.fingerprint = ?")
        params.append(flt.fingerprint)
    if flt.status is not None:
        where.append("d.outcome = ?")
        params.append(flt.status)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    cols = ", ".join(f"d.{c.strip()}" for c in DELIVERY_COLS.split(","))
    rows = cur.execute(
        f"SELECT {cols} FROM alert_deliveries d JOIN alert_outbox o ON o.id = d.notification_id "
        f"{clause} ORDER BY d.id DESC LIMIT ?",
        [*params, flt.limit],
    ).fetchall()
    return [DeliveryAttempt(*r) for r in rows]
