"""The ten-minute, model-wide sketches of the PostgreSQL store (schema version 19): the tables
hold the latency bins and score histograms of the stored events, feedback applied — through
duplicates and late labels, and when built by the migration — and the percentiles and score
histograms of a model-wide window read through them equal those of its raw events."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import psycopg
import pytest

from modeltower.ingest.schema import EventIn, FeedbackIn, feedback_columns, to_columns
from modeltower.metrics.score_sketch import EPS, MULTI_BIN, ScoreHistogram, score_bin
from modeltower.store import pg_model_rollups, rollup_plan
from modeltower.store.base import (
    PART_QUANTILES,
    EnforceRetention,
    EventFilter,
    InsertEvents,
    UpsertFeedback,
)
from modeltower.store.latency_sketch import LN_GAMMA, ZERO_BIN, as_bins, sketch_quantiles
from modeltower.store.pg_schema import MIGRATIONS, migrate
from modeltower.store.pg_store import PostgresStore
from modeltower.store.rollup_plan import HOUR_US, MINUTE_US, TEN_MINUTES_US, Policy

_, LATENCY, SCORE = pg_model_rollups.TEN_MINUTES

T0 = 1_790_000_000_000_000 // HOUR_US * HOUR_US
S = 1_000_000
SPAN_US = 6 * HOUR_US


def _model(j: int) -> str:
    return "other" if j % 3 == 0 else "m"


def _score(rng: random.Random, kind: float, model: str) -> float | dict[str, float] | None:
    """A probability, none, or (for "other" only: windows holding them read raw scores) a
    class -> probability object."""
    if kind < 0.8:
        return rng.choice([0.0, 1.0, rng.random()])
    return {"a": 0.4, "b": 0.6} if kind >= 0.9 and model == "other" else None


def _events(start: int, n: int, seed: int) -> InsertEvents:
    """Events of two models over six hours, of versions and groups, some labeled, some with a
    class -> probability object, some errors and latencies of 0."""
    rng = random.Random(seed)
    evs = []
    for j in range(start, start + n):
        kind = rng.random()
        evs.append(
            EventIn(
                model=_model(j),
                id=f"e{j}",
                version=rng.choice(["v1", "v2", None]),
                group=rng.choice(["control", "treatment", None]),
                timestamp=(T0 + rng.uniform(0, SPAN_US)) / 1e6,
                prediction=rng.choice(["a", "b"]),
                label=rng.choice(["a", "b", None]),
                score=_score(rng, kind, _model(j)),
                latency_ms=rng.choice([0.0, rng.lognormvariate(3, 1), rng.lognormvariate(3, 1)]),
                error="boom" if kind < 0.02 else None,
            )
        )
    return InsertEvents(to_columns(evs, T0))


def _feedback() -> UpsertFeedback:
    """Late labels for a quarter of the events."""
    labels = [FeedbackIn(model=_model(i), id=f"e{i}", label="b") for i in range(0, 6_000, 4)]
    return UpsertFeedback(feedback_columns(labels))


def _bin(latency: float) -> int:
    """The sketch bin of a latency, by its definition: ⌈ln(x) / ln γ⌉ (0 and below apart)."""
    return max(math.ceil(math.log(latency) / LN_GAMMA), ZERO_BIN + 1) if latency > 0 else ZERO_BIN


def _want_latency(raw: list[tuple]) -> Counter:
    return Counter(
        (m, ts // TEN_MINUTES_US * TEN_MINUTES_US, _bin(lat))
        for m, ts, lat, *_ in raw
        if lat is not None
    )


def _scored(raw: list[tuple]) -> list[tuple]:
    """(model, ts, label, score, multi) of the classified, scored events."""
    return [
        (m, ts, lab, score, scores is not None)
        for m, ts, _, lab, pred, err, score, scores in raw
        if lab is not None
        and pred is not None
        and err is None
        and (score is not None or scores is not None)
    ]


def _want_scores(raw: list[tuple]) -> dict[tuple, list[float]]:
    out: dict[tuple, list[float]] = {}
    for m, ts, lab, p, multi in _scored(raw):
        key = (m, ts // TEN_MINUTES_US * TEN_MINUTES_US, lab, MULTI_BIN if multi else score_bin(p))
        row = out.setdefault(key, [0, 0.0, 0.0])
        row[0] += 1
        if not multi:
            row[1] += math.log(min(max(p, EPS), 1 - EPS))
            row[2] += math.log(min(max(1 - p, EPS), 1 - EPS))
    return out


def _fill(store: PostgresStore) -> None:
    store.write([_events(0, 4_000, 1)])
    store.write([_events(3_000, 3_000, 2)])  # a third of them duplicates
    store.write([_feedback()])


def _raw(url: str, flt: EventFilter | None = None) -> list[tuple]:
    """(model, ts, latency, effective label, prediction, error, score, scores) of the stored
    events, in ``flt``'s window when given."""
    where, params = "", []
    if flt is not None:
        where = "WHERE e.model = %s AND e.ts >= %s AND e.ts < %s"
        params = [flt.model, flt.start_us, flt.end_us]
    with psycopg.connect(url) as con:
        rows = con.execute(
            "SELECT e.model, e.ts, e.latency_ms, coalesce(f.label, e.label), e.prediction, "
            "e.error, e.score, e.scores FROM events e "
            f"LEFT JOIN feedback f ON f.model = e.model AND f.id = e.id {where}",
            params,
        ).fetchall()
    return [tuple(r) for r in rows]


