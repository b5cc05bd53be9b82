"""``modeltower alerts``: check a rules file offline, list alerts, send a test notification."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modeltower.transfer import TransferError, _client, _describe, _json, _request


def check_rules_file(path: str, *, forbid_private_webhooks: bool = False) -> str:
    """Validate a rules file as ``serve --rules`` would (with ``--forbid-private-webhooks``,
    also where its channels' URLs resolve); the summary, or a RuleError or ChannelError."""
    from modeltower.alerts.channels.address import check_file_channels
    from modeltower.alerts.rules_file import load_rules_file

    parsed = load_rules_file(path)
    if forbid_private_webhooks:
        check_file_channels(parsed.channels)
    lines = [f"{path}: {len(parsed.channels)} channel(s), {len(parsed.rules)} rule(s), valid"]
    for name, conf in sorted(parsed.channels.items()):
        lines.append(f"  channel {name}: {conf.get('type')}")
    for r in parsed.rules:
        where = r.model + (
            "/each version" if r.per_version else f"/{r.version}" if r.version else ""
        )
        lines.append(
            f"  rule {r.name}: {r.metric} {r.op} {r.threshold:g} over {r.window} on {where}"
        )
    return "\n".join(lines)


def test_channel(*, url: str, channel: str, api_key: str | None = None) -> dict[str, Any]:
    """Ask the server to send a test notification to ``channel``; its first attempt's outcome."""
    with _client(url, api_key, timeout=60.0) as client:
        resp = _request(client, "POST", f"/v1/alerts/channels/{quote(channel, safe='')}/test")
        if resp.status_code != 200:
            raise TransferError(_describe(resp))
        return dict(_json(resp))


def describe_test(answer: dict[str, Any]) -> tuple[str, bool]:
    """A line per attempt, and whether the notification was delivered."""
    n = answer["notification"]
    lines = [f"test notification {n['id']} to {n['channel']}: {n['status']}"]
    for a in answer.get("attempts", []):
        code = a["status_code"] if a["status_code"] is not None else "-"
        lines.append(
            f"  attempt {a['attempt']}: {a['outcome']} (HTTP {code}) {a['error'] or ''}".rstrip()
        )
    if n["status"] == "pending" and n.get("last_error"):
        lines.append(f"  will retry: {n['last_error']}")
    return "\n".join(lines), n["status"] == "delivered"


def list_alerts(*, url: str, state: str | None = None, api_key: str | None = None) -> str:
    """The server's alert instances, one line each (firing first)."""
    with _client(url, api_key) as client:
        params = {"state": state} if state else None
        resp = _request(client, "GET", "/v1/alerts", params=params)
        if resp.status_code != 200:
            raise TransferError(_describe(resp))
        body = dict(_json(resp))
    lines = []
    for a in body["alerts"]:
        muted = " (silenced)" if a["silenced"] else ""
        lines.append(f"{a['state']:<9} {a['severity'] or '':<9} {a['rule']}: {a['summary']}{muted}")
    counts = ", ".join(f"{n} {k}" for k, n in body["counts"].items() if n)
    lines.append(f"{len(body['alerts'])} alert(s){': ' + counts if counts else ''}")
    return "\n".join(lines)
