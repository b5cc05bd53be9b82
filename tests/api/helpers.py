"""Shared constants and reference helpers for the API tests."""

from __future__ import annotations

import time
from typing import Any

import pytest

T0 = 1_736_121_600  # 2025-01-06T00:00:00Z, aligned to the hour and the day
MINUTE = 60
HOUR = 3600


def approx(x: float | None) -> Any:
    """Tolerance for numbers recomputed independently (summation order differs)."""
    return None if x is None else pytest.approx(x, rel=1e-9, abs=1e-12)


def iso(epoch_s: int) -> str:
    """RFC 3339 UTC, as the API prints whole-second instants."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def window(start_s: float, end_s: float) -> dict[str, str]:
    """Explicit start/end query parameters in epoch seconds."""
    return {"start": str(start_s), "end": str(end_s)}
