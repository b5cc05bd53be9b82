"""What every notification channel shares: config validation, secret masking, HTTP outcomes.

A channel turns an outbox notification into one HTTP request (``render``, a pure function) and
says what an answer means (``classify``); ``send`` makes one attempt with them. Retries, backoff
and rate limits belong to the delivery worker (alerts/delivery.py), which sees every channel.
Channel configs carry secrets (Slack webhook URLs, PagerDuty routing keys, signing secrets):
``masked()`` and ``redact()`` are the only forms in which they may leave the channel.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import email.utils
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from modeltower.store.alert_types import Notification

# Outcome results; the same words the store keeps in DeliveryAttempt.outcome.
DELIVERED = "delivered"
RETRY = "retry"
FAILED = "failed"

_ELLIPSIS = "…"
EXCERPT_MAX = 200  # characters of a refusing answer kept in the error (and the log)

log = logging.getLogger("modeltower.delivery")


class ChannelError(ValueError):
    """A channel config is invalid; ``field`` names the offending key."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass
class HttpRequest:
    """One POST to send: where, which headers, and the exact body bytes (signatures cover them)."""

    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """What an attempt came to: ``result`` is delivered, retry or failed; ``retry_after_s`` is
    the receiver's own Retry-After, when it gave one; ``error`` says why it was not delivered."""

    result: str
    retry_after_s: float | None = None
    status_code: int | None = None
    error: str | None = None


def mask_secret(text: str) -> str:
    """``"…abcd"``: the last 4 characters only, so an operator can tell secrets apart. Short
    secrets show nothing, because 4 characters of 8 would give half of it away."""
    return _ELLIPSIS + text[-4:] if len(text) >= 12 else _ELLIPSIS


def mask_url(url: str) -> str:
    """``"https://hooks.slack.com/…f00d"``: scheme and host, never the path, query or userinfo
    (webhook URLs are bearer secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    with contextlib.suppress(ValueError):  # a malformed port is left out, not shown
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    rest = parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
    return f"{parts.scheme}://{host}/{mask_secret(rest)}" if rest else f"{parts.scheme}://{host}"


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay seconds or an HTTP date), else None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are always UTC
        when = when.replace(tzinfo=UTC)
    now = time.time() if now_s is None else now_s
    return max(0.0, when.timestamp() - now)


def classify_http(status_code: int, headers: Mapping[str, str]) -> Outcome:
    """The common reading of an HTTP answer: 2xx delivered; 408, 429 and 5xx are the receiver's
    temporary trouble (retry, honouring Retry-After); any other answer will not change by
    sending the same request again (failed)."""
    if 200 <= status_code < 300:
        return Outcome(DELIVERED)
    if status_code in (408, 429) or status_code >= 500:
        lower = {k.lower(): v for k, v in headers.items()}
        return Outcome(RETRY, parse_retry_after(lower.get("retry-after")))
    return Outcome(FAILED)


class Channel(abc.ABC):
    """A configured destination for notifications. Subclasses set ``kind`` and register
    themselves, so that :func:`parse_channel` can build them from a config dict."""

    kind: ClassVar[str]
    registry: ClassVar[dict[str, type[Channel]]] = {}
    min_interval_s: float = 0.0  # at least this long between two requests with one rate_key

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            Channel.registry[cls.kind] = cls

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    @abc.abstractmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> Channel:
        """Build from a config dict, validating every key (raises ChannelError)."""

    @abc.abstractmethod
    def render(self, notification: Notification, now_s: float) -> HttpRequest:
        """The request for one attempt of ``notification`` at time ``now_s`` (epoch seconds)."""

    @abc.abstractmethod
    def masked(self) -> dict[str, Any]:
        """The config, JSON-ready, with every secret masked (for API answers and logs)."""

    @abc.abstractmethod
    def secrets(self) -> tuple[str, ...]:
        """Config values that must never be shown in full."""

    @property
    def target(self) -> str:
        """Where requests go, masked: safe to log."""
        return str(self.masked().get("url", ""))

    @property
    def rate_key(self) -> str | None:
        """Requests sharing a key are spaced by ``min_interval_s``; None: no limit."""
        return None

    def classify(self, status_code: int, headers: Mapping[str, str]) -> Outcome:
        """What an HTTP answer means for this receiver."""
        return classify_http(status_code, headers)

    def redact(self, text: str) -> str:
        """``text`` with every secret of this channel masked (error messages quote URLs)."""
        for secret in sorted(self.secrets(), key=len, reverse=True):
            if secret:
                masked = mask_url(secret) if "://" in secret else mask_secret(secret)
                text = text.replace(secret, masked)
        return text


# ---- sending ----------------------------------------------------------------------------------
def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timed out"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {text}"
    return f"{type(exc).__name__}: {text}"


async def _excerpt(response: httpx.Response) -> str:
    """The start of the answer's body, on one line; the rest is not even read."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= EXCERPT_MAX * 4:
            break
    text = " ".join(data.decode("utf-8", "replace").split())
    return text if len(text) <= EXCERPT_MAX else text[:EXCERPT_MAX] + _ELLIPSIS


