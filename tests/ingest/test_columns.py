"""to_columns against the definition of each column, event by event, on every kind of value."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime

from modeltower.ingest.schema import EventIn, canonical, to_columns, to_micros

NOW = 1_790_000_000_123_456
_VALUES = [None, "churn", True, False, 0, 3, 2.0, -1.5, 7.25]
_TIMES = [
    None,
    1.7e9 + 0.1234565,
    1_790_000_123.456789,
    1_790_000_000.0000007,
    1_700_000_000,
    datetime(2026, 1, 1, 12),
    datetime.now(UTC),
]
_SCORES = [None, 0.25, 1.0, {"a": 0.4, "b": 0.6}]


def _events(seed: int, n: int) -> list[EventIn]:
    rng = random.Random(seed)
    out = []
    for j in range(n):
        label = rng.choice(_VALUES)
        out.append(
            EventIn(
                model=rng.choice(["m", "n"]),
                version=rng.choice([None, "v1"]),
                id=rng.choice([None, f"e{j}", j]),
                timestamp=rng.choice(_TIMES),
                prediction=rng.choice(_VALUES),
                score=rng.choice(_SCORES),
                label=label,
                ground_truth=rng.choice(_VALUES) if label is None else None,
                latency_ms=rng.choice([None, 0.0, 12.5]),
                error=rng.choice([None, "boom"]),
                features=rng.choice([None, {}, {"a": 1, "b": "x", "c": None, "d": 2.5}]),
                tags=rng.choice([None, {"region": "eu"}]),
                group=rng.choice([None, "control"]),
                converted=rng.choice([None, True, False]),
                revenue=rng.choice([None, 3.5]),
                input_hash=rng.choice([None, "h"]),
            )
        )
    return out


def test_columns_equal_the_per_event_definition() -> None:
    for seed, n in itertools.product(range(5), (1, 7, 300)):
        events = _events(seed, n)
        cols = to_columns(events, NOW)
        assert len(cols) == n
        for j, ev in enumerate(events):
            if ev.id is None:
                assert len(cols.id[j]) == 22 and cols.id[j] not in cols.id[:j]
            else:
                assert cols.id[j] == str(ev.id)
            assert cols.ts[j] == (NOW if ev.timestamp is None else to_micros(ev.timestamp, NOW))
            assert (cols.prediction[j], cols.prediction_num[j]) == canonical(ev.prediction)
            lab = ev.label if ev.label is not None else ev.ground_truth
            assert (cols.label[j], cols.label_num[j]) == canonical(lab)
            if isinstance(ev.score, dict):
                assert cols.score[j] is None and cols.scores[j] == '{"a":0.4,"b":0.6}'
            else:
                assert cols.score[j] == ev.score and cols.scores[j] is None
            features = cols.features[j]
            assert (None if features is None else json.loads(features)) == ev.features
            assert cols.tags[j] == (None if ev.tags is None else '{"region":"eu"}')
            plain = (
                "model",
                "version",
                "latency_ms",
                "error",
                "converted",
                "revenue",
                "input_hash",
            )
            for name in plain:
                assert getattr(cols, name)[j] == getattr(ev, name), name
            assert cols.grp[j] == ev.group


def test_text_only_columns_take_the_fast_path_with_the_same_result() -> None:
    events = [EventIn(model="m", id=f"e{j}", prediction="a", label="b") for j in range(50)]
    cols = to_columns(events, NOW)
    assert cols.prediction == ["a"] * 50 and cols.prediction_num == [None] * 50
    assert cols.label == ["b"] * 50 and cols.label_num == [None] * 50
    assert cols.ts == [NOW] * 50
    assert to_columns([], NOW).model == []
