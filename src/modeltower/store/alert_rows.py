"""Row shapes of the alerting tables, shared by both backends (duckdb_alerts, pg_alerts): the
column lists, how records become rows and rows become records. Only the SQL differs per backend."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from modeltower.store.alert_types import AlertState, AlertTransition, Notification

STATE_FIELDS = [f.name for f in dataclasses.fields(AlertState)]
HISTORY_FIELDS = [f.name for f in dataclasses.fields(AlertTransition)]
OUTBOX_COLS = (
    "id, fingerprint, rule, channel, kind, payload, created_us, status, attempts, "
    "next_attempt_us, last_error, delivered_us"
)
DELIVERY_COLS = (
    "notification_id, channel, attempt, at_us, duration_ms, status_code, outcome, error, id"
)


def to_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def to_row(obj: Any, fields: list[str]) -> list[Any]:
    """A state or transition as column values (labels as JSON text)."""
    values = dataclasses.astuple(obj)
    return [to_json(v) if name == "labels" else v for name, v in zip(fields, values, strict=True)]


def state_from_row(row: tuple[Any, ...]) -> AlertState:
    values = dict(zip(STATE_FIELDS, row, strict=True))
    values["labels"] = orjson.loads(values["labels"])
    return AlertState(**values)


def transition_from_row(row: tuple[Any, ...]) -> AlertTransition:
    values = dict(zip(HISTORY_FIELDS, row, strict=True))
    values["labels"] = orjson.loads(values["labels"])
    return AlertTransition(**values)


def notification_from_row(r: tuple[Any, ...]) -> Notification:
    """An outbox row, columns in the order of OUTBOX_COLS."""
    return Notification(
        id=r[0],
        fingerprint=r[1],
        rule=r[2],
        channel=r[3],
        kind=r[4],
        payload=orjson.loads(r[5]),
        created_us=r[6],
        status=r[7],
        attempts=r[8],
        next_attempt_us=r[9],
        last_error=r[10],
        delivered_us=r[11],
    )
