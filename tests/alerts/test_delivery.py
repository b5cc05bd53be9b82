"""The delivery worker against real receivers: a real DuckDB outbox, the real writer, real HTTP.

Backoff settings are tiny so retries happen within the test; Retry-After and Slack's 1 s spacing
are real waits (about a second each), so the whole module takes a few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from tests.alerts.receivers import Receiver, closed_port_url, receiver, sample_payload

from modeltower.alerts.channels import Channel, HttpRequest, WebhookChannel, parse_channel
from modeltower.alerts.delivery import RETRY_AFTER_MAX_S, DeliveryWorker
from modeltower.ingest.writer import Writer
from modeltower.store.alert_types import (
    ApplyEvaluation,
    NewNotification,
    Notification,
    NotificationFilter,
)
from modeltower.store.duckdb_store import DuckDBStore

pytestmark = pytest.mark.anyio
__all__ = ["receiver"]  # the fixture, used by name

SECRET = "whsec_" + base64.b64encode(b"delivery-test-secret-32-bytes!!!").decode()
ROUTING_KEY = "0123456789abcdef0123456789abcdef"


class Outbox:
    """A store and writer on a DuckDB file, plus helpers to queue and inspect notifications."""

    def __init__(self, path: Path) -> None:
        self.store = DuckDBStore(str(path))
        self.store.open()
        self.writer = Writer(self.store)
        self.writer.start()
        self.workers: list[DeliveryWorker] = []

    def worker(self, channels: Mapping[str, Channel], **options: Any) -> DeliveryWorker:
        settings: dict[str, Any] = {
            "timeout_s": 2.0,
            "backoff_s": 0.05,
            "backoff_max_s": 0.2,
            "give_up_s": 60.0,
            "poll_s": 0.02,
            "rng": random.Random(1),
        }
        w = DeliveryWorker(self.store, self.writer, lambda: channels, **(settings | options))
        self.workers.append(w)
        return w

    async def queue(self, *notes: tuple[str, str, str]) -> list[int]:
        """Queue (channel, fingerprint, kind) notifications in one evaluation, in order."""
        now_us = int(time.time() * 1_000_000)
        new = tuple(
            NewNotification(fp, "accuracy-drop", ch, kind, sample_payload(kind, fingerprint=fp), now_us)
            for ch, fp, kind in notes
        )  # fmt: skip
        ids: list[int] = await self.writer.write(ApplyEvaluation(notifications=new))
        return ids

    def outbox(self, **flt: Any) -> list[Notification]:
        return self.store.notifications(NotificationFilter(**flt))

    def pending(self) -> bool:
        return bool(self.outbox(status="pending"))

    async def close(self) -> None:
        for w in self.workers:
            await w.aclose()
        self.writer.stop()
        self.store.close()


async def drain(worker: DeliveryWorker, done: Callable[[], bool], timeout: float = 10.0) -> None:
    """Run passes until ``done()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        await worker.run_once()
        if await asyncio.to_thread(done):
            return
        assert time.monotonic() < deadline, "the outbox did not drain in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def outbox(tmp_path: Path) -> Any:
    box = Outbox(tmp_path / "outbox.duckdb")
    yield box
    await box.close()


