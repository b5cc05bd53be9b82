"""Feedback rows on DuckDB carry the time of their event (``feedback.ev_ts``, schema version
16): reads of a time range join only the feedback of that range. Each test checks a path that
sets the time by what a read of a short (raw) window then sees: a label whose row lacks its
time would be missing from the accuracy."""

from __future__ import annotations

from pathlib import Path

from tests.store import downgrade

from modeltower.ingest.schema import EventIn, FeedbackIn, feedback_columns, to_columns
from modeltower.store.base import PART_OPS, EventFilter, InsertEvents, UpsertFeedback
from modeltower.store.duckdb_store import DuckDBStore

T0 = 1_790_000_000_000_000
MINUTE = 60_000_000
PARTS = frozenset({PART_OPS})


def _events(ids: list[str], minute: int) -> InsertEvents:
    evs = [
        EventIn(model="m", id=i, timestamp=(T0 + minute * MINUTE) / 1e6, prediction="a")
        for i in ids
    ]
    return InsertEvents(to_columns(evs, T0))


def _labels(ids: list[str], label: str = "a") -> UpsertFeedback:
    return UpsertFeedback(feedback_columns([FeedbackIn(model="m", id=i, label=label) for i in ids]))


def _labeled(store: DuckDBStore, start_min: int, end_min: int) -> tuple[int, int, int]:
    """(events, labeled, matches) of [start, end) minutes after T0, read from raw events."""
    agg = store.aggregate(
        EventFilter("m", T0 + start_min * MINUTE, T0 + end_min * MINUTE), None, PARTS
    ).get(0)
    return (0, 0, 0) if agg is None else (agg.count, agg.labeled, agg.matches)


def _times(store: DuckDBStore) -> dict[str, int | None]:
    with store.reader() as cur:
        return dict(cur.execute("SELECT id, ev_ts FROM feedback").fetchall())


def test_feedback_for_a_stored_event_gets_the_event_time(store: DuckDBStore) -> None:
    store.write([_events(["a", "b"], 5), _events(["c"], 40)])
    store.write([_labels(["a", "c"]), _labels(["b"], "z")])
    assert _times(store) == {"a": T0 + 5 * MINUTE, "b": T0 + 5 * MINUTE, "c": T0 + 40 * MINUTE}
    assert _labeled(store, 5, 6) == (2, 2, 1)
    assert _labeled(store, 40, 41) == (1, 1, 1)
    assert _labeled(store, 0, 60) == (3, 3, 2)
    # a second label for the same event keeps the time
    store.write([_labels(["b"])])
    assert _times(store)["b"] == T0 + 5 * MINUTE
    assert _labeled(store, 5, 6) == (2, 2, 2)


def test_feedback_before_its_event_gets_the_time_when_the_event_comes(
    store: DuckDBStore,
) -> None:
    store.write([_labels(["early", "never"])])
    assert _times(store) == {"early": None, "never": None}
    store.write([_events(["early", "other"], 7)])
    assert _times(store) == {"early": T0 + 7 * MINUTE, "never": None}
    assert _labeled(store, 7, 8) == (2, 1, 1)
    # in a later batch, an event whose feedback waits among events whose feedback does not
    store.write([_events(["x1", "x2"], 9)])
    store.write([_events(["never"], 30)])
    assert _times(store)["never"] == T0 + 30 * MINUTE
    assert _labeled(store, 30, 31) == (1, 1, 1)
    assert _labeled(store, 0, 60) == (5, 2, 2)


def test_a_database_of_schema_version_15_gets_the_times_of_its_feedback(tmp_path: Path) -> None:
    path = str(tmp_path / "v15.duckdb")
    store = DuckDBStore(path)
    store.open()
    store.write([_events(["a", "b"], 3), _events(["c"], 50), _labels(["a", "c", "gone"])])
    downgrade.before_feedback_times(store)
    store.close()
    again = DuckDBStore(path)
    again.open()
    try:
        assert _times(again) == {"a": T0 + 3 * MINUTE, "c": T0 + 50 * MINUTE, "gone": None}
        assert _labeled(again, 3, 4) == (2, 1, 1)
        assert _labeled(again, 50, 51) == (1, 1, 1)
    finally:
        again.close()


def test_the_sums_of_a_window_do_not_depend_on_the_parts_asked_for(store: DuckDBStore) -> None:
    """The snapshot job asks for fewer parts than the metrics API and stores what it gets: the
    float sums of both must be the same numbers, to the last bit."""
    import random

    from modeltower.store.base import PART_BUSINESS, PART_CONFUSION

    rng = random.Random(3)
    evs = [
        EventIn(
            model="m",
            id=f"s{i}",
            timestamp=(T0 + rng.randrange(150 * MINUTE)) / 1e6,
            prediction=rng.choice("abc"),
            label=rng.choice("abc"),
            group=rng.choice(["control", "treatment", None]),
            latency_ms=rng.lognormvariate(3, 1.5),
        )
        for i in range(3_000)
    ]
    store.write([InsertEvents(to_columns(evs, T0))])
    # under an hour: raw events; over two hours: rollups and the raw edges
    for end in (T0 + 50 * MINUTE, T0 + 150 * MINUTE):
        flt = EventFilter("m", T0, end)
        sums = {
            parts: (a.count, a.latency_sum, a.latency_max)
            for parts in (PARTS, PARTS | {PART_CONFUSION}, PARTS | {PART_CONFUSION, PART_BUSINESS})
            for a in [store.aggregate(flt, None, parts)[0]]
        }
        assert len(set(sums.values())) == 1, sums