def _assert_tables_hold_the_raw_events(url: str) -> None:
    raw = _raw(url)
    with psycopg.connect(url) as con:
        latency = con.execute(f"SELECT model, minute, bin, n FROM {LATENCY} WHERE n <> 0")
        got_latency = Counter({tuple(r[:3]): int(r[3]) for r in latency.fetchall()})
        scores = con.execute(f"SELECT model, minute, lab, bin, n, ln_p, ln_1mp FROM {SCORE}")
        got = {tuple(r[:4]): r[4:] for r in scores.fetchall() if r[4]}
    want_latency = _want_latency(raw)
    assert len(want_latency) > 1_000 and sum(want_latency.values()) == 6_000
    assert got_latency == want_latency
    want = _want_scores(raw)
    assert len(want) > 500 and got.keys() == want.keys()
    for key, (n, ln_p, ln_1mp) in want.items():
        assert int(got[key][0]) == n, key
        assert [float(v) for v in got[key][1:]] == pytest.approx(
            [ln_p, ln_1mp], rel=1e-12, abs=1e-9
        ), key


def test_the_tables_hold_the_raw_events_through_late_labels(
    pg_store: PostgresStore, pg_url: str
) -> None:
    _fill(pg_store)
    _assert_tables_hold_the_raw_events(pg_url)


def test_the_migration_builds_them_from_a_version_18_database(
    pg_store: PostgresStore, pg_url: str
) -> None:
    _fill(pg_store)
    with psycopg.connect(pg_url, autocommit=True) as con:
        for table in pg_model_rollups.TEN_MINUTE_TABLES:
            con.execute(f"DROP TABLE {table}")
        con.execute("DELETE FROM schema_migrations WHERE version = 19")
        assert migrate(con) == max(v for v, _ in MIGRATIONS)
    _assert_tables_hold_the_raw_events(pg_url)


# Model-wide windows ending off the hour and off the minute, as a dashboard's do: one whose
# partial ten minutes are read raw, and one whose partial ten minutes are read whole from the
# sketch, less the raw events of the unit outside the window (there are events after its end).
WINDOW = EventFilter("m", T0 + 17 * MINUTE_US + 30 * S, T0 + 5 * HOUR_US + 43 * MINUTE_US + 10 * S)
COMPLEMENTED = EventFilter("m", T0 + 12 * MINUTE_US, T0 + 5 * HOUR_US + 48 * MINUTE_US + 10 * S)
PG_POLICY = Policy(ten_minutes=True, complement_edges=True)


def test_a_model_wide_window_leaves_under_ten_minutes_at_each_end_to_raw_events() -> None:
    units = rollup_plan.sketch_units(WINDOW, (HOUR_US,), PG_POLICY)
    plan = rollup_plan.sketch_levels(WINDOW, None, units, PG_POLICY)
    assert plan is not None
    tens, hours = plan.per_level
    assert hours == [(T0 + HOUR_US, T0 + 5 * HOUR_US)]
    assert tens == [
        (T0 + 20 * MINUTE_US, T0 + HOUR_US),
        (T0 + 5 * HOUR_US, T0 + 5 * HOUR_US + 40 * MINUTE_US),
    ]
    assert plan.spans == [
        (WINDOW.start_us, T0 + 20 * MINUTE_US),
        (T0 + 5 * HOUR_US + 40 * MINUTE_US, WINDOW.end_us),
    ]
    assert plan.minus == []
    # a version's window keeps to the hours: the ten-minute sketches are model-wide only
    per_version = EventFilter("m", WINDOW.start_us, WINDOW.end_us, version="v1")
    assert rollup_plan.sketch_units(per_version, (HOUR_US,), PG_POLICY) == (HOUR_US,)
    # and a store that keeps none (DuckDB) reads the partial hours raw
    assert rollup_plan.sketch_units(WINDOW, (HOUR_US,), Policy()) == (HOUR_US,)