async def test_retries_until_delivered_in_order_per_alert(
    outbox: Outbox, receiver: Receiver
) -> None:
    channels = {
        "slack": parse_channel("slack", {"type": "slack", "url": receiver.url("/slack")}),
        "pd": parse_channel("pd", {"type": "pagerduty", "routing_key": ROUTING_KEY, "url": receiver.url("/pd")}),
        "hook": parse_channel("hook", {"type": "webhook", "url": receiver.url("/hook"), "secret": SECRET}),
    }  # fmt: skip
    for path in ("/slack", "/pd", "/hook"):
        receiver.script(path, [(429, {"Retry-After": "1"}), (500, {}, b"upstream down")])
    # Firing then resolved for each channel: the firing one needs three attempts.
    await outbox.queue(*((ch, "fp-1", kind) for ch in channels for kind in ("firing", "resolved")))
    worker = outbox.worker(channels)
    await drain(worker, lambda: not outbox.pending())

    for path in ("/slack", "/pd", "/hook"):
        got = receiver.requests(path)
        assert len(got) == 4  # 429, 500, 200 for the firing one, then the resolved one
        assert got[1].at - got[0].at >= 0.99, "Retry-After: 1 was not honoured"
        assert got[3].at >= got[2].at
    slack = [r.json()["text"] for r in receiver.requests("/slack")]
    assert [t.split("]")[0] for t in slack] == ["[FIRING"] * 3 + ["[RESOLVED"]
    pd = [r.json() for r in receiver.requests("/pd")]
    assert [e["event_action"] for e in pd] == ["trigger"] * 3 + ["resolve"]
    assert {e["dedup_key"] for e in pd} == {"fp-1"}
    assert {e["routing_key"] for e in pd} == {ROUTING_KEY}
    hooks = receiver.requests("/hook")
    events = [Webhook(SECRET).verify(r.body, r.headers) for r in hooks]
    assert [e["type"] for e in events] == ["alert.firing"] * 3 + ["alert.resolved"]
    ids = [r.headers["webhook-id"] for r in hooks]
    assert ids[0] == ids[1] == ids[2] != ids[3]  # receivers can drop repeats by id

    # Every attempt is recorded, numbered from 1, with its answer.
    for name in channels:
        attempts = sorted(
            outbox.store.deliveries(NotificationFilter(channel=name)), key=lambda a: a.id
        )
        assert [(a.attempt, a.status_code, a.outcome) for a in attempts] == [
            (1, 429, "retry"), (2, 500, "retry"), (3, 200, "delivered"), (1, 200, "delivered"),
        ]  # fmt: skip
        assert "upstream down" in (attempts[1].error or "")
    firing = [n for n in outbox.outbox(status="delivered") if n.kind == "firing"]
    assert len(firing) == 3 and all(n.attempts == 3 and n.delivered_us for n in firing)
    assert (worker.attempts, worker.delivered, worker.retries, worker.failed) == (12, 6, 6, 0)


