"""Generic JSON webhooks, signed the Standard Webhooks way (https://www.standardwebhooks.com).

``webhook-id`` is the same for every attempt of a notification, so a receiver can drop retries it
already processed; ``webhook-timestamp`` is the attempt's time and is signed with the body, so a
captured request cannot be replayed later. The body is identical across attempts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
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

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 16  # the spec asks for 24-64 random bytes; shorter keys are guessable
# Headers the channel sets itself (a config must not change what is signed or how it is sent).
RESERVED_HEADERS = frozenset(
    {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length",
     "host", "transfer-encoding", "connection"}
)  # fmt: skip
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (raises ChannelError)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ChannelError("secret", f"must start with {SECRET_PREFIX!r} followed by base64")
    try:
        encoded = secret[len(SECRET_PREFIX) :]
        # Padding is optional in the wild (Svix-style secrets omit it).
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ChannelError("secret", "is not valid base64 after 'whsec_'") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ChannelError("secret", f"must decode to at least {MIN_SECRET_BYTES} bytes")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of id.timestamp.body."""
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def event_body(notification: Notification) -> bytes:
    """``{"type": "alert.<kind>", "timestamp": <created>, "data": <payload>}`` as JSON bytes."""
    created = datetime.fromtimestamp(notification.created_us / 1_000_000, tz=UTC)
    return orjson.dumps(
        {
            "type": f"alert.{notification.kind}",
            "timestamp": created.isoformat().replace("+00:00", "Z"),
            "data": notification.payload,
        }
    )


def _headers(config: Mapping[str, Any]) -> dict[str, str]:
    raw = config.get("headers")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ChannelError("headers", "must be a mapping of header names to values")
    out: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise ChannelError(f"headers.{name}", "is not a valid header name")
        if name.lower() in RESERVED_HEADERS:
            raise ChannelError(f"headers.{name}", "is set by modeltower and cannot be overridden")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise ChannelError(f"headers.{name}", "must be a single-line string")
        out[name] = value
    return out


class WebhookChannel(Channel):
    """POSTs JSON events to any URL, signed when a secret is configured."""

    kind = "webhook"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(name)
        self.url = url
        self.secret = secret
        self._key = None if secret is None else decode_secret(secret)
        self.headers = dict(headers or {})

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> WebhookChannel:
        """From ``{type: webhook, url, secret?, headers?}``."""
        check_keys(config, ("type", "url", "secret", "headers"))
        url = get_url(config, "url")
        secret = get_str(config, "secret", max_len=512)
        if secret is not None:
            decode_secret(secret)
        return cls(name, url, secret=secret, headers=_headers(config))

    def render(self, notification: Notification, now_s: float) -> HttpRequest:
        """The signed POST for one attempt of ``notification`` at ``now_s``."""
        body = event_body(notification)
        msg_id = f"msg_{notification.id}"
        timestamp = int(now_s)
        headers = {
            **self.headers,
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
        }
        if self._key is not None:
            headers["webhook-signature"] = sign(self._key, msg_id, timestamp, body)
        return HttpRequest(self.url, headers, body)

    def masked(self) -> dict[str, Any]:
        """The config with the URL path, the secret and every extra header value masked
        (custom headers usually carry tokens)."""
        out: dict[str, Any] = {"type": self.kind, "url": mask_url(self.url)}
        if self.secret is not None:
            out["secret"] = mask_secret(self.secret)
        if self.headers:
            out["headers"] = {k: mask_secret(v) for k, v in self.headers.items()}
        return out

    def secrets(self) -> tuple[str, ...]:
        """The URL, the secret and the extra header values."""
        extra = tuple(v for v in self.headers.values() if len(v) >= 4)
        return (self.url, *((self.secret,) if self.secret else ()), *extra)
