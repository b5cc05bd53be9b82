"""Channel rendering and config: Slack escaping and blocks, PagerDuty events, signed webhooks
(checked with the independent ``standardwebhooks`` package), validation and secret masking."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from tests.alerts.receivers import sample_payload

from modeltower.alerts.channels import (
    DELIVERED,
    FAILED,
    RETRY,
    ChannelError,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
    mask_secret,
    mask_url,
    parse_channel,
)
from modeltower.store.alert_types import NOTIFY_PENDING, Notification

SLACK_URL = "https://hooks.slack.com/services/T0001/B0002/XXXXXXXXXXXXf00d"
ROUTING_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGabcd"
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def note(kind: str = "firing", nid: int = 7, **changes: Any) -> Notification:
    """An outbox row carrying a sample payload."""
    payload = sample_payload(kind, **changes)
    return Notification(
        id=nid,
        fingerprint=payload["fingerprint"],
        rule=payload["rule"],
        channel="ch",
        kind=kind,
        payload=payload,
        created_us=int(datetime(2026, 12, 1, 6, tzinfo=UTC).timestamp() * 1_000_000),
        status=NOTIFY_PENDING,
        attempts=0,
        next_attempt_us=0,
        last_error=None,
        delivered_us=None,
    )


def texts(obj: Any) -> list[str]:
    """Every "text" string of a Slack message, however deeply nested."""
    if isinstance(obj, dict):
        found = [obj["text"]] if isinstance(obj.get("text"), str) else []
        return found + [t for v in obj.values() if not isinstance(v, str) for t in texts(v)]
    if isinstance(obj, list):
        return [t for v in obj for t in texts(v)]
    return []


def slack_message(n: Notification) -> dict[str, Any]:
    channel = parse_channel("slack", {"type": "slack", "url": SLACK_URL})
    return orjson.loads(channel.render(n, time.time()).body)


# ---- Slack --------------------------------------------------------------------------------------
def test_slack_escapes_user_text_but_not_its_own_links() -> None:
    n = note(
        summary="a & b <!here> > c",
        description="<script>x</script>",
        model="m&m<1>",
        labels={"team": "R&D <ml>", "env": "a>b"},
    )
    message = slack_message(n)
    link = re.compile(r"<https?://[^|<>\s]+\|[^<>]*>")
    for text in texts(message):
        without_links = link.sub("", text)
        assert "<" not in without_links and ">" not in without_links, text
        assert not re.search(r"&(?!amp;|lt;|gt;)", without_links), text
    everything = "\n".join(texts(message))
    assert "a &amp; b &lt;!here&gt; &gt; c" in everything
    assert "team=R&amp;D &lt;ml&gt;" in everything
    assert "&lt;script&gt;" in everything
    # The dashboard link is real link syntax; its "&" is the entity Slack decodes.
    assert (
        "<http://mt.example:8000/models/churn-classifier?version=v2&amp;window=15m|" in everything
    )


def test_slack_message_has_the_alert_details_in_blocks() -> None:
    message = slack_message(note())
    kinds = [b["type"] for b in message["blocks"]]
    assert kinds[0] == "header" and "section" in kinds and "context" in kinds
    header = message["blocks"][0]["text"]["text"]
    assert "Firing" in header and "accuracy-drop" in header and len(header) <= 150
    fields = "\n".join(f["text"] for b in message["blocks"] for f in b.get("fields", []))
    for expected in ("critical", "churn-classifier (version v2)", "`0.81`", "&lt; 0.85", "`0.93`"):
        assert expected in fields
    assert "accuracy over 15m" in fields
    assert message["text"].startswith("[FIRING] accuracy of churn-classifier")


def test_slack_resolved_message_says_resolved() -> None:
    message = slack_message(note("resolved"))
    assert "Resolved" in message["blocks"][0]["text"]["text"]
    assert "Firing" not in json.dumps(message)
    assert message["text"].startswith("[RESOLVED]")
    assert "*RESOLVED*" in message["blocks"][1]["text"]["text"]


def test_slack_long_text_is_clipped_within_block_limits() -> None:
    message = slack_message(note(rule="r&" * 200, summary="<" * 5000))
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    assert len(message["blocks"][1]["text"]["text"]) <= 3000
    assert not re.search(r"&(?!amp;|lt;|gt;)", message["blocks"][0]["text"]["text"])


def test_slack_options_rate_limit_and_answers() -> None:
    channel = parse_channel(
        "s", {"type": "slack", "url": SLACK_URL, "channel": "#ml", "username": "tower"}
    )
    body = orjson.loads(channel.render(note(), time.time()).body)
    assert body["channel"] == "#ml" and body["username"] == "tower"
    assert channel.min_interval_s == 1.0
    same = parse_channel("t", {"type": "slack", "url": SLACK_URL})
    other = parse_channel("u", {"type": "slack", "url": SLACK_URL + "0"})
    assert channel.rate_key == same.rate_key != other.rate_key
    assert channel.rate_key is not None and "XXXX" not in channel.rate_key
    assert channel.classify(200, {}).result == DELIVERED
    limited = channel.classify(429, {"Retry-After": "3"})
    assert (limited.result, limited.retry_after_s) == (RETRY, 3.0)
    assert channel.classify(503, {}).result == RETRY
    assert channel.classify(404, {}).result == FAILED
    assert channel.classify(400, {"Retry-After": "3"}).result == FAILED
    dated = channel.classify(429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert (dated.result, dated.retry_after_s) == (RETRY, 0.0)  # a date in the past: now


# ---- PagerDuty -----------------------------------------------------------------------------------
def pd_event(n: Notification) -> dict[str, Any]:
    channel = parse_channel("pd", {"type": "pagerduty", "routing_key": ROUTING_KEY})
    request = channel.render(n, time.time())
    assert request.url == "https://events.pagerduty.com/v2/enqueue"
    return orjson.loads(request.body)


def test_pagerduty_trigger_event() -> None:
    event = pd_event(note())
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "fp-churn-accuracy"
    assert event["client"] == "modeltower"
    assert event["client_url"] == sample_payload()["dashboard_url"]
    assert event["links"] == [
        {"href": sample_payload()["dashboard_url"], "text": event["links"][0]["text"]}
    ]
    p = event["payload"]
    assert p["summary"] == sample_payload()["summary"]
    assert (p["source"], p["component"], p["group"], p["class"]) == (
        "churn-classifier", "churn-classifier", "v2", "accuracy",
    )  # fmt: skip
    assert p["severity"] == "critical" and p["timestamp"] == "2026-12-01T06:00:00+00:00"
    details = p["custom_details"]
    assert details["labels"]["team"] == "R&D <ml>"
    assert (details["value"], details["threshold"], details["baseline"]) == (0.81, 0.85, 0.93)


def test_pagerduty_resolve_closes_the_same_incident() -> None:
    trigger, resolve = pd_event(note()), pd_event(note("resolved"))
    assert resolve == {
        "routing_key": ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": trigger["dedup_key"],
    }
    reminder = pd_event(note("reminder"))
    assert (reminder["event_action"], reminder["dedup_key"]) == ("trigger", trigger["dedup_key"])


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("critical", "critical"), ("warning", "warning"), ("info", "info"), ("page-me", "error")],
)
def test_pagerduty_severity_mapping(severity: str, expected: str) -> None:
    assert pd_event(note(severity=severity))["payload"]["severity"] == expected


def test_pagerduty_test_event_and_long_summary() -> None:
    event = pd_event(note("test", nid=42, summary="x" * 5000))
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "modeltower-test-42" != sample_payload()["fingerprint"]
    assert len(event["payload"]["summary"]) == 1024
    assert event["payload"]["summary"].startswith("[TEST] x")


# ---- Webhooks ------------------------------------------------------------------------------------
def test_webhook_signature_verifies_with_standard_webhooks() -> None:
    channel = parse_channel(
        "wh", {"type": "webhook", "url": "https://example.com/h", "secret": SECRET}
    )
    now = time.time()
    request = channel.render(note(nid=9), now)
    assert request.headers["webhook-id"] == "msg_9"
    assert request.headers["webhook-timestamp"] == str(int(now))
    assert request.headers["content-type"] == "application/json"
    event = Webhook(SECRET).verify(request.body, request.headers)
    assert event["type"] == "alert.firing"
    assert event["data"] == sample_payload()
    assert event["timestamp"] == "2026-12-01T06:00:00Z"


def test_webhook_tampering_fails_verification() -> None:
    channel = parse_channel(
        "wh", {"type": "webhook", "url": "https://example.com/h", "secret": SECRET}
    )
    request = channel.render(note(), time.time())
    tampered = request.body.replace(b"0.81", b"0.99")
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.body, {**request.headers, "webhook-id": "msg_8"})
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(request.body, request.headers)


def test_webhook_retries_keep_id_and_body_and_resign() -> None:
    channel = parse_channel(
        "wh", {"type": "webhook", "url": "https://example.com/h", "secret": SECRET}
    )
    first, later = channel.render(note(), time.time() - 60), channel.render(note(), time.time())
    assert first.headers["webhook-id"] == later.headers["webhook-id"]
    assert first.body == later.body
    assert first.headers["webhook-signature"] != later.headers["webhook-signature"]
    Webhook(SECRET).verify(later.body, later.headers)


def test_webhook_without_secret_is_unsigned_and_sends_extra_headers() -> None:
    channel = parse_channel(
        "wh",
        {"type": "webhook", "url": "http://example.com/h", "headers": {"X-Token": "t0ken-123"}},
    )
    request = channel.render(note("resolved"), time.time())
    assert "webhook-signature" not in request.headers
    assert request.headers["X-Token"] == "t0ken-123"
    assert orjson.loads(request.body)["type"] == "alert.resolved"


# ---- config validation and masking ------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "type"),
        ({"type": "email"}, "type"),
        ({"type": "slack"}, "url"),
        ({"type": "slack", "url": "ftp://hooks.slack.com/x"}, "url"),
        ({"type": "slack", "url": "https:///no-host"}, "url"),
        ({"type": "slack", "url": "https://a.example/x y"}, "url"),
        ({"type": "slack", "url": SLACK_URL, "chanel": "#ml"}, "chanel"),
        ({"type": "slack", "url": SLACK_URL, "username": 3}, "username"),
        ({"type": "pagerduty"}, "routing_key"),
        ({"type": "pagerduty", "routing_key": "short"}, "routing_key"),
        ({"type": "pagerduty", "routing_key": ROUTING_KEY, "url": "events"}, "url"),
        ({"type": "webhook", "url": "https://e.example", "secret": "plain"}, "secret"),
        ({"type": "webhook", "url": "https://e.example", "secret": "whsec_!!!"}, "secret"),
        ({"type": "webhook", "url": "https://e.example", "secret": "whsec_c2hvcnQ="}, "secret"),
        ({"type": "webhook", "url": "https://e.example", "headers": ["x"]}, "headers"),
        ({"type": "webhook", "url": "https://e.example", "headers": {"Webhook-Signature": "v1,x"}}, "headers.Webhook-Signature"),
        ({"type": "webhook", "url": "https://e.example", "headers": {"X-A": "a\r\nB: b"}}, "headers.X-A"),
    ],
)  # fmt: skip
def test_invalid_configs_name_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ChannelError) as info:
        parse_channel("ch", config)
    assert info.value.field == field
    assert str(info.value) == f"{field}: {info.value.reason}"


def test_masked_configs_never_show_secrets() -> None:
    slack = parse_channel("s", {"type": "slack", "url": SLACK_URL})
    pd = parse_channel("p", {"type": "pagerduty", "routing_key": ROUTING_KEY})
    hook = parse_channel(
        "w",
        {"type": "webhook", "url": "https://user:pw@hooks.example.com:8443/in/tok3n-xyz?k=v", "secret": SECRET,
         "headers": {"Authorization": "Bearer sup3r-s3cret-value"}},
    )  # fmt: skip
    assert isinstance(slack, SlackChannel) and isinstance(pd, PagerDutyChannel)
    assert isinstance(hook, WebhookChannel)
    assert slack.masked() == {"type": "slack", "url": "https://hooks.slack.com/…f00d"}
    assert pd.masked()["routing_key"] == "…abcd"
    masked = hook.masked()
    assert masked["url"] == "https://hooks.example.com:8443/…?k=v" and masked[
        "secret"
    ] == mask_secret(SECRET)
    shown = json.dumps([slack.masked(), pd.masked(), masked])
    for secret in ("T0001/B0002", ROUTING_KEY[:-4], SECRET[6:-4], "tok3n", "pw@", "sup3r-s3cret"):
        assert secret not in shown
    # Error messages quoting a secret are redacted before they are stored or logged.
    assert "T0001" not in slack.redact(f"POST {SLACK_URL} failed")
    assert ROUTING_KEY not in pd.redact(f"bad key {ROUTING_KEY}")
    with pytest.raises(ChannelError) as info:
        parse_channel("p", {"type": "pagerduty", "routing_key": "has spaces in the key"})
    assert "spaces" not in str(info.value)


def test_mask_helpers() -> None:
    assert mask_secret("abc") == "…"  # too short to show any of it
    assert mask_secret("0123456789abcdef") == "…cdef"
    assert mask_url("https://example.com") == "https://example.com"
    assert mask_url("http://u:p@Example.com:81/a/secret-path-0042") == "http://example.com:81/…0042"