async def test_refused_request_fails_once_and_is_logged_masked(
    outbox: Outbox, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    path = "/hooks/s3cr3t-path-token-4242"
    receiver.script(path, [], default=(400, {}, b'{"error": "bad payload"}'))
    channels = {"ops": parse_channel("ops", {"type": "webhook", "url": receiver.url(path)})}
    [nid] = await outbox.queue(("ops", "fp-1", "firing"))
    worker = outbox.worker(channels)
    with caplog.at_level(logging.INFO, logger="modeltower.delivery"):
        await drain(worker, lambda: not outbox.pending())
        for _ in range(5):  # later passes must not try again
            await worker.run_once()
            await asyncio.sleep(0.02)
    assert len(receiver.requests(path)) == 1
    [failed] = outbox.outbox(status="failed")
    assert (failed.id, failed.attempts) == (nid, 1)
    assert "HTTP 400" in (failed.last_error or "") and "bad payload" in (failed.last_error or "")
    [attempt] = outbox.store.deliveries(NotificationFilter(status="failed"))
    assert (attempt.attempt, attempt.status_code) == (1, 400)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "'ops'" in errors[0] and "…4242" in errors[0]
    assert "s3cr3t" not in caplog.text


async def test_connection_refused_is_retried(outbox: Outbox) -> None:
    channels = {"down": parse_channel("down", {"type": "webhook", "url": closed_port_url("/x")})}
    await outbox.queue(("down", "fp-1", "firing"))
    worker = outbox.worker(channels)
    await drain(worker, lambda: len(outbox.store.deliveries(NotificationFilter())) >= 3)
    attempts = sorted(outbox.store.deliveries(NotificationFilter()), key=lambda a: a.id)
    assert [a.attempt for a in attempts[:3]] == [1, 2, 3]
    assert all(a.outcome == "retry" and a.status_code is None for a in attempts)
    assert "connection failed" in (attempts[0].error or "")
    [n] = outbox.outbox()
    assert n.status == "pending" and n.next_attempt_us > attempts[-1].at_us


async def test_gives_up_after_give_up_s(outbox: Outbox, receiver: Receiver) -> None:
    receiver.script("/x", [], default=(503, {}))
    channels = {"ch": parse_channel("ch", {"type": "webhook", "url": receiver.url("/x")})}
    await outbox.queue(("ch", "fp-1", "firing"), ("ch", "fp-1", "resolved"))
    worker = outbox.worker(channels, give_up_s=0.3)
    await drain(worker, lambda: not outbox.pending())
    failed = sorted(outbox.outbox(status="failed"), key=lambda n: n.id)
    assert [n.kind for n in failed] == ["firing", "resolved"]
    assert "gave up after" in (failed[0].last_error or "") and failed[0].attempts >= 2
    # The resolved one waited for the firing one to settle before its own first attempt.
    bodies = [r.json()["type"] for r in receiver.requests("/x")]
    assert bodies.index("alert.resolved") > max(
        i for i, t in enumerate(bodies) if t == "alert.firing"
    )


async def test_slack_messages_to_one_url_are_a_second_apart(
    outbox: Outbox, receiver: Receiver
) -> None:
    # Two channels on the same webhook URL share its limit.
    url = receiver.url("/services/T1/B1/abc")
    channels = {name: parse_channel(name, {"type": "slack", "url": url}) for name in ("a", "b")}
    await outbox.queue(("a", "fp-1", "firing"), ("a", "fp-2", "firing"), ("b", "fp-3", "firing"))
    worker = outbox.worker(channels)
    await drain(worker, lambda: not outbox.pending())
    times = [r.at for r in receiver.requests("/services/T1/B1/abc")]
    assert len(times) == 3
    assert all(later - earlier >= 0.99 for earlier, later in itertools.pairwise(times))


async def test_pending_notification_survives_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script("/hook", [], default=(500, {}))
    config = {"type": "webhook", "url": receiver.url("/hook"), "secret": SECRET}
    channels = {"hook": parse_channel("hook", config)}
    first = Outbox(tmp_path / "restart.duckdb")
    [nid] = await first.queue(("hook", "fp-1", "firing"))
    await first.worker(channels).run_once()
    assert first.store.notification(nid).attempts == 1  # type: ignore[union-attr]
    await first.close()

    receiver.script("/hook", [], default=(200, {}))
    second = Outbox(tmp_path / "restart.duckdb")
    try:
        worker = second.worker(channels)
        await drain(worker, lambda: not second.pending())
        for _ in range(5):
            await worker.run_once()
            await asyncio.sleep(0.02)
        n = second.store.notification(nid)
        assert n is not None and (n.status, n.attempts) == ("delivered", 2)
    finally:
        await second.close()
    got = receiver.requests("/hook")
    assert len(got) == 2  # one 500 before the restart, exactly one delivery after it
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"] == f"msg_{nid}"
    Webhook(SECRET).verify(got[1].body, got[1].headers)


class UnrenderableChannel(WebhookChannel):
    """A webhook whose payloads cannot be rendered (stands for a malformed payload)."""

    def render(self, notification: Notification, now_s: float) -> HttpRequest:
        raise KeyError("summary")


async def test_unknown_channel_and_render_errors_fail_without_sending(
    outbox: Outbox, receiver: Receiver
) -> None:
    channels = {"broken": UnrenderableChannel("broken", receiver.url("/x"))}
    await outbox.queue(("gone", "fp-1", "firing"), ("broken", "fp-2", "firing"))
    worker = outbox.worker(channels)
    await drain(worker, lambda: not outbox.pending())
    errors = {n.channel: n.last_error or "" for n in outbox.outbox(status="failed")}
    assert "not configured" in errors["gone"] and "cannot render" in errors["broken"]
    assert receiver.requests() == []
    assert worker.failed == 2


async def test_started_worker_wakes_on_demand_and_survives_errors(
    outbox: Outbox, receiver: Receiver
) -> None:
    calls = 0
    hook = parse_channel("hook", {"type": "webhook", "url": receiver.url("/w")})

    def channels() -> dict[str, Channel]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("channel config unreadable")
        return {"hook": hook}

    await outbox.queue(("hook", "fp-1", "firing"))
    worker = DeliveryWorker(
        outbox.store, outbox.writer, channels,
        timeout_s=2.0, backoff_s=0.05, backoff_max_s=0.2, give_up_s=60.0, poll_s=30.0,
    )  # fmt: skip
    stop = asyncio.Event()
    task = worker.start(stop)
    deadline = time.monotonic() + 5.0
    while worker.errors == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # the first pass failed; the next is 30 s away unless woken
    assert worker.errors == 1 and receiver.requests() == [] and not task.done()
    worker.wake()
    await asyncio.to_thread(receiver.wait_for, 1, "/w", 5.0)
    stop.set()
    await asyncio.wait_for(task, 5.0)
    assert task.done() and worker.delivered == 1


def test_backoff_doubles_with_jitter_up_to_the_cap(tmp_path: Path) -> None:
    worker = DeliveryWorker(
        None, None, dict,  # type: ignore[arg-type]  (the policy needs neither store nor writer)
        timeout_s=1.0, backoff_s=1.0, backoff_max_s=300.0, give_up_s=60.0, rng=random.Random(3),
    )  # fmt: skip
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (9, 256.0), (10, 300.0), (5000, 300.0)]:
        delays = [worker.retry_delay_s(attempt, None) for _ in range(200)]
        assert all(0.5 * base <= d <= base for d in delays)
        assert max(delays) - min(delays) > 0.3 * base  # jittered, not all equal
    assert worker.retry_delay_s(1, 7.0) == 7.0
    assert worker.retry_delay_s(1, 86400.0) == RETRY_AFTER_MAX_S
