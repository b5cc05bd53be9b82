"""Event bodies into columns: here for small bodies, in worker processes for large ones.

Decoding a batch (msgspec), transposing it into columns and checking its names is about 7 µs
per event of work that holds the GIL. Done on the event loop, it took turns on the one GIL with
the writer thread (whose numpy and Arrow work holds it too), so a server on two cores used
little more than one of them for batched ingestion. A worker process decodes on another core;
this process only unpickles the columns, about 1 µs per event.

A small body is decoded here: the round trip to a worker (a fraction of a millisecond) would
cost more than it saves. Both paths run the same function (:func:`body_to_columns`), so a body
gets the same columns and the same errors wherever it is decoded. A worker that dies (killed,
out of memory) fails no request: that body is decoded here, and a new pool serves the next.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from modeltower.ingest.limits import Limits, check_key_lengths, check_model_names, decoders
from modeltower.ingest.schema import (
    BatchInvalid,
    EventColumns,
    EventIn,
    MalformedBody,
    decode_events,
    to_columns,
)

log = logging.getLogger("modeltower.ingest")

# Bodies below this many bytes (about 180 realistic events) are decoded in this process.
WORKER_MIN_BYTES = 64 * 1024
PARENT_CHECK_S = 0.5  # how often a worker looks whether the server is still its parent


class TooManyEvents(Exception):
    """More events in one request than ``max_events_per_request``."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"{count} events in one request; the limit is {limit}")
        self.count = count
        self.limit = limit


def auto_workers(cpus: int | None = None) -> int:
    """Decode workers when none are configured: one per core beyond the first two, at most two.

    On two cores the server's threads, the worker and the clients share what there is: a
    worker raised batched ingestion by about 14 % there, for about 40 MB more memory (the
    worker and multiprocessing's resource tracker), so it is left to ``--ingest-workers 1``.
    With more cores, the decoding is taken off the GIL that the writer needs."""
    n = os.cpu_count() if cpus is None else cpus
    return max(0, min(2, (n or 1) - 2))


def events_to_columns(events: list[EventIn], limits: Limits, now_us: int) -> EventColumns:
    """Validated events as columns, after the checks that need the whole batch."""
    cols = to_columns(events, now_us)
    check_key_lengths(cols, limits.max_name_length)
    check_model_names(cols)
    return cols


def body_to_columns(
    body: bytes, ndjson: bool, limits: Limits, max_events: int, now_us: int
) -> EventColumns:
    """Decode, validate and transpose a request body of events.

    Raises MalformedBody, BatchInvalid (naming every bad event) or TooManyEvents."""
    events = decode_events(body, ndjson=ndjson, decoders=decoders(limits))
    if len(events) > max_events:
        raise TooManyEvents(len(events), max_events)
    return events_to_columns(events, limits, now_us)


def _work(
    body: bytes, ndjson: bool, limits: Limits, max_events: int, now_us: int
) -> tuple[str, Any]:
    """:func:`body_to_columns` in a worker. The refusals come back as values: these exceptions
    carry fields that pickling them by their message would lose."""
    try:
        return "ok", body_to_columns(body, ndjson, limits, max_events, now_us)
    except BatchInvalid as exc:
        return "invalid", exc.errors
    except MalformedBody as exc:
        return "malformed", str(exc)
    except TooManyEvents as exc:
        return "too_many", (exc.count, exc.limit)


def _worker_init(server_pid: int) -> None:
    # Ctrl-C reaches the whole process group: the server shuts its workers down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A server that is killed cannot: its workers would wait for work forever.
    threading.Thread(target=_exit_with, args=(server_pid,), daemon=True).start()


def _exit_with(server_pid: int) -> None:
    while os.getppid() == server_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _answer(kind: str, value: Any) -> EventColumns:
    if kind == "ok":
        cols: EventColumns = value
        return cols
    if kind == "invalid":
        raise BatchInvalid(value)
    if kind == "malformed":
        raise MalformedBody(value)
    if kind == "too_many":
        raise TooManyEvents(*value)
    raise RuntimeError(f"unknown answer from a decode worker: {kind!r}")


class DecodePool:
    """Decodes event bodies, in ``workers`` processes for bodies of ``min_bytes`` or more.

    The processes start with the first such body (a server that only takes single events never
    starts them) and stop with :meth:`close`."""

    def __init__(
        self,
        limits: Limits,
        max_events: int,
        workers: int,
        *,
        min_bytes: int = WORKER_MIN_BYTES,
    ) -> None:
        self.limits = limits
        self.max_events = max_events
        self.workers = workers
        self.min_bytes = min_bytes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.restarts = 0  # pools replaced after a worker died

    def _ensure(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._closed:
                return None
            if self._pool is None:
                # spawn, not fork: the server has threads (the writer, DuckDB's) whose locks a
                # forked child would inherit in whatever state they were.
                ctx = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
                )
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
                self.restarts += 1
        pool.shutdown(wait=False, cancel_futures=True)

    def here(self, body: bytes, ndjson: bool) -> EventColumns:
        """Decode in this process."""
        now_us = int(time.time() * 1_000_000)
        return body_to_columns(body, ndjson, self.limits, self.max_events, now_us)

    async def columns(self, body: bytes, ndjson: bool) -> EventColumns:
        """The columns of a body of events (see :func:`body_to_columns` for the errors)."""
        if self.workers <= 0 or len(body) < self.min_bytes:
            return self.here(body, ndjson)
        pool = self._ensure()
        if pool is None:  # closing: what is still answered is decoded here
            return self.here(body, ndjson)
        now_us = int(time.time() * 1_000_000)
        try:
            fut = pool.submit(_work, body, ndjson, self.limits, self.max_events, now_us)
        except RuntimeError as exc:  # the pool broke (or shut down) before this body reached it
            return self._instead(pool, body, ndjson, exc)
        try:
            kind, value = await asyncio.wrap_future(fut)
        except BrokenProcessPool as exc:  # a worker died with this body or before it
            return self._instead(pool, body, ndjson, exc)
        return _answer(kind, value)

    def _instead(
        self, pool: ProcessPoolExecutor, body: bytes, ndjson: bool, exc: Exception
    ) -> EventColumns:
        if not self._closed:
            log.warning("a decode worker stopped (%s); this body is decoded in the server", exc)
        self._discard(pool)
        return self.here(body, ndjson)

    def close(self) -> None:
        """Stop the workers (what they still hold is cancelled: its requests are over)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
