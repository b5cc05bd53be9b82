"""Durations (``15m``, ``24h``, ``7d``) and instants (RFC 3339 or epoch seconds) from query strings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

_UNITS_US = {
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 7 * 86_400_000_000,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
MAX_SPAN_US = 3660 * 86_400_000_000  # ten years: anything longer is a mistake


class BadParameter(ValueError):
    """A query parameter that cannot be understood; carries the parameter's name."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def parse_duration(text: str, field: str) -> int:
    """A duration like ``15m`` or ``7d`` in microseconds."""
    m = _DURATION.match(text)
    if not m:
        raise BadParameter(field, f"expected a duration such as 15m, 24h or 7d, got {text!r}")
    us = int(float(m.group(1)) * _UNITS_US[m.group(2)])
    if us <= 0:
        raise BadParameter(field, "must be positive")
    if us > MAX_SPAN_US:
        raise BadParameter(field, "must be at most ten years")
    return us


def parse_instant(text: str, field: str) -> int:
    """RFC 3339 (naive means UTC) or epoch seconds, in epoch microseconds."""
    s = text.strip()
    try:
        return round(float(s) * 1_000_000)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadParameter(
            field, f"expected RFC 3339 time or epoch seconds, got {text!r}"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1_000_000)


def iso(us: int) -> str:
    """Epoch microseconds as RFC 3339 UTC with a Z suffix."""
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Window:
    """A half-open time range [start_us, end_us)."""

    start_us: int
    end_us: int

    @property
    def minutes(self) -> float:
        return (self.end_us - self.start_us) / 60_000_000


def resolve_window(
    *, window: str | None, start: str | None, end: str | None, now_us: int, default: str = "24h"
) -> Window:
    """Combine ``window``, ``start`` and ``end`` into one range (end defaults to now)."""
    end_us = parse_instant(end, "end") if end else now_us
    if start:
        if window:
            raise BadParameter("window", "give window or start, not both")
        start_us = parse_instant(start, "start")
    else:
        start_us = end_us - parse_duration(window or default, "window")
    if start_us >= end_us:
        raise BadParameter("start", "must be before end")
    if end_us - start_us > MAX_SPAN_US:
        raise BadParameter("start", "the range must be at most ten years")
    return Window(start_us, end_us)
