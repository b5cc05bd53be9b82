"""JSON shapes of the alert endpoints (docs/ALERTS_API.md). Secrets never pass through here
unmasked: channels are shown through :meth:`Channel.masked`."""

from __future__ import annotations

from typing import Any

from modeltower.alerts.channels import Channel
from modeltower.alerts.notify import summary
from modeltower.alerts.rules import Rule
from modeltower.alerts.silences import silence_status
from modeltower.store.alert_types import (
    AlertState,
    AlertTransition,
    DeliveryAttempt,
    Notification,
    Silence,
)
from modeltower.timewindow import iso


def when(us: int | None) -> str | None:
    return None if us is None else iso(us)


def rule_json(rule: Rule, source: str) -> dict[str, Any]:
    return {**rule.spec(), "source": source}


def channel_json(channel: Channel, source: str) -> dict[str, Any]:
    return {
        "name": channel.name,
        "type": channel.kind,
        "config": channel.masked(),
        "source": source,
    }


def state_json(s: AlertState, rule: Rule | None) -> dict[str, Any]:
    return {
        "fingerprint": s.fingerprint,
        "rule": s.rule,
        "model": s.model,
        "version": s.version,
        "state": s.state,
        "severity": s.labels.get("severity"),
        "since": when(s.since_us),
        "active_since": when(s.active_us),
        "fired_at": when(s.fired_us),
        "resolved_at": when(s.resolved_us),
        "last_evaluated": when(s.last_eval_us),
        "value": s.value,
        "baseline": s.baseline,
        "threshold": s.threshold,
        "op": None if rule is None else rule.op,
        "metric": s.labels.get("metric"),
        "feature": s.labels.get("feature"),
        "window": None if rule is None else rule.window,
        "change": None if rule is None else rule.change,
        "samples": s.samples,
        "silenced": s.silenced,
        "notified": s.notified or None,
        "labels": s.labels,
        "summary": summary(rule, s) if rule is not None else s.message,
        "message": s.message or None,
    }


def transition_json(t: AlertTransition) -> dict[str, Any]:
    return {
        "fingerprint": t.fingerprint,
        "rule": t.rule,
        "model": t.model,
        "version": t.version,
        "from": t.from_state,
        "to": t.to_state,
        "at": iso(t.at_us),
        "value": t.value,
        "baseline": t.baseline,
        "threshold": t.threshold,
        "silenced": t.silenced,
        "severity": t.labels.get("severity"),
        "labels": t.labels,
        "message": t.message,
    }


def silence_json(s: Silence, now_us: int) -> dict[str, Any]:
    return {
        "id": s.id,
        "matchers": [f"{label}{op}{value}" for label, op, value in s.matchers],
        "starts_at": iso(s.starts_us),
        "ends_at": iso(s.ends_us),
        "status": silence_status(s, now_us),
        "created_at": iso(s.created_us),
        "created_by": s.created_by,
        "comment": s.comment,
    }


def notification_json(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "fingerprint": n.fingerprint,
        "rule": n.rule,
        "channel": n.channel,
        "kind": n.kind,
        "status": n.status,
        "attempts": n.attempts,
        "created_at": iso(n.created_us),
        "next_attempt_at": when(n.next_attempt_us) if n.status == "pending" else None,
        "delivered_at": when(n.delivered_us),
        "last_error": n.last_error,
        "summary": n.payload.get("summary"),
    }


def delivery_json(d: DeliveryAttempt) -> dict[str, Any]:
    return {
        "id": d.id,
        "notification_id": d.notification_id,
        "channel": d.channel,
        "attempt": d.attempt,
        "at": iso(d.at_us),
        "duration_ms": round(d.duration_ms, 3),
        "status_code": d.status_code,
        "outcome": d.outcome,
        "error": d.error,
    }
