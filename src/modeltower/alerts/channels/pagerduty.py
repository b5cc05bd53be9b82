"""PagerDuty Events API v2: firing alerts trigger an incident, resolved ones resolve it.

The alert's fingerprint is the ``dedup_key``, so a reminder for an alert that still fires joins
the open incident instead of paging again, and the resolve event closes exactly that incident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from modeltower.alerts.channels.base import (
    Channel,
    ChannelError,
    HttpRequest,
    check_keys,
    get_str,
    get_url,
    mask_secret,
    mask_url,
)
from modeltower.store.alert_types import Notification

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_MAX = 1024  # the Events API refuses longer summaries
DEDUP_MAX = 255
CLIENT = "modeltower"

# PagerDuty knows critical, error, warning and info; a severity it does not know is an error.
_SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info"}
_ROUTING_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def pd_severity(severity: object) -> str:
    """The PagerDuty severity of an alert severity."""
    return _SEVERITIES.get(str(severity), "error")


def dedup_key(notification: Notification) -> str:
    """One incident per alert; a test notification gets its own, so it never touches a real
    incident."""
    if notification.kind == "test":
        return f"modeltower-test-{notification.id}"
    return str(notification.payload.get("fingerprint") or notification.fingerprint)[:DEDUP_MAX]


def render_event(notification: Notification, routing_key: str) -> dict[str, Any]:
    """The Events API v2 body of one notification."""
    p = notification.payload
    key = dedup_key(notification)
    resolved = notification.kind == "resolved" or (
        p.get("status") == "resolved" and notification.kind != "test"
    )
    if resolved:
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}
    model = str(p.get("model") or "")
    summary = str(p.get("summary") or p.get("rule") or "modeltower alert")
    if notification.kind == "test":
        summary = f"[TEST] {summary}"
    if len(summary) > SUMMARY_MAX:
        summary = summary[: SUMMARY_MAX - 1] + "…"
    payload: dict[str, Any] = {
        "summary": summary,
        "source": model or CLIENT,  # required and non-empty
        "severity": pd_severity(p.get("severity")),
        "component": model or None,
        "group": p.get("version"),
        "class": p.get("metric"),
        "custom_details": {
            "rule": p.get("rule"),
            "labels": p.get("labels") or {},
            "value": p.get("value"),
            "op": p.get("op"),
            "threshold": p.get("threshold"),
            "baseline": p.get("baseline"),
            "change": p.get("change"),
            "feature": p.get("feature"),
            "window": p.get("window"),
            "description": p.get("description"),
            "fired_at": p.get("fired_at"),
        },
    }
    if p.get("at"):
        payload["timestamp"] = p["at"]
    # PagerDuty refuses nulls in these optional string fields: leave them out instead.
    payload = {k: v for k, v in payload.items() if v is not None}
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": payload,
        "client": CLIENT,
    }
    dashboard = p.get("dashboard_url")
    if dashboard:
        event["client_url"] = dashboard
        event["links"] = [{"href": dashboard, "text": f"{model or 'Model'} dashboard"}]
    return event


class PagerDutyChannel(Channel):
    """Sends Events API v2 events to one PagerDuty service integration (the routing key)."""

    kind = "pagerduty"

    def __init__(self, name: str, routing_key: str, url: str = DEFAULT_URL) -> None:
        super().__init__(name)
        self.routing_key = routing_key
        self.url = url

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> PagerDutyChannel:
        """From ``{type: pagerduty, routing_key, url?}``."""
        check_keys(config, ("type", "routing_key", "url"))
        key = get_str(config, "routing_key", required=True, max_len=64)
        assert key is not None
        if not _ROUTING_KEY.match(key):
            # Never quote the key back: it may be a real one with a typo.
            raise ChannelError("routing_key", "must be 8-64 letters, digits, '-' or '_'")
        return cls(name, key, get_url(config, "url", default=DEFAULT_URL))

    def render(self, notification: Notification, now_s: float) -> HttpRequest:
        """The event POST for ``notification``."""
        body = orjson.dumps(render_event(notification, self.routing_key))
        return HttpRequest(self.url, {"content-type": "application/json"}, body)

    def masked(self) -> dict[str, Any]:
        """The config with the routing key masked (the events URL is public)."""
        url = self.url if self.url == DEFAULT_URL else mask_url(self.url)
        return {"type": self.kind, "routing_key": mask_secret(self.routing_key), "url": url}

    def secrets(self) -> tuple[str, ...]:
        """The routing key, and a custom events URL (it may be a proxy with a token)."""
        return (self.routing_key,) if self.url == DEFAULT_URL else (self.routing_key, self.url)
