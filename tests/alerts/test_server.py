"""End to end with real server processes: ``serve --rules``, a crash while a notification is
pending, and the ``modeltower alerts`` commands."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from tests.alerts.receivers import Receiver, receiver

from modeltower.testing import ServerProcess

__all__ = ["receiver"]

SECRET = "whsec_" + base64.b64encode(b"server-test-secret-of-32-bytes!!").decode()
RULES = """
channels:
  hook:
    type: webhook
    url: ${HOOK_URL}
    secret: ${HOOK_SECRET}
rules:
  - name: churn-accuracy
    model: churn
    metric: accuracy
    window: 1h
    op: "<"
    threshold: 0.8
    min_samples: 20
    severity: critical
    channels: [hook]
"""


def _events(n: int, accuracy: float) -> list[dict[str, object]]:
    now = time.time()
    return [
        {
            "model": "churn",
            "id": f"e{i}",
            "timestamp": now - 30 + i * 0.1,
            "prediction": "1",
            "label": "1" if i < n * accuracy else "0",
        }
        for i in range(n)
    ]


def _wait(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_pending_notification_survives_a_crash_and_is_delivered_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    env = {
        "HOOK_URL": receiver.url("/hook"),
        "HOOK_SECRET": SECRET,
        "MODELTOWER_DELIVERY_BACKOFF_S": "0.2",
        "MODELTOWER_DELIVERY_BACKOFF_MAX_S": "0.5",
    }
    args = ["--rules", str(rules), "--alert-interval", "0.5"]
    receiver.script("/hook", [], default=(500, {}))  # down: every attempt fails
    db = tmp_path / "alerts.duckdb"
    server = ServerProcess(db, args=args, env=env).start()
    try:
        r = httpx.put(
            f"{server.url}/v1/models/churn", json={"task": "classification", "positive_label": "1"}
        )
        assert r.status_code == 200, r.text
        assert httpx.post(f"{server.url}/v1/events", json=_events(100, 0.5)).status_code == 200
        receiver.wait_for(2, "/hook", timeout=20)  # firing, tried twice, still pending
        pending = httpx.get(f"{server.url}/v1/alerts/notifications").json()["notifications"]
        assert [(n["kind"], n["status"]) for n in pending] == [("firing", "pending")]
    finally:
        server.kill()  # a crash: nothing of the shutdown path runs
    tried = len(receiver.requests("/hook"))
    receiver.script("/hook", [], default=(200, {}))  # the receiver is back
    with ServerProcess(db, args=args, env=env) as again:
        _wait(lambda: len(receiver.requests("/hook")) > tried)
        time.sleep(2.0)  # several evaluations and delivery passes: nothing more may arrive
        got = receiver.requests("/hook")
        assert len(got) == tried + 1, "delivered once after the restart"
        assert len({g.headers["webhook-id"] for g in got}) == 1  # the same notification
        data = Webhook(SECRET).verify(got[-1].body, got[-1].headers)["data"]
        assert data["kind"] == "firing" and data["model"] == "churn"
        outbox = httpx.get(f"{again.url}/v1/alerts/notifications").json()["notifications"]
        assert [(n["kind"], n["status"]) for n in outbox] == [("firing", "delivered")]
        attempts = httpx.get(f"{again.url}/v1/alerts/deliveries").json()["deliveries"]
        assert [a["outcome"] for a in reversed(attempts)] == ["retry"] * tried + ["delivered"]
        firing = httpx.get(f"{again.url}/v1/alerts", params={"state": "firing"}).json()
        assert [a["rule"] for a in firing["alerts"]] == ["churn-accuracy"]


def test_an_invalid_rules_file_stops_the_start(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace('op: "<"', 'op: "~"'), encoding="utf-8")
    env = {"HOOK_URL": "http://127.0.0.1:9/hook", "HOOK_SECRET": SECRET}
    with pytest.raises(RuntimeError, match=r"rules\[0\]\.op"):
        ServerProcess(tmp_path / "x.duckdb", args=["--rules", str(rules)], env=env).start()
    # a missing secret variable is named too
    rules.write_text(RULES, encoding="utf-8")
    with pytest.raises(RuntimeError, match="HOOK_SECRET is not set"):
        ServerProcess(
            tmp_path / "y.duckdb", args=["--rules", str(rules)], env={"HOOK_URL": "http://x"}
        ).start()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "modeltower", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
    )


def test_alerts_cli_checks_files_and_sends_test_notifications(
    tmp_path: Path, receiver: Receiver
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    env = {"HOOK_URL": receiver.url("/hook"), "HOOK_SECRET": SECRET}
    ok = _cli("alerts", "check", str(rules), env=env)
    assert ok.returncode == 0, ok.stderr
    assert "1 channel(s), 1 rule(s), valid" in ok.stdout and "churn-accuracy" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES.replace("window: 1h", "window: soon"), encoding="utf-8")
    refused = _cli("alerts", "check", str(bad), env=env)
    assert refused.returncode == 1 and "rules[0].window" in refused.stderr
    # the receiver is on 127.0.0.1: what serve --forbid-private-webhooks would refuse
    private = _cli("alerts", "check", str(rules), "--forbid-private-webhooks", env=env)
    assert private.returncode == 1, private.stdout
    assert "channels.hook.url" in private.stderr and "private" in private.stderr
    by_env = _cli(
        "alerts", "check", str(rules), env={**env, "MODELTOWER_FORBID_PRIVATE_WEBHOOKS": "1"}
    )
    assert by_env.returncode == 1 and "channels.hook.url" in by_env.stderr
    with ServerProcess(tmp_path / "cli.duckdb", args=["--rules", str(rules)], env=env) as server:
        sent = _cli("alerts", "test", "hook", "--url", server.url)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "delivered" in sent.stdout
        got = receiver.wait_for(1, "/hook")
        assert Webhook(SECRET).verify(got[0].body, got[0].headers)["data"]["kind"] == "test"
        missing = _cli("alerts", "test", "nope", "--url", server.url)
        assert missing.returncode == 1 and "no channel named 'nope'" in missing.stderr
        httpx.put(
            f"{server.url}/v1/models/churn", json={"task": "classification", "positive_label": "1"}
        )
        httpx.post(f"{server.url}/v1/events", json=_events(100, 0.5))
        assert httpx.post(f"{server.url}/v1/alerts/evaluate").status_code == 200
        listed = _cli("alerts", "list", "--url", server.url, "--state", "firing")
        assert listed.returncode == 0, listed.stderr
        assert "firing    critical  churn-accuracy: accuracy of churn over 1h: 0.5" in listed.stdout
        assert "1 alert(s): 1 firing" in listed.stdout