async def send(
    client: httpx.AsyncClient,
    channel: Channel,
    notification: Notification,
    now_s: float,
    timeout_s: float,
) -> Outcome:
    """One attempt: render, POST within ``timeout_s`` in all, classify. Never raises; errors
    are redacted, so they can be stored and logged."""
    try:
        request = channel.render(notification, now_s)
    except Exception as exc:  # a payload this channel cannot express: retrying won't help
        return Outcome(FAILED, error=channel.redact(f"cannot render: {_describe(exc)}"))
    try:
        async with (
            asyncio.timeout(timeout_s),
            client.stream(
                "POST", request.url, headers=request.headers, content=request.body
            ) as response,
        ):
            outcome = channel.classify(response.status_code, response.headers)
            # Read (a bounded part of) every answer: a fully read one keeps the connection alive.
            excerpt = await _excerpt(response)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:  # would fail every time
        return Outcome(FAILED, error=channel.redact(_describe(exc)))
    except (httpx.TransportError, TimeoutError) as exc:  # connection refused, reset, timeout
        return Outcome(RETRY, error=channel.redact(_describe(exc)))
    except Exception as exc:  # unexpected: keep the notification (the worker's give-up bounds it)
        reason = channel.redact(_describe(exc))
        # No traceback: its messages are not redacted, and would put secrets in the log.
        log.error("sending to channel %r broke unexpectedly: %s", channel.name, reason)
        return Outcome(RETRY, error=reason)
    code = response.status_code
    error = None if outcome.result == DELIVERED else channel.redact(f"HTTP {code}: {excerpt}")
    return dataclasses.replace(outcome, status_code=code, error=error)


# ---- config validation helpers ----------------------------------------------------------------
def check_keys(config: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse keys a channel does not know: a typo must not silently drop a setting."""
    known = set(allowed)
    for key in config:
        if key not in known:
            raise ChannelError(
                str(key), f"unknown key (expected one of {', '.join(sorted(known))})"
            )


def get_str(
    config: Mapping[str, Any], key: str, *, required: bool = False, max_len: int = 2048
) -> str | None:
    """A non-empty string setting, or None when absent and optional."""
    value = config.get(key)
    if value is None:
        if required:
            raise ChannelError(key, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ChannelError(key, "must be a non-empty string")
    if len(value) > max_len:
        raise ChannelError(key, f"must be at most {max_len} characters")
    return value.strip()


def get_url(config: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
    """An http(s) URL with a host; required unless a default is given."""
    value = get_str(config, key, required=default is None) or default
    assert value is not None
    if any(c.isspace() for c in value):
        raise ChannelError(key, "must not contain whitespace")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError as exc:
        raise ChannelError(key, f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ChannelError(key, "must be an http:// or https:// URL")
    if not parts.hostname:
        raise ChannelError(key, "must name a host")
    return value


def parse_channel(name: str, config: Mapping[str, Any]) -> Channel:
    """Build a channel from its config (``type`` is slack, pagerduty or webhook).

    Raises ChannelError naming the offending field."""
    if not isinstance(name, str) or not name.strip():
        raise ChannelError("name", "must be a non-empty string")
    if not isinstance(config, Mapping):
        raise ChannelError("type", "the channel config must be a mapping")
    kind = config.get("type")
    if kind is None:
        raise ChannelError("type", "is required")
    cls = Channel.registry.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ChannelError("type", f"must be one of {', '.join(sorted(Channel.registry))}")
    return cls.from_config(name, config)
