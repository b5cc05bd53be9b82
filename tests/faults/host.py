"""A host application logging through the SDK, timing its own requests (tests and bench)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson


def rss_bytes() -> int:
    """Resident memory of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Host:
    """A host application: paced requests, each one timed (its own work plus ``log()``)."""

    log: Callable[..., Any]  # Client.log, or a stand-in for a baseline without the SDK
    stats: Callable[[], dict[str, int]] = lambda: {"queued": 0}
    rate: float = 500.0
    phase: str = "up"
    took_ns: dict[str, list[int]] = field(default_factory=dict)
    logged: list[tuple[float, str]] = field(default_factory=list)
    max_queued: int = 0
    max_rss: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def request(self, n: int) -> None:
        features = {"tenure": n % 48, "plan": "gold" if n % 3 else "free", "spend": n * 0.25}
        body = orjson.dumps({"features": features, "n": n})  # the host's own work
        score = (sum(body) % 100) / 100
        self.logged.append(
            (
                time.monotonic(),
                self.log(prediction=score > 0.5, score=score, features=features),
            )
        )

    def run(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            n += 1
            t0 = time.perf_counter_ns()
            self.request(n)
            self.took_ns.setdefault(self.phase, []).append(time.perf_counter_ns() - t0)
            if n % 250 == 0:
                self.max_queued = max(self.max_queued, self.stats()["queued"])
                self.max_rss[self.phase] = max(self.max_rss.get(self.phase, 0), rss_bytes())
            next_at += 1.0 / self.rate
            time.sleep(max(0.0, next_at - time.monotonic()))


def pct(xs: list[int], p: float) -> float:
    """The p-th percentile of nanosecond durations, in microseconds."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))] / 1000.0  # µs
