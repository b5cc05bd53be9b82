"""A time limit for every database read (``Store.query_timeout_s``, ``serve --query-timeout``).

A query over the limit is cancelled in the database and raised as :class:`QueryTimeout`
(503 ``query_timeout`` with ``Retry-After``), so one too expensive request cannot hold a reader
and the server keeps serving everyone else.

- DuckDB: one watchdog thread per process calls ``interrupt()`` on the reader cursor of a query
  whose deadline passed (a cursor is its own connection: only that query stops).
- PostgreSQL: each read connection carries ``statement_timeout``; the server cancels the
  statement itself, also when this process is busy.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import duckdb


class QueryTimeout(Exception):
    """A database read took longer than the configured limit and was cancelled."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"the query took longer than {timeout_s:g} s (query_timeout_s) and was cancelled; "
            "ask for a shorter window or fewer filters"
        )
        self.timeout_s = timeout_s


class _Guard:
    __slots__ = ("cancel", "done", "fired")

    def __init__(self, cancel: Callable[[], None]) -> None:
        self.cancel = cancel
        self.done = False
        self.fired = False


class Watchdog:
    """Calls a query's cancel function when its deadline passes; one thread for all queries."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Guard]] = []
        self._order = itertools.count()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def guard(self, cancel: Callable[[], None], timeout_s: float) -> Iterator[None]:
        """Run the block with ``cancel`` called after ``timeout_s``; a block that fails after
        the cancel raises :class:`QueryTimeout`."""
        g = _Guard(cancel)
        with self._cv:
            heapq.heappush(self._heap, (time.monotonic() + timeout_s, next(self._order), g))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="modeltower-query-watchdog", daemon=True
                )
                self._thread.start()
            self._cv.notify()
        try:
            yield
        except duckdb.InterruptException as exc:
            if g.fired:
                raise QueryTimeout(timeout_s) from exc
            raise
        else:
            # A cancel that came between two statements of the block found none running, and
            # DuckDB drops it: the block ran on past its deadline, which is still a timeout.
            if g.fired:
                raise QueryTimeout(timeout_s)
        finally:
            with self._cv:  # after this the watchdog never cancels for this block
                g.done = True

    def _run(self) -> None:
        with self._cv:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cv.wait()
                    continue
                deadline, _, g = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                heapq.heappop(self._heap)
                g.fired = True
                # Under the lock: the block cannot finish (and its cursor serve another query)
                # between the check of ``done`` above and the cancel.
                with contextlib.suppress(Exception):
                    g.cancel()


WATCHDOG = Watchdog()


def duckdb_deadline(cur: duckdb.DuckDBPyConnection, timeout_s: float) -> Any:
    """The time limit of one DuckDB read on ``cur``."""
    return WATCHDOG.guard(cur.interrupt, timeout_s)


_pg_set: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def pg_deadline(con: Any, timeout_s: float) -> Iterator[None]:
    """The time limit of one PostgreSQL read on ``con`` (a psycopg connection): its
    ``statement_timeout``, set once per connection and again when the limit changes."""
    import psycopg

    ms = max(1, int(timeout_s * 1000))
    if _pg_set.get(con) != ms:
        con.execute(f"SET statement_timeout = {ms}")
        _pg_set[con] = ms
    try:
        yield
    except psycopg.errors.QueryCanceled as exc:
        if "statement timeout" in str(exc):
            raise QueryTimeout(timeout_s) from exc
        raise
