"""SQL of alerting (PostgreSQL store): rules, channels, states, history, silences and the outbox."""

from __future__ import annotations

from typing import Any

import orjson
import psycopg

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

_UPSERT_STATE = (
    f"INSERT INTO alert_states ({', '.join(STATE_FIELDS)}) "
    f"VALUES ({', '.join('%s' for _ in STATE_FIELDS)}) ON CONFLICT (fingerprint) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in STATE_FIELDS if c != "fingerprint")
)
_INSERT_HISTORY = (
    f"INSERT INTO alert_history ({', '.join(HISTORY_FIELDS)}) "
    f"VALUES ({', '.join('%s' for _ in HISTORY_FIELDS)})"
)


def _existed(con: psycopg.Connection, sql: str, key: str) -> bool:
    return con.execute(sql, [key]).fetchone() is not None


def apply(con: psycopg.Connection, op: AlertOp) -> Any:
    """Apply one alerting write op inside the writer's transaction."""
    if isinstance(op, ApplyEvaluation):
        return _apply_evaluation(con, op)
    if isinstance(op, RecordDelivery):
        return _record_delivery(con, op)
    if isinstance(op, PutAlertRule):
        con.execute(
            "INSERT INTO alert_rules VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
            "spec = excluded.spec, updated_at = excluded.updated_at",
            [op.name, to_json(op.spec), op.now_us, op.now_us],
        )
        return True
    if isinstance(op, DeleteAlertRule):
        return _existed(con, "DELETE FROM alert_rules WHERE name = %s RETURNING 1", op.name)
    if isinstance(op, PutChannel):
        con.execute(
            "INSERT INTO alert_channels VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
            "kind = excluded.kind, config = excluded.config",
            [op.name, op.kind, to_json(op.config), op.now_us],
        )
        return True
    if isinstance(op, DeleteChannel):
        return _existed(con, "DELETE FROM alert_channels WHERE name = %s RETURNING 1", op.name)
    if isinstance(op, PutSilence):
        s = op.silence
        con.execute(
            "INSERT INTO alert_silences VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, "
            "starts_us = excluded.starts_us, ends_us = excluded.ends_us, "
            "created_us = excluded.created_us, created_by = excluded.created_by, "
            "comment = excluded.comment",
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


def _apply_evaluation(con: psycopg.Connection, op: ApplyEvaluation) -> list[int]:
    cur = con.cursor()
    if op.drop:
        con.execute("DELETE FROM alert_states WHERE fingerprint = ANY(%s::text[])", [list(op.drop)])
    if op.states:
        # executemany pipelines the statements: one round trip for all instances.
        cur.executemany(_UPSERT_STATE, [to_row(s, STATE_FIELDS) for s in op.states])
    if op.transitions:
        cur.executemany(
            _INSERT_HISTORY,
            [to_row(t, HISTORY_FIELDS) for t in op.transitions],
        )
    ids: list[int] = []
    for n in op.notifications:
        row = con.execute(
            "INSERT INTO alert_outbox (fingerprint, rule, channel, kind, payload, created_us, "
            "status, attempts, next_attempt_us) VALUES (%s, %s, %s, %s, %s, %s, %s, 0, %s) "
            "RETURNING id",
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
        ).fetchone()
        assert row is not None
        ids.append(int(row[0]))
    return ids


def _record_delivery(con: psycopg.Connection, op: RecordDelivery) -> int:
    a = op.attempt
    row = con.execute(
        "INSERT INTO alert_deliveries (notification_id, channel, attempt, at_us, duration_ms, "
        "status_code, outcome, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
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
    ).fetchone()
    assert row is not None
    delivered = a.at_us if a.outcome == "delivered" else None
    con.execute(
        "UPDATE alert_outbox SET status = %s, attempts = %s, next_attempt_us = %s, "
        "last_error = %s, delivered_us = coalesce(%s::bigint, delivered_us) WHERE id = %s",
        [op.status, a.attempt, op.next_attempt_us, op.last_error, delivered, a.notification_id],
    )
    return int(row[0])


# ---- reads ------------------------------------------------------------------------------------
def alert_rules(con: psycopg.Connection) -> list[StoredRule]:
    rows = con.execute(
        "SELECT name, spec, created_at, updated_at FROM alert_rules ORDER BY name"
    ).fetchall()
    return [StoredRule(r[0], orjson.loads(r[1]), r[2], r[3]) for r in rows]


def channels(con: psycopg.Connection) -> list[StoredChannel]:
    rows = con.execute(
        "SELECT name, kind, config, created_at FROM alert_channels ORDER BY name"
    ).fetchall()
    return [StoredChannel(r[0], r[1], orjson.loads(r[2]), r[3]) for r in rows]


def alert_states(con: psycopg.Connection) -> list[AlertState]:
    rows = con.execute(
        f"SELECT {', '.join(STATE_FIELDS)} FROM alert_states ORDER BY rule, model, version"
    ).fetchall()
    return [state_from_row(r) for r in rows]


def alert_history(con: psycopg.Connection, flt: HistoryFilter) -> list[AlertTransition]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("model", flt.model),
        ("rule", flt.rule),
        ("fingerprint", flt.fingerprint),
    ):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if flt.since_us is not None:
        where.append("at_us >= %s::bigint")
        params.append(flt.since_us)
    if flt.until_us is not None:
        where.append("at_us < %s::bigint")
        params.append(flt.until_us)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = con.execute(
        f"SELECT {', '.join(HISTORY_FIELDS)} FROM alert_history {clause} "
        "ORDER BY at_us DESC, id DESC LIMIT %s",
        [*params, flt.limit],
    ).fetchall()
    out = []
    for r in rows:
        out.append(transition_from_row(r))
    return out


