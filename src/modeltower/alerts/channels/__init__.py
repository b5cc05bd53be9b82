"""Notification channels: Slack, PagerDuty and signed webhooks.

``parse_channel(name, config)`` builds one from its config dict (``type`` picks the kind); a
channel renders a notification into one HTTP request and classifies the answer, and the delivery
worker (alerts/delivery.py) does the sending, retrying and rate limiting.
"""

from modeltower.alerts.channels.base import (
    DELIVERED,
    FAILED,
    RETRY,
    Channel,
    ChannelError,
    HttpRequest,
    Outcome,
    mask_secret,
    mask_url,
    parse_channel,
)
from modeltower.alerts.channels.pagerduty import PagerDutyChannel
from modeltower.alerts.channels.slack import SlackChannel
from modeltower.alerts.channels.webhook import WebhookChannel

CHANNEL_TYPES = tuple(sorted(Channel.registry))

__all__ = [
    "CHANNEL_TYPES",
    "DELIVERED",
    "FAILED",
    "RETRY",
    "Channel",
    "ChannelError",
    "HttpRequest",
    "Outcome",
    "PagerDutyChannel",
    "SlackChannel",
    "WebhookChannel",
    "mask_secret",
    "mask_url",
    "parse_channel",
]
