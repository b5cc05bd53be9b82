"""What the store keeps for alerting: records, write ops and the read interface.

Alert rules and channels created over the API, the state of every alert instance, the history of
its state changes, silences, and the notification outbox with every delivery attempt. Everything
is written through the writer (one transaction per op group), so an evaluation's new states, its
history rows and the notifications they cause commit together or not at all.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

# States of an alert instance (see alerts/state.py).
OK = "ok"
PENDING = "pending"
FIRING = "firing"
RESOLVED = "resolved"
ALERT_STATES = (OK, PENDING, FIRING, RESOLVED)

# Notification statuses in the outbox.
NOTIFY_PENDING = "pending"
NOTIFY_DELIVERED = "delivered"
NOTIFY_FAILED = "failed"


@dataclass(frozen=True)
class StoredRule:
    """A rule created over the API: its normalised spec as JSON-ready dict."""

    name: str
    spec: dict[str, Any]
    created_us: int
    updated_us: int


@dataclass(frozen=True)
class StoredChannel:
    """A notification channel created over the API (the config holds its secrets)."""

    name: str
    kind: str
    config: dict[str, Any]
    created_us: int


@dataclass(frozen=True)
class AlertState:
    """The current state of one alert instance (a rule applied to one model and version)."""

    fingerprint: str
    rule: str
    model: str
    version: str | None
    state: str
    since_us: int  # when the instance entered ``state``
    active_us: int | None  # when the condition became true (start of pending)
    fired_us: int | None  # when it last went to firing
    resolved_us: int | None  # when it last resolved
    last_eval_us: int
    last_true_us: int | None  # last evaluation at which the condition held
    value: float | None
    baseline: float | None
    threshold: float
    samples: int | None
    notified: str  # the state the channels were last told about: "", "firing" or "resolved"
    notified_us: int | None
    silenced: bool
    labels: dict[str, str] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class AlertTransition:
    """One state change of an alert instance, as kept in the history."""

    fingerprint: str
    rule: str
    model: str
    version: str | None
    from_state: str
    to_state: str
    at_us: int
    value: float | None
    baseline: float | None
    threshold: float
    silenced: bool
    labels: dict[str, str]
    message: str


@dataclass(frozen=True)
class NewNotification:
    """A notification to queue in the outbox for one channel."""

    fingerprint: str
    rule: str
    channel: str
    kind: str  # "firing" | "resolved" | "reminder" | "test"
    payload: dict[str, Any]
    created_us: int


@dataclass(frozen=True)
class Notification:
    """A notification in the outbox with its delivery status."""

    id: int
    fingerprint: str
    rule: str
    channel: str
    kind: str
    payload: dict[str, Any]
    created_us: int
    status: str
    attempts: int
    next_attempt_us: int
    last_error: str | None
    delivered_us: int | None


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt to deliver a notification."""

    notification_id: int
    channel: str
    attempt: int
    at_us: int
    duration_ms: float
    status_code: int | None
    outcome: str  # "delivered" | "retry" | "failed"
    error: str | None
    id: int = 0  # assigned by the store


@dataclass(frozen=True)
class Silence:
    """Mutes notifications of matching alerts between ``starts_us`` and ``ends_us``."""

    id: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value), op in = != =~ !~
    starts_us: int
    ends_us: int
    created_us: int
    created_by: str
    comment: str


@dataclass(frozen=True)
class HistoryFilter:
    """Which history rows to read (newest first)."""

    model: str | None = None
    rule: str | None = None
    fingerprint: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    limit: int = 500


@dataclass(frozen=True)
class NotificationFilter:
    """Which outbox rows (or attempts) to read (newest first)."""

    channel: str | None = None
    fingerprint: str | None = None
    status: str | None = None
    limit: int = 500


# ---- write ops --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PutAlertRule:
    """Write op: create or replace an API rule."""

    name: str
    spec: dict[str, Any]
    now_us: int


@dataclass(frozen=True)
class DeleteAlertRule:
    """Write op: delete an API rule; result: whether it existed."""

    name: str


@dataclass(frozen=True)
class PutChannel:
    """Write op: create or replace an API channel."""

    name: str
    kind: str
    config: dict[str, Any]
    now_us: int


@dataclass(frozen=True)
class DeleteChannel:
    """Write op: delete an API channel; result: whether it existed."""

    name: str


@dataclass(frozen=True)
class PutSilence:
    """Write op: create or replace a silence (expiring one sets ``ends_us`` to now)."""

    silence: Silence


@dataclass(frozen=True)
class ApplyEvaluation:
    """Write op: one evaluation's new states, transitions and notifications, atomically.

    ``drop`` names instances to forget (their rule is gone). Result: the new notification ids."""

    states: tuple[AlertState, ...] = ()
    transitions: tuple[AlertTransition, ...] = ()
    notifications: tuple[NewNotification, ...] = ()
    drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordDelivery:
    """Write op: an attempt's outcome, and the notification's new status and next attempt."""

    attempt: DeliveryAttempt
    status: str
    next_attempt_us: int
    last_error: str | None


AlertOp = (
    PutAlertRule
    | DeleteAlertRule
    | PutChannel
    | DeleteChannel
    | PutSilence
    | ApplyEvaluation
    | RecordDelivery
)
ALERT_OPS = (
    PutAlertRule,
    DeleteAlertRule,
    PutChannel,
    DeleteChannel,
    PutSilence,
    ApplyEvaluation,
    RecordDelivery,
)


class AlertReads(abc.ABC):
    """The alerting half of the store's read interface."""

    @abc.abstractmethod
    def alert_rules(self) -> list[StoredRule]:
        """Rules created over the API, by name."""

    @abc.abstractmethod
    def channels(self) -> list[StoredChannel]:
        """Channels created over the API, by name."""

    @abc.abstractmethod
    def alert_states(self) -> list[AlertState]:
        """Every alert instance's current state."""

    @abc.abstractmethod
    def alert_history(self, flt: HistoryFilter) -> list[AlertTransition]:
        """State changes, newest first."""

    @abc.abstractmethod
    def silences(self) -> list[Silence]:
        """Every silence (active, pending and expired), newest first."""

    @abc.abstractmethod
    def notifications(self, flt: NotificationFilter) -> list[Notification]:
        """Outbox rows, newest first."""

    @abc.abstractmethod
    def notification(self, notification_id: int) -> Notification | None:
        """One outbox row."""

    @abc.abstractmethod
    def due_notifications(self, now_us: int, limit: int) -> list[Notification]:
        """Pending notifications whose next attempt is due and that are the oldest pending one
        of their (alert, channel): later ones wait, so that each alert's notifications arrive
        in order."""

    @abc.abstractmethod
    def deliveries(self, flt: NotificationFilter) -> list[DeliveryAttempt]:
        """Delivery attempts, newest first."""
