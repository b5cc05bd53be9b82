"""The single write path: a queue drained by one thread that commits groups of requests.

Every request that is waiting when the previous commit finishes joins the next transaction, so
concurrent small requests share one commit (and one WAL fsync) instead of paying for one each.
A request is answered only after the transaction that holds it has committed.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from modeltower.store.availability import StoreUnavailable
from modeltower.store.base import InsertEvents, Store, WriteOp

log = logging.getLogger("modeltower.writer")

_STOP = object()


class WriterUnavailable(Exception):
    """The writer is stopped or the database refused the write; the client may retry."""

    retry_after_s = 1


class DatabaseRefused(WriterUnavailable):
    """The database is unreachable, full or read-only: nothing of the request was stored."""

    retry_after_s = 2


@dataclass
class _Pending:
    op: WriteOp
    future: Future[Any]
    size: int


@dataclass
class _Exclusive:
    """A function run on the writer thread between two commits (e.g. a consistent backup)."""

    fn: Callable[[], Any]
    future: Future[Any]


class Writer:
    """Owns all writes to a :class:`Store`; group-commits whatever is queued."""

    def __init__(
        self, store: Store, *, max_group_events: int = 100_000, max_pending_events: int = 1_000_000
    ) -> None:
        self._store = store
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._max_group = max_group_events
        # Bounded backlog: past it, clients get 503 + Retry-After instead of the server's memory
        # growing without limit.
        self._max_pending = max_pending_events
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self.commits = 0
        self.committed_ops = 0
        self.on_commit: list[Callable[[list[WriteOp]], None]] = []
        self.idle_after_s = 2.0

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._running

    def start(self) -> None:
        """Start the writer thread."""
        self._running = True
        self._thread = threading.Thread(target=self._run, name="modeltower-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit everything already queued, then stop."""
        if not self._running:
            return
        self._running = False
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, op: WriteOp) -> Future[Any]:
        """Queue a write; the future resolves with its result after commit."""
        fut: Future[Any] = Future()
        if not self._running:
            fut.set_exception(WriterUnavailable("the writer is not running"))
            return fut
        size = len(op.columns) if isinstance(op, InsertEvents) else 1
        with self._pending_lock:
            if self._pending + size > self._max_pending and self._pending > 0:
                fut.set_exception(WriterUnavailable("ingestion backlog is full"))
                return fut
            self._pending += size
        self._queue.put(_Pending(op, fut, size))
        return fut

    @property
    def pending_events(self) -> int:
        """Events queued but not yet committed."""
        return self._pending

    async def write(self, op: WriteOp) -> Any:
        """Queue a write and wait (without blocking the event loop) until it is committed."""
        return await asyncio.wrap_future(self.submit(op))

    async def exclusive(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the writer thread once what is queued before it has committed; no write
        runs meanwhile, so ``fn`` sees the store as of one commit (e.g. to copy the file)."""
        fut: Future[Any] = Future()
        if not self._running:
            raise WriterUnavailable("the writer is not running")
        self._queue.put(_Exclusive(fn, fut))
        return await asyncio.wrap_future(fut)

    @staticmethod
    def _run_exclusive(item: _Exclusive) -> None:
        try:
            item.future.set_result(item.fn())
        except BaseException as exc:
            item.future.set_exception(exc)

    def _run(self) -> None:
        stopping = False
        dirty = False
        while not stopping:
            try:
                first = self._queue.get(timeout=self.idle_after_s if dirty else None)
            except queue.Empty:
                dirty = False
                try:
                    self._store.maintenance()
                except Exception:
                    log.exception("store maintenance failed")
                continue
            dirty = True
            if first is _STOP:
                break
            if isinstance(first, _Exclusive):
                self._run_exclusive(first)
                continue
            group: list[_Pending] = [first]
            size = first.size
            exclusive: _Exclusive | None = None
            # Drain what is already waiting: these requests share this commit.
            while size < self._max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                if isinstance(item, _Exclusive):  # after what came before it has committed
                    exclusive = item
                    break
                group.append(item)
                size += item.size
            self._commit(group)
            if exclusive is not None:
                self._run_exclusive(exclusive)
        # Anything queued after the stop request is refused, never silently dropped.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:  # a _Pending or an _Exclusive
                item.future.set_exception(WriterUnavailable("the server is shutting down"))

    def _commit(self, group: list[_Pending]) -> None:
        try:
            self._commit_group(group)
        finally:
            with self._pending_lock:
                self._pending -= sum(p.size for p in group)

    def _commit_group(self, group: list[_Pending]) -> None:
        ops = [p.op for p in group]
        started = time.perf_counter()
        try:
            results = self._store.write(ops)
        except StoreUnavailable as exc:
            # The database, not one op, is the problem: the whole group is refused at once (no
            # retry one by one), and the store has logged the fault once, not per request.
            for p in group:
                p.future.set_exception(DatabaseRefused(f"the write failed: {exc.reason}"))
            return
        except Exception as exc:  # the database refused: every request of the group learns it
            log.error("write of %d request(s) failed: %s", len(group), exc)
            if len(group) > 1:
                # One bad op must not fail the others: retry each on its own.
                for p in group:
                    self._commit_group([p])
                return
            group[0].future.set_exception(WriterUnavailable(f"the write failed: {exc}"))
            return
        self.commits += 1
        self.committed_ops += len(group)
        for p, res in zip(group, results, strict=True):
            p.future.set_result(res)
        for hook in self.on_commit:
            try:
                hook(ops)
            except Exception:
                log.exception("commit hook failed")
        elapsed = time.perf_counter() - started
        if elapsed > 1.0:
            log.warning("slow commit: %d request(s) took %.2f s", len(group), elapsed)
