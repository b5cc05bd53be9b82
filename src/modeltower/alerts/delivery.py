"""The delivery worker: drains the notification outbox into the channels, with retries.

The outbox is the source of truth: a notification stays pending until an attempt succeeds, fails
for good, or has been failing for ``give_up_s``; every attempt is recorded. So a restart loses
nothing, and delivery is at least once (an attempt whose record could not be written is sent
again; webhook receivers can drop the repeat by its ``webhook-id``).

Order: the store only hands out the oldest pending notification of each (alert, channel), so an
alert's "resolved" never overtakes its "firing", however many retries the firing one needs.
Within a pass a channel's notifications go one at a time; different channels go concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from modeltower.alerts.channels.address import AddressPolicy
from modeltower.alerts.channels.base import DELIVERED, FAILED, RETRY, Channel, Outcome, send
from modeltower.config import Settings
from modeltower.ingest.writer import Writer, WriterUnavailable
from modeltower.store.alert_types import (
    NOTIFY_DELIVERED,
    NOTIFY_FAILED,
    NOTIFY_PENDING,
    AlertReads,
    DeliveryAttempt,
    Notification,
    RecordDelivery,
)

log = logging.getLogger("modeltower.delivery")

RETRY_AFTER_MAX_S = 3600.0  # a receiver asking for more is still retried within the hour
BATCH = 200  # notifications read per pass


@dataclass
class _RateLimit:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last: float = float("-inf")  # loop time when the last request with this key finished


class DeliveryWorker:
    """Delivers due notifications; ``start`` runs it until stopped, ``wake`` runs a pass now."""

    def __init__(
        self,
        store: AlertReads,
        writer: Writer,
        channels: Callable[[], Mapping[str, Channel]],
        *,
        timeout_s: float,
        backoff_s: float,
        backoff_max_s: float,
        give_up_s: float,
        poll_s: float = 1.0,
        batch: int = BATCH,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        address_policy: AddressPolicy | None = None,
    ) -> None:
        self._store = store
        self._writer = writer
        self._channels = channels
        self.address_policy = address_policy  # checked before every attempt: DNS can change
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.give_up_s = give_up_s
        self.poll_s = poll_s
        self._batch = batch
        self._clock = clock
        self._rng = rng or random.Random()
        self._client: httpx.AsyncClient | None = None
        self._limits: dict[str, _RateLimit] = {}
        # Receivers that answered with Retry-After are left alone until then (clock seconds):
        # sending the channel's other notifications would only collect more 429s.
        self._paused: dict[str, float] = {}
        self._wake = asyncio.Event()
        self.leader: Callable[[], bool] | None = None  # see Store.is_leader
        self._loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None
        self.attempts = 0
        self.delivered = 0
        self.failed = 0
        self.retries = 0
        self.errors = 0  # passes or notifications that broke unexpectedly; each one is logged

    @classmethod
    def from_settings(
        cls,
        store: AlertReads,
        writer: Writer,
        channels: Callable[[], Mapping[str, Channel]],
        settings: Settings,
        **options: Any,
    ) -> DeliveryWorker:
        """A worker with the ``delivery_*`` settings (``options`` as for the constructor)."""
        return cls(
            store,
            writer,
            channels,
            timeout_s=settings.delivery_timeout_s,
            backoff_s=settings.delivery_backoff_s,
            backoff_max_s=settings.delivery_backoff_max_s,
            give_up_s=settings.delivery_give_up_s,
            address_policy=AddressPolicy() if settings.forbid_private_webhooks else None,
            **options,
        )

    # ---- policy -------------------------------------------------------------------------------
    def retry_delay_s(self, attempt: int, retry_after_s: float | None) -> float:
        """Seconds until the next attempt after failed attempt number ``attempt``: the
        receiver's Retry-After (capped at an hour), else exponential backoff with jitter, so
        that many notifications failing together do not come back together."""
        if retry_after_s is not None:
            return min(retry_after_s, RETRY_AFTER_MAX_S)
        base = min(self.backoff_max_s, self.backoff_s * 2.0 ** min(attempt - 1, 60))
        return base * self._rng.uniform(0.5, 1.0)

    # ---- one pass -----------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Attempt every notification due now, once; returns how many were attempted."""
        now_us = int(self._clock() * 1_000_000)
        due = await asyncio.to_thread(self._store.due_notifications, now_us, self._batch)
        if not due:
            return 0
        channels = dict(self._channels())
        groups: dict[str, list[Notification]] = {}
        for n in due:
            groups.setdefault(n.channel, []).append(n)
        counts = await asyncio.gather(
            *(self._deliver_channel(name, ns, channels.get(name)) for name, ns in groups.items())
        )
        return sum(counts)

    async def _deliver_channel(
        self, name: str, notifications: list[Notification], channel: Channel | None
    ) -> int:
        done = 0
        for n in notifications:
            if (
                channel is not None
                and self._paused.get(self._pause_key(channel), 0) > self._clock()
            ):
                break  # the rest stay due and are picked up once the pause is over
            try:
                await self._attempt(n, channel)
                done += 1
            except WriterUnavailable as exc:
                # Nothing more can be recorded: stop before sending what could not be recorded.
                self.errors += 1
                log.error("cannot record deliveries to channel %r: %s", name, exc)
                break
            except Exception as exc:
                self.errors += 1
                log.error("delivery of notification %d failed: %s", n.id, exc, exc_info=exc)
        return done

    async def _attempt(self, n: Notification, channel: Channel | None) -> None:
        attempt = n.attempts + 1
        if channel is None:
            started = self._clock()
            result = Outcome(FAILED, error=f"channel {n.channel!r} is not configured")
            duration_ms = 0.0
        else:
            async with self._rate_slot(channel):
                started = self._clock()
                t0 = time.perf_counter()
                refused = await self._refusal(channel)
                if refused:
                    result = Outcome(FAILED, error=channel.redact(refused))
                else:
                    result = await send(self._ensure_client(), channel, n, started, self.timeout_s)
                duration_ms = (time.perf_counter() - t0) * 1000
        await self._record(n, channel, attempt, started, duration_ms, result)

    async def _refusal(self, channel: Channel) -> str | None:
        url = getattr(channel, "url", None)
        if self.address_policy is None or not isinstance(url, str):
            return None
        return await self.address_policy.refusal_async(url)

    async def _record(
        self,
        n: Notification,
        channel: Channel | None,
        attempt: int,
        started_s: float,
        duration_ms: float,
        result: Outcome,
    ) -> None:
        now_s = self._clock()
        now_us = int(now_s * 1_000_000)
        outcome, status, next_us, error = result.result, NOTIFY_FAILED, now_us, result.error
        target = "-" if channel is None else channel.target
        if outcome == DELIVERED:
            status = NOTIFY_DELIVERED
        elif outcome == RETRY and now_us - n.created_us > self.give_up_s * 1_000_000:
            outcome = FAILED
            age_h = (now_us - n.created_us) / 3.6e9
            error = f"gave up after {attempt} attempts over {age_h:.1f} h; last: {error}"
        elif outcome == RETRY:
            status = NOTIFY_PENDING
            delay = self.retry_delay_s(attempt, result.retry_after_s)
            next_us = now_us + int(delay * 1_000_000)
            if result.retry_after_s is not None and channel is not None:
                self._paused[self._pause_key(channel)] = now_s + delay
        at_us = int(started_s * 1_000_000)
        record = DeliveryAttempt(
            n.id, n.channel, attempt, at_us, duration_ms, result.status_code, outcome, error
        )
        await self._writer.write(RecordDelivery(record, status, next_us, error))
        self.attempts += 1
        what = f"notification {n.id} ({n.kind} of {n.rule}) to channel {n.channel!r} ({target})"
        if status == NOTIFY_DELIVERED:
            self.delivered += 1
            log.info("delivered %s, attempt %d", what, attempt)
        elif status == NOTIFY_PENDING:
            self.retries += 1
            delay = (next_us - now_us) / 1e6
            log.warning("%s: attempt %d failed (%s); next in %.1f s", what, attempt, error, delay)
        else:
            self.failed += 1
            log.error("%s failed after %d attempt(s): %s", what, attempt, error)

    # ---- plumbing -----------------------------------------------------------------------------
    @staticmethod
    def _pause_key(channel: Channel) -> str:
        return channel.rate_key or f"channel:{channel.name}"

    def _ensure_client(self) -> httpx.AsyncClient:
        if self._client is None:
            # No redirects: a webhook answering 3xx is misconfigured, and following it would
            # send the alert (and its signature) somewhere nobody configured.
            self._client = httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False)
        return self._client

    @contextlib.asynccontextmanager
    async def _rate_slot(self, channel: Channel) -> AsyncIterator[None]:
        """Hold the channel's rate key: wait until ``min_interval_s`` after the previous
        request with that key finished (several channels may share one Slack URL)."""
        key = channel.rate_key
        if key is None or channel.min_interval_s <= 0:
            yield
            return
        limit = self._limits.setdefault(key, _RateLimit())
        loop = asyncio.get_running_loop()
        async with limit.lock:
            wait = limit.last + channel.min_interval_s - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                limit.last = loop.time()

    async def aclose(self) -> None:
        """Close the HTTP client (``start``'s task does it when it stops)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def wake(self) -> None:
        """Run a pass now (e.g. new notifications were queued); safe from any thread."""
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or loop is running or loop.is_closed():
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    def start(self, stop: asyncio.Event) -> asyncio.Task[None]:
        """Deliver until ``stop`` is set: a pass, then wait ``poll_s`` or for ``wake()``."""
        self._loop = asyncio.get_running_loop()
        self.task = asyncio.create_task(self._run(stop), name="modeltower-delivery")
        return self.task

    async def _run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                self._wake.clear()  # before the pass: a wake during it means "go again"
                try:
                    lead = self.leader is None or await asyncio.to_thread(self.leader)
                    attempted = await self.run_once() if lead else 0
                except Exception as exc:  # e.g. the store could not be read: try next time
                    self.errors += 1
                    log.error("delivery pass failed: %s", exc, exc_info=exc)
                    attempted = 0
                if attempted:
                    # A delivered notification may have released the next one of its alert
                    # (they go in order): look again at once instead of after ``poll_s``.
                    continue
                await _first(stop, self._wake, timeout=self.poll_s)
        finally:
            await self.aclose()


async def _first(*events: asyncio.Event, timeout: float) -> None:
    """Wait until one of ``events`` is set, or ``timeout`` seconds."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
