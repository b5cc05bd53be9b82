"""Which process of several runs each periodic job: PostgreSQL session advisory locks.

Every process asks before each run of a job; the first to take the job's lock keeps it for as
long as its connection lives, so exactly one process runs the job and, when that process dies
(its connection closes), another takes over at its next try.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading

import psycopg

log = logging.getLogger("modeltower.store")


def lock_key(job: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``job``."""
    digest = hashlib.sha256(f"modeltower-job:{job}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership:
    """One dedicated connection holding the locks of the jobs this process leads."""

    def __init__(self, url: str, *, connect_timeout_s: float = 5.0) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self._con: psycopg.Connection | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._lost = False  # the connection failed and no new one worked yet

    def is_leader(self, job: str) -> bool:
        """Whether this process runs ``job`` now (takes the job's lock when it is free)."""
        with self._lock:
            try:
                con = self._connection()
                if job in self._held:
                    con.execute("SELECT 1")  # still connected: the lock is still ours
                    return True
                row = con.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(job)]).fetchone()
                self._lost = False
                if row and row[0]:
                    self._held.add(job)
                    log.info("this process now runs the %s job", job)
                    return True
                return False
            except psycopg.Error as exc:
                # The connection is gone and the locks with it: nobody here leads until a new
                # connection takes them again. Logged once per outage, not once per try.
                if not self._lost:
                    log.warning("leadership connection lost (%s); retrying", exc)
                self._lost = True
                self.close()
                return False

    def _connection(self) -> psycopg.Connection:
        if self._con is None or self._con.closed:
            self._held.clear()
            self._con = psycopg.connect(
                self.url, autocommit=True, connect_timeout=int(self.connect_timeout_s)
            )
        return self._con

    def close(self) -> None:
        """Release every lock (closing the connection does)."""
        if self._con is not None:
            with contextlib.suppress(psycopg.Error):
                self._con.close()
        self._con = None
        self._held.clear()
