"""Path and query parameters shared by the query endpoints, declared once."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Path, Query

ModelName = Annotated[str, Path(min_length=1, max_length=256, description="model name")]
WindowQ = Annotated[
    str | None,
    Query(description="trailing duration such as 15m, 24h, 7d", examples=["24h"]),
]
StartQ = Annotated[str | None, Query(description="RFC 3339 or epoch seconds (instead of window)")]
EndQ = Annotated[str | None, Query(description="RFC 3339 or epoch seconds (default: now)")]
VersionQ = Annotated[
    str | None, Query(min_length=1, max_length=256, description="only this model version")
]
GroupQ = Annotated[
    str | None, Query(min_length=1, max_length=256, description="only this group, e.g. treatment")
]


def now_us() -> int:
    """The current time in epoch microseconds."""
    return int(time.time() * 1_000_000)