def silences(con: psycopg.Connection) -> list[Silence]:
    rows = con.execute(
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
            where.append(f"{column} = %s")
            params.append(value)
    return (f"WHERE {' AND '.join(where)}" if where else ""), params


def notifications(con: psycopg.Connection, flt: NotificationFilter) -> list[Notification]:
    clause, params = _notification_where(flt)
    rows = con.execute(
        f"SELECT {OUTBOX_COLS} FROM alert_outbox {clause} ORDER BY id DESC LIMIT %s",
        [*params, flt.limit],
    ).fetchall()
    return [notification_from_row(r) for r in rows]


def notification(con: psycopg.Connection, notification_id: int) -> Notification | None:
    row = con.execute(
        f"SELECT {OUTBOX_COLS} FROM alert_outbox WHERE id = %s", [notification_id]
    ).fetchone()
    return None if row is None else notification_from_row(row)


def due_notifications(con: psycopg.Connection, now_us: int, limit: int) -> list[Notification]:
    rows = con.execute(
        f"""
        WITH heads AS (
            SELECT min(id) AS id FROM alert_outbox WHERE status = %s GROUP BY fingerprint, channel
        )
        SELECT {OUTBOX_COLS} FROM alert_outbox
        WHERE id IN (SELECT id FROM heads) AND next_attempt_us <= %s::bigint
        ORDER BY next_attempt_us, id LIMIT %s
        """,
        [NOTIFY_PENDING, now_us, limit],
    ).fetchall()
    return [notification_from_row(r) for r in rows]


def deliveries(con: psycopg.Connection, flt: NotificationFilter) -> list[DeliveryAttempt]:
    where: list[str] = []
    params: list[Any] = []
    if flt.channel is not None:
        where.append("d.channel = %s")
        params.append(flt.channel)
    if flt.fingerprint is not None:
        where.append("o.fingerprint = %s")
        params.append(flt.fingerprint)
    if flt.status is not None:
        where.append("d.outcome = %s")
        params.append(flt.status)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    cols = ", ".join(f"d.{c.strip()}" for c in DELIVERY_COLS.split(","))
    rows = con.execute(
        f"SELECT {cols} FROM alert_deliveries d JOIN alert_outbox o ON o.id = d.notification_id "
        f"{clause} ORDER BY d.id DESC LIMIT %s",
        [*params, flt.limit],
    ).fetchall()
    return [DeliveryAttempt(*r) for r in rows]
