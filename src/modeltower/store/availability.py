"""When the database cannot take writes (or cannot be reached at all): one state, one log line.

A store that finds its database unreachable, full or read-only raises :class:`StoreUnavailable`;
the API answers it with 503 and ``Retry-After`` (clients retry, the server deduplicates).
:class:`Availability` remembers the state so that a fault is logged once when it starts and once
when it ends, not once per refused request, and so that requests fail fast while it lasts.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("modeltower.store")

# Seconds a client is asked to wait before retrying a request the database refused.
RETRY_AFTER_S = 2


class StoreUnavailable(Exception):
    """The database cannot serve this request now (unreachable, disk full, read-only)."""

    def __init__(self, reason: str, *, reads_work: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reads_work = reads_work


class Availability:
    """Whether reads and writes work, with the reason when they do not."""

    def __init__(self, what: str) -> None:
        self.what = what  # "the database file ...", "PostgreSQL at ..."
        self._lock = threading.Lock()
        self.unreachable: str | None = None  # nothing works
        self.writes_refused: str | None = None  # reads work, writes do not
        self._since = 0.0
        self.refused = 0  # requests refused while the current fault lasts

    def reason(self) -> str | None:
        """Why the database does not serve everything now, or None when it does."""
        return self.unreachable or self.writes_refused

    def mark_unreachable(self, exc: BaseException | str) -> StoreUnavailable:
        """Record that the database does not answer; returns the exception to raise."""
        with self._lock:
            self.refused += 1
            if self.unreachable is None:
                self._since = time.monotonic()
                self.unreachable = f"{self.what} is unreachable: {_short(exc)}"
                log.error(
                    "%s; requests answer 503 until it is back (retrying on each request)",
                    self.unreachable,
                )
            return StoreUnavailable(self.unreachable)

    def mark_writes_refused(self, exc: BaseException | str) -> StoreUnavailable:
        """Record that the database refuses writes (full, read-only); reads still work."""
        with self._lock:
            self.refused += 1
            if self.writes_refused is None:
                self._since = time.monotonic()
                self.writes_refused = (
                    f"{self.what} refuses writes (disk full or read-only?): {_short(exc)}"
                )
                log.error(
                    "%s; writes answer 503 until it accepts them again, reads keep working",
                    self.writes_refused,
                )
            return StoreUnavailable(self.writes_refused, reads_work=True)

    def mark_reachable(self) -> None:
        """A request reached the database (reads work)."""
        if self.unreachable is None:
            return
        with self._lock:
            if self.unreachable is not None:
                log.warning(
                    "%s: reachable again after %.1f s (%d request(s) refused meanwhile)",
                    self.what,
                    time.monotonic() - self._since,
                    self.refused,
                )
                self.unreachable = None
                if self.writes_refused is None:
                    self.refused = 0

    def mark_writable(self) -> None:
        """A write committed: the database takes everything again."""
        self.mark_reachable()
        if self.writes_refused is None:
            return
        with self._lock:
            if self.writes_refused is not None:
                log.warning(
                    "%s: writes work again after %.1f s (%d request(s) refused meanwhile)",
                    self.what,
                    time.monotonic() - self._since,
                    self.refused,
                )
                self.writes_refused = None
                self.refused = 0


def _short(exc: BaseException | str) -> str:
    """The first line of an error, without the driver's hints on the lines after it."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
