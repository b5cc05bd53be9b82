"""The score histogram in the rollups: equal to the histogram of the raw scores (late labels
included), ROC AUC within its stated bound of scikit-learn's and log loss equal to it, raw
scores for small windows and class-probability objects, rebuilt for a database from before."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score
from tests.inprocess import Api, MakeApi
from tests.store.downgrade import before_deltas

from modeltower.metrics.score_sketch import ScoreHistogram
from modeltower.store import duckdb_reads, duckdb_rollups, pg_reads
from modeltower.store.base import PART_CONFUSION, PART_OPS, EventFilter
from modeltower.store.duckdb_store import DuckDBStore

pytestmark = pytest.mark.anyio

S = 1_000_000
MIN = 60 * S
HOUR = 60 * MIN
ALL = frozenset({PART_OPS, PART_CONFUSION})
VERSION_7_TABLES = ("rollup_hour", "rollup_hour_confusion", "rollup_score", "rollup_score_day")


def _events(rng: np.random.Generator, t0: int, n: int) -> list[dict[str, Any]]:
    ts = np.sort(rng.integers(t0, t0 + 3 * 24 * HOUR, n))
    y = rng.random(n) < 0.4
    p = np.where(y, rng.beta(4, 2, n), rng.beta(2, 4, n))
    p[::17] = np.round(p[::17], 2)  # some ties across events
    out = []
    for i in range(n):
        ev: dict[str, Any] = {
            "model": "clf",
            "id": f"e{i}",
            "timestamp": int(ts[i]) / S,
            "version": ["v1", "v2", None][i % 3],
            "group": ["control", "treatment", None][i % 4 % 3],
            "prediction": "yes" if p[i] >= 0.5 else "no",
            "score": float(p[i]),
            "latency_ms": 10.0,
        }
        if i % 3:
            ev["label"] = "yes" if y[i] else "no"
        if i % 29 == 0:
            ev["error"] = "timeout"
        out.append(ev)
    return out


async def _load(api: Api, t0: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(11)
    await api.put_model("clf", task="classification", positive_label="yes")
    events = _events(rng, t0, 6000)
    for i in range(0, len(events), 1000):
        await api.events(events[i : i + 1000])
    # late labels for the unlabeled third, and a second correction of some
    late = [
        {"model": "clf", "id": e["id"], "label": "yes" if e["score"] > 0.3 else "no"}
        for e in events[::3]
    ]
    await api.feedback(late)
    again = [{"model": "clf", "id": e["id"], "label": "no"} for e in events[::21]]
    await api.feedback(again)
    return events


def _raw_aggregate(store: Any, flt: EventFilter, bucket_us: int | None) -> dict[int, Any]:
    with store.reader() as cur:
        if isinstance(store, DuckDBStore):
            return duckdb_reads.aggregate(cur, flt, bucket_us, ALL)
        return pg_reads.aggregate(cur, flt, bucket_us, ALL)


def _raw(store: Any, flt: EventFilter) -> tuple[list[str], np.ndarray]:
    rows = store.scored_rows(flt, None)
    return rows.label, rows.score


def _hist_of(labels: list[str], scores: np.ndarray) -> ScoreHistogram:
    h = ScoreHistogram()
    for lab, p in zip(labels, scores, strict=True):
        h.add_score(lab, float(p))
    return h


def _same_hist(got: ScoreHistogram, want: ScoreHistogram, where: Any) -> None:
    labels = {lab for lab, row in want.counts.items() if row.any()}
    assert {lab for lab, row in got.counts.items() if row.any()} == labels, where
    for lab in labels:
        assert np.array_equal(got.counts[lab], want.counts[lab]), (where, lab)
        assert got.sum_ln_p[lab] == pytest.approx(want.sum_ln_p[lab], rel=1e-9), where
        assert got.sum_ln_1mp[lab] == pytest.approx(want.sum_ln_1mp[lab], rel=1e-9), where


async def test_histogram_equals_the_raw_scores_and_auc_is_within_its_bound(
    make_api: MakeApi,
) -> None:
    t0 = (int(time.time() * S) - 4 * 24 * HOUR) // HOUR * HOUR
    async with make_api() as api:
        await _load(api, t0)
        store = api.app.state.store
        store.rollup_policy = duckdb_rollups.Policy(exact_scores_max=0)  # always the histogram
        rng = np.random.default_rng(4)
        for version in (None, "v1", "v2"):
            for group in (None, "control", "treatment"):
                # windows that do not start or end on an hour: raw edges plus rollups
                start = t0 + int(rng.integers(0, 24 * HOUR))
                end = start + int(rng.integers(3 * HOUR, 48 * HOUR))
                flt = EventFilter("clf", start, end, version, group)
                got = store.score_histograms(flt, None)
                assert got is not None, flt
                labels, scores = _raw(store, flt)
                _same_hist(got[0], _hist_of(labels, scores), flt)
        # hourly buckets: one histogram per hour
        flt = EventFilter("clf", t0, t0 + 72 * HOUR)
        per_hour = store.score_histograms(flt, HOUR)
        assert per_hour is not None and len(per_hour) > 60
        for k in (0, 17, 50):
            hour = EventFilter("clf", t0 + k * HOUR, t0 + (k + 1) * HOUR)
            _same_hist(per_hour[k], _hist_of(*_raw(store, hour)), k)

        # the metrics endpoint over the whole history: AUC within the stated bound, log loss
        params = {"start": (t0 + 5 * S) / S, "end": (t0 + 70 * HOUR + 3 * S) / S}
        cls = (await api.metrics("clf", params))["classification"]
        labels, scores = _raw(store, EventFilter("clf", t0 + 5 * S, t0 + 70 * HOUR + 3 * S))
        y = np.array([lab == "yes" for lab in labels])
        exact = roc_auc_score(y, scores)
        assert 0 < cls["roc_auc_max_error"] < 1e-3
        assert abs(cls["roc_auc"] - exact) <= cls["roc_auc_max_error"]
        assert cls["log_loss"] == pytest.approx(log_loss(y, scores), rel=1e-9)

        # the same window by the default policy: few scored events, exact from raw scores
        store.rollup_policy = duckdb_rollups.Policy()
        cls = (await api.metrics("clf", params))["classification"]
        assert cls["roc_auc_max_error"] == 0.0
        assert cls["roc_auc"] == pytest.approx(exact, abs=1e-15)

        # a timeseries of AUC by hour takes the histogram too, and matches per hour
        store.rollup_policy = duckdb_rollups.Policy(exact_scores_max=0)
        ts = await api.timeseries(
            "clf",
            {"start": t0 / S, "end": (t0 + 72 * HOUR) / S, "bucket": "1h", "metrics": "roc_auc"},
        )
        hour = EventFilter("clf", t0 + 30 * HOUR, t0 + 31 * HOUR)
        labels, scores = _raw(store, hour)
        y = np.array([lab == "yes" for lab in labels])
        assert abs(ts["points"][30]["roc_auc"] - roc_auc_score(y, scores)) < 1e-3


async def test_class_probability_objects_and_tags_read_raw_scores(make_api: MakeApi) -> None:
    t0 = (int(time.time() * S) - 4 * 24 * HOUR) // HOUR * HOUR
    async with make_api() as api:
        await _load(api, t0)
        store = api.app.state.store
        store.rollup_policy = duckdb_rollups.Policy(exact_scores_max=0)
        flt = EventFilter("clf", t0, t0 + 72 * HOUR)
        assert store.score_histograms(flt, None) is not None
        tagged = EventFilter("clf", t0, t0 + 72 * HOUR, tags=(("k", "v"),))
        assert store.score_histograms(tagged, None) is None
        ev = {
            "model": "clf",
            "id": "multi",
            "timestamp": (t0 + 10 * HOUR) / S,
            "prediction": "yes",
            "label": "yes",
            "score": {"yes": 0.7, "no": 0.3},
        }
        await api.events([ev])
        assert store.score_histograms(flt, None) is None  # such events are not binned


async def test_a_database_from_before_version_7_gets_hours_and_histograms_built(
    make_api: MakeApi,
) -> None:
    t0 = (int(time.time() * S) - 4 * 24 * HOUR) // HOUR * HOUR
    async with make_api(db_name="old.duckdb") as api:
        await _load(api, t0)
        store = api.app.state.store
        flt = EventFilter("clf", t0 + 5 * S, t0 + 70 * HOUR)
        store.rollup_policy = duckdb_rollups.Policy(exact_scores_max=0)
        before = store.score_histograms(flt, None)
        # make it look like the release before the histogram: schema version 6
        drop = [f"DROP TABLE {t}" for t in VERSION_7_TABLES]
        drop.append("DELETE FROM schema_migrations WHERE version = 7")
        if isinstance(store, DuckDBStore):
            before_deltas(store)
            for sql in drop:
                store._con.execute(sql)
        else:
            import psycopg

            with psycopg.connect(store.url, autocommit=True) as con:
                for sql in drop:
                    con.execute(sql)
    async with make_api(db_name="old.duckdb") as api:
        store = api.app.state.store
        store.rollup_policy = duckdb_rollups.Policy(exact_scores_max=0)
        after = store.score_histograms(flt, None)
        assert before is not None and after is not None
        _same_hist(after[0], before[0], "rebuilt")
        _same_hist(after[0], _hist_of(*_raw(store, flt)), "raw")
        # the hourly rollups answer days-long windows as the minutes did
        week = EventFilter("clf", t0, t0 + 72 * HOUR)
        got = store.aggregate(week, HOUR, ALL)
        want = _raw_aggregate(store, week, HOUR)
        assert set(got) == set(want)
        for k in want:
            assert (got[k].count, got[k].labeled, got[k].confusion) == (
                want[k].count,
                want[k].labeled,
                want[k].confusion,
            ), k
