"""Slack incoming webhooks: a Block Kit message per notification.

Slack reads ``&``, ``<`` and ``>`` as control characters (``<url|text>`` is a link, ``<!here>`` a
mention), so every piece of user-provided text is escaped before it goes into a message; only the
link syntax built here is left as markup. Slack allows about one message per second per webhook,
which ``min_interval_s`` and ``rate_key`` tell the delivery worker.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from modeltower.alerts.channels.base import (
    Channel,
    HttpRequest,
    check_keys,
    get_str,
    get_url,
    mask_url,
)
from modeltower.store.alert_types import Notification

# Block Kit limits (characters), from Slack's reference; longer text makes Slack refuse the message.
HEADER_MAX = 150
SECTION_MAX = 3000

_ICONS = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
_TITLES = {"firing": "Firing", "resolved": "Resolved", "reminder": "Still firing", "test": "Test"}


def escape(text: object) -> str:
    """Slack's escaping of user text: ``&`` first, so that the entities are not escaped twice."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(raw: object, limit: int) -> str:
    """``raw`` escaped and shortened (with "…") to at most ``limit`` characters. Cutting the raw
    text, never the escaped one, so that no ``&amp;`` entity is cut in half."""
    text = str(raw)
    out = escape(text)
    while len(out) > limit and text:
        text = text[: max(0, len(text) - (len(out) - limit) - 1)]
        out = escape(text) + "…"
    return out


def link(url: object, text: str) -> str:
    """A Slack ``<url|text>`` link; the URL may not contain the delimiters, so they are
    percent-encoded (``&`` becomes the entity Slack decodes). Not a URL: just the text."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return escape(text)
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{escape(text)}>"


def number(x: object) -> str:
    """A metric value for people: 4 significant digits, "n/a" when there is none."""
    if x is None:
        return "n/a"
    if isinstance(x, int | float) and not isinstance(x, bool):
        return f"{x:.4g}"
    return str(x)


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def render_message(payload: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The Slack message (fallback ``text`` and ``blocks``) of one notification payload."""
    resolved = payload.get("status") == "resolved" or kind == "resolved"
    title = _TITLES["resolved"] if resolved else _TITLES.get(kind, "Firing")
    severity = str(payload.get("severity") or "warning")
    icon = "✅" if resolved else "🧪" if kind == "test" else _ICONS.get(severity, "⚪")
    rule = payload.get("rule") or "alert"
    summary = payload.get("summary") or rule
    model = str(payload.get("model") or "")
    version = payload.get("version")
    model_text = f"{model} (version {version})" if version else model

    header = f"{icon} {title}: {rule}"
    # Clipped piece by piece so that the whole section stays within Slack's limit.
    head_line = f"*RESOLVED* — {clip(summary, 1000)}" if resolved else clip(summary, 1000)
    description = payload.get("description")
    body = head_line + (f"\n{clip(description, 1900)}" if description else "")

    value = f"`{number(payload.get('value'))}`"
    threshold = f"{payload.get('op', '')} {number(payload.get('threshold'))}".strip()
    fields = [
        f"*Severity*\n{escape(severity)}",
        f"*Model*\n{clip(model_text, 500)}",
        f"*Value*\n{value} (threshold {escape(threshold)})",
        f"*Metric*\n{clip(payload.get('metric') or '', 300)} over {clip(payload.get('window') or '', 50)}",
    ]
    if payload.get("baseline") is not None:
        change = payload.get("change")
        fields.append(
            f"*Baseline*\n`{number(payload['baseline'])}`"
            + (f" ({escape(change)} change)" if change else "")
        )
    if payload.get("feature"):
        fields.append(f"*Feature*\n{clip(payload['feature'], 500)}")
    when = payload.get("resolved_at") if resolved else payload.get("fired_at")
    fields.append(
        f"*{'Resolved' if resolved else 'Since'}*\n{escape(when or payload.get('at', ''))}"
    )

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(header, HEADER_MAX)}},
        {"type": "section", "text": _mrkdwn(body)},
        # Slack shows at most 10 fields per section.
        {"type": "section", "fields": [_mrkdwn(f) for f in fields[:10]]},
    ]
    labels = payload.get("labels") or {}
    if isinstance(labels, Mapping) and labels:
        text = "  ·  ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        blocks.append({"type": "context", "elements": [_mrkdwn(clip(text, SECTION_MAX))]})
    links = [link(payload.get("dashboard_url"), f"Open {model or 'the'} dashboard")]
    if payload.get("alerts_url"):
        links.append(link(payload["alerts_url"], "All alerts"))
    blocks.append({"type": "section", "text": _mrkdwn("  ·  ".join(links))})

    fallback = f"[{title.upper()}] {summary}"
    return {"text": clip(fallback, SECTION_MAX), "blocks": blocks}


class SlackChannel(Channel):
    """Posts to a Slack incoming-webhook URL (the URL is the secret)."""

    kind = "slack"
    min_interval_s = 1.0  # Slack: about one message per second per webhook

    def __init__(
        self, name: str, url: str, *, channel: str | None = None, username: str | None = None
    ) -> None:
        super().__init__(name)
        self.url = url
        self.channel = channel
        self.username = username

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> SlackChannel:
        """From ``{type: slack, url, channel?, username?}``."""
        check_keys(config, ("type", "url", "channel", "username"))
        return cls(
            name,
            get_url(config, "url"),
            channel=get_str(config, "channel", max_len=200),
            username=get_str(config, "username", max_len=200),
        )

    @property
    def rate_key(self) -> str:
        """One limit per webhook URL, keyed by a hash so the URL itself is never kept twice."""
        return "slack:" + hashlib.sha256(self.url.encode()).hexdigest()[:24]

    def render(self, notification: Notification, now_s: float) -> HttpRequest:
        """The webhook POST for ``notification``."""
        message = render_message(notification.payload, notification.kind)
        if self.channel:
            message["channel"] = self.channel
        if self.username:
            message["username"] = self.username
        return HttpRequest(self.url, {"content-type": "application/json"}, orjson.dumps(message))

    def masked(self) -> dict[str, Any]:
        """The config without the webhook URL's secret path."""
        out: dict[str, Any] = {"type": self.kind, "url": mask_url(self.url)}
        if self.channel:
            out["channel"] = self.channel
        if self.username:
            out["username"] = self.username
        return out

    def secrets(self) -> tuple[str, ...]:
        """The webhook URL (and its path, which error messages may quote alone)."""
        path = self.url.split("://", 1)[-1].partition("/")[2]
        return (self.url, path) if len(path) >= 8 else (self.url,)