def test_partial_units_read_whole_less_what_lies_outside_when_that_is_shorter() -> None:
    flt = COMPLEMENTED
    plan = rollup_plan.sketch_levels(flt, None, (TEN_MINUTES_US, HOUR_US), PG_POLICY)
    assert plan is not None
    assert plan.per_level == [
        [
            (T0 + 10 * MINUTE_US, T0 + HOUR_US),
            (T0 + 5 * HOUR_US, T0 + 5 * HOUR_US + 50 * MINUTE_US),
        ],
        [(T0 + HOUR_US, T0 + 5 * HOUR_US)],
    ]
    assert plan.spans == []
    assert plan.minus == [
        (T0 + 10 * MINUTE_US, flt.start_us),
        (flt.end_us, T0 + 5 * HOUR_US + 50 * MINUTE_US),
    ]
    # without the policy, or where the raw events before the window have expired, raw edges
    raw = rollup_plan.sketch_levels(flt, None, (TEN_MINUTES_US, HOUR_US), Policy())
    assert raw is not None and raw.minus == [] and len(raw.spans) == 2
    expired = Policy(complement_edges=True, raw_from_us=T0 + 11 * MINUTE_US)
    got = rollup_plan.sketch_levels(flt, None, (TEN_MINUTES_US, HOUR_US), expired)
    assert got is not None
    assert got.spans == [(flt.start_us, T0 + 20 * MINUTE_US)] and got.minus == [plan.minus[1]]
    # an edge of a whole hour level: the window's last hour read whole, less its last seconds
    flt = EventFilter("m", T0, T0 + 5 * HOUR_US - 17 * S, version="v1")
    hourly = rollup_plan.sketch_levels(flt, None, (HOUR_US,), PG_POLICY)
    assert hourly is not None
    assert hourly.per_level == [[(T0, T0 + 5 * HOUR_US)]]
    assert hourly.minus == [(flt.end_us, T0 + 5 * HOUR_US)]


WINDOWS = {"raw edges": WINDOW, "complemented edges": COMPLEMENTED}


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("bucket_us", [None, HOUR_US, TEN_MINUTES_US])
def test_sketch_percentiles_of_a_model_wide_window_equal_those_of_its_raw_latencies(
    pg_store: PostgresStore, pg_url: str, bucket_us: int | None, window: str
) -> None:
    pg_store.rollup_policy.exact_quantiles_max = 0  # from the sketch, always
    _fill(pg_store)
    flt = WINDOWS[window]
    if bucket_us is not None:  # buckets from a whole hour
        flt = EventFilter("m", T0, flt.end_us)
    got = pg_store.aggregate(flt, bucket_us, frozenset({PART_QUANTILES}))
    raw = [r for r in _raw(pg_url, flt) if r[2] is not None]
    bk = [0 if bucket_us is None else (ts - flt.start_us) // bucket_us for _, ts, *_ in raw]
    want = sketch_quantiles(as_bins(bk, [_bin(r[2]) for r in raw], np.ones(len(raw))))
    assert len(want) == (1 if bucket_us is None else -(-(flt.end_us - T0) // bucket_us))
    assert {k: a.quantiles for k, a in got.items()} == want


@pytest.mark.parametrize("window", WINDOWS)
def test_score_histograms_of_a_model_wide_window_equal_those_of_its_raw_scores(
    pg_store: PostgresStore, pg_url: str, window: str
) -> None:
    pg_store.rollup_policy.exact_scores_max = 0  # from the histograms, always
    _fill(pg_store)
    flt = WINDOWS[window]
    got = pg_store.score_histograms(flt, None)
    assert got is not None and set(got) == {0}
    want = ScoreHistogram()
    for _, _, lab, p, _ in _scored(_raw(pg_url, flt)):
        want.add_score(lab, p)
    assert want.total > 1_000
    h = got[0]
    assert h.multi == 0
    assert {k: v.tolist() for k, v in h.counts.items()} == {
        k: v.tolist() for k, v in want.counts.items()
    }
    assert h.sum_ln_p == pytest.approx(want.sum_ln_p, rel=1e-12)
    assert h.sum_ln_1mp == pytest.approx(want.sum_ln_1mp, rel=1e-12)
    # they are read: without the ten-minute rows, the window's partial hours would be missing
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"DELETE FROM {SCORE}")
    emptied = pg_store.score_histograms(flt, None)
    assert emptied is not None and emptied[0].total < want.total


def test_retention_removes_the_ten_minute_units_before_the_raw_cut_off(
    pg_store: PostgresStore, pg_url: str
) -> None:
    _fill(pg_store)
    cut = T0 + 2 * HOUR_US + 5 * MINUTE_US  # within a ten-minute unit: it stays
    pg_store.write([EnforceRetention(raw_before_us=cut, rollups_before_us=0)])
    with psycopg.connect(pg_url) as con:
        for table in (LATENCY, SCORE):
            lo, hi = con.execute(f"SELECT min(minute), max(minute) FROM {table}").fetchall()[0]
            assert lo == T0 + 2 * HOUR_US and hi < T0 + SPAN_US, table
