"""PostgreSQL connections that fail fast while the database is gone and come back at once.

psycopg_pool reconnects in the background with exponential backoff: while PostgreSQL is down a
request waits for the pool's whole timeout, and after it is back requests keep failing until the
next backoff step (measured: 9.6 s after a 20 s outage). Here a connection is made on demand,
on the requesting thread, with a bounded connect timeout: a refused connection fails the request
at once (503), and the first request after PostgreSQL is back reconnects.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg import errors as pge

from modeltower.store.availability import Availability, StoreUnavailable

# SQLSTATEs of a database that answers but cannot take writes now.
_WRITES_REFUSED: tuple[type[Exception], ...] = (
    pge.ReadOnlySqlTransaction,
    pge.DiskFull,
    pge.InsufficientResources,
    pge.OutOfMemory,
)
# SQLSTATEs of a database that went away or does not take sessions now.
_GONE: tuple[type[Exception], ...] = (
    pge.ConnectionException,
    pge.AdminShutdown,
    pge.CrashShutdown,
    pge.CannotConnectNow,
    pge.TooManyConnections,
)


def classify(exc: BaseException, con: psycopg.Connection | None) -> StoreUnavailable | None:
    """Whether ``exc`` means the database is unreachable or refuses writes (None: neither,
    e.g. a bug or a cancelled query, which the caller re-raises as it is)."""
    if isinstance(exc, _WRITES_REFUSED):
        return StoreUnavailable(str(exc), reads_work=True)
    if isinstance(exc, pge.QueryCanceled):
        return None
    broken = con is None or con.broken or con.closed
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and (
        broken or isinstance(exc, _GONE)
    ):
        return StoreUnavailable(str(exc))
    return None


def _alive(con: psycopg.Connection) -> bool:
    """One empty round trip (as psycopg_pool's check): a connection the server closed while it
    was idle is found here, not by the request's first query."""
    if con.closed or con.broken:
        return False
    try:
        con.execute("")
    except psycopg.Error:
        return False
    return True


class Connections:
    """A small pool: idle connections are reused, new ones are made on demand (up to
    ``max_size``), broken ones are dropped. Every failure to reach the database is reported to
    ``availability`` and raised as :class:`StoreUnavailable`."""

    def __init__(
        self,
        url: str,
        availability: Availability,
        *,
        max_size: int,
        wait_s: float = 10.0,
        connect_timeout_s: int = 3,
        configure: Callable[[psycopg.Connection], None] | None = None,
    ) -> None:
        self.url = url
        self.availability = availability
        self.max_size = max_size
        self.wait_s = wait_s
        self.connect_timeout_s = connect_timeout_s
        self._configure = configure
        self._idle: list[psycopg.Connection] = []
        self._count = 0  # connections open or being opened
        self._cv = threading.Condition()
        self._closed = False

    def _connect(self) -> psycopg.Connection:
        # No server-side prepared statements: a generic plan of "seq > $1" or "ts >= $1" would
        # scan whole tables; every query is planned for its own values.
        con = psycopg.connect(
            self.url,
            autocommit=True,
            prepare_threshold=None,
            connect_timeout=self.connect_timeout_s,
        )
        try:
            if self._configure is not None:
                self._configure(con)
        except BaseException:
            con.close()
            raise
        return con

    def _get(self) -> psycopg.Connection:
        deadline = time.monotonic() + self.wait_s
        while True:
            con: psycopg.Connection | None = None
            with self._cv:
                while True:
                    if self._closed:
                        raise StoreUnavailable("the store is closed")
                    if self._idle:
                        con = self._idle.pop()
                        break
                    if self._count < self.max_size:
                        self._count += 1
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        # Every connection busy for wait_s: overloaded, worth a retry later too.
                        raise StoreUnavailable(
                            f"no database connection free within {self.wait_s:g} s (overloaded)"
                        )
                    self._cv.wait(left)
            if con is None:
                break
            if _alive(con):  # checked outside the lock: a round trip
                return con
            self._discard(con)  # e.g. closed by a restart of PostgreSQL while idle
        try:
            return self._connect()
        except BaseException as exc:
            with self._cv:
                self._count -= 1
                self._cv.notify()
            if isinstance(exc, psycopg.Error):
                fault = classify(exc, None)
                if fault is not None and fault.reads_work:  # e.g. the writer's setup, read-only
                    raise self.availability.mark_writes_refused(exc) from exc
                raise self.availability.mark_unreachable(exc) from exc
            raise

    def _discard(self, con: psycopg.Connection) -> None:
        with self._cv:
            self._count -= 1
            self._cv.notify()
        with contextlib.suppress(Exception):
            con.close()

    def _put(self, con: psycopg.Connection) -> None:
        if self._closed or con.closed or con.broken:
            self._discard(con)
            return
        with self._cv:
            self._idle.append(con)
            self._cv.notify()

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """Borrow a connection; a database failure inside the block becomes StoreUnavailable
        (and a connection that failed that way is not reused)."""
        con = self._get()
        try:
            yield con
        except psycopg.Error as exc:
            fault = classify(exc, con)
            if fault is None:
                raise
            # A new session picks up changed settings (e.g. the database made writable again).
            with contextlib.suppress(Exception):
                con.close()
            if fault.reads_work:
                raise self.availability.mark_writes_refused(exc) from exc
            raise self.availability.mark_unreachable(exc) from exc
        else:
            self.availability.mark_reachable()
        finally:
            self._put(con)

    def close(self) -> None:
        """Close the idle connections; borrowed ones are closed when they come back."""
        with self._cv:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cv.notify_all()
        for con in idle:
            with contextlib.suppress(Exception):
                con.close()

    def stats(self) -> dict[str, Any]:
        """Open and idle connection counts (for tests and diagnostics)."""
        with self._cv:
            return {"open": self._count, "idle": len(self._idle)}
