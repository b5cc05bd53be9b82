"""The one-pass check of decode_events (``_semantically_valid``) agrees with the rules that name
each error (``_semantic_errors``), on every kind of value those rules look at."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from modeltower.ingest.schema import EventIn, _semantic_errors, _semantically_valid

_VALUES = [None, "churn", True, False, 0, 0.0, 1, -3.5, 1e-101, -1e-101, 1e101, 10**200, 2.5e-100]
_TIMES = [
    None,
    1.7e9,
    -1.0,
    7.3e9,
    datetime(2026, 1, 1),
    datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
    datetime(2200, 1, 1, tzinfo=UTC),
    datetime(2100, 5, 1, tzinfo=UTC),
]


def test_one_pass_agrees_with_the_rules_per_event() -> None:
    checked = bad = 0
    for pred, label, truth, error, ts in itertools.product(
        _VALUES, _VALUES[:8], [None, "x", 1e101], [None, "boom"], _TIMES
    ):
        ev = EventIn(
            model="m", prediction=pred, label=label, ground_truth=truth, error=error, timestamp=ts
        )
        want = not _semantic_errors(0, ev)
        assert _semantically_valid([ev]) is want, ev
        # in a batch, one bad event is enough
        assert _semantically_valid([EventIn(model="m", prediction="a"), ev]) is want
        checked += 1
        bad += not want
    assert checked > 4_000 and 0 < bad < checked
