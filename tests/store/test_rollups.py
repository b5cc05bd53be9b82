"""Rollups against the raw computation: equal for counts and rates, percentiles within the
sketch's bound, kept right by late feedback, rebuilt for a database from before rollups."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
from tests.inprocess import Api, MakeApi
from tests.store.downgrade import before_deltas

from modeltower.store import duckdb_reads, duckdb_rollups
from modeltower.store.base import (
    PART_BUSINESS,
    PART_CONFUSION,
    PART_OPS,
    PART_QUANTILES,
    PART_REGRESSION,
    EventFilter,
    WindowAggregate,
)
from modeltower.store.duckdb_store import DuckDBStore

pytestmark = pytest.mark.anyio

S = 1_000_000
MIN = 60 * S
HOUR = 60 * MIN
ALL = frozenset({PART_OPS, PART_CONFUSION, PART_REGRESSION, PART_BUSINESS})


def _events(
    rng: np.random.Generator, model: str, t0: int, n: int, kind: str
) -> list[dict[str, Any]]:
    ts = np.sort(rng.integers(t0, t0 + 3 * 24 * HOUR, n))
    out = []
    for i in range(n):
        ev: dict[str, Any] = {
            "model": model,
            "id": f"{model}-{i}",
            "timestamp": int(ts[i]) / S,
            "version": ["v1", "v2", None][i % 3],
            "latency_ms": float(np.round(rng.lognormal(3, 0.8), 3)) if i % 7 else None,
            "group": ["control", "treatment", None][i % 4 % 3],
        }
        if i % 31 == 0:
            ev["error"] = "timeout"
        if kind == "classification":
            ev["prediction"] = str(rng.integers(0, 3))
            if i % 2:
                ev["label"] = str(rng.integers(0, 3))
        else:
            ev["prediction"] = float(np.round(rng.normal(100, 20), 2))
            if i % 2:
                ev["label"] = float(np.round(rng.normal(100, 20), 2))
        if i % 5 == 0:
            ev["converted"] = bool(rng.random() < 0.3)
            ev["revenue"] = float(np.round(rng.gamma(2, 10), 2))
        out.append(ev)
    return out


def _same(got: WindowAggregate, want: WindowAggregate, where: str) -> None:
    exact = ("count", "errors", "latency_n", "labeled", "matches", "confusion")
    for name in exact:
        assert getattr(got, name) == getattr(want, name), (where, name)
    assert got.latency_sum == pytest.approx(want.latency_sum, rel=1e-9), where
    assert got.latency_max == want.latency_max, where
    assert set(got.business) == set(want.business), where
    for g, o in want.business.items():
        b = got.business[g]
        assert (b.count, b.conversions) == (o.count, o.conversions), (where, g)
        assert b.revenue == pytest.approx(o.revenue, rel=1e-9, abs=1e-9), (where, g)
    if want.regression is None:
        assert got.regression is None, where
    else:
        assert got.regression is not None and got.regression.n == want.regression.n, where
        for f in ("sum_abs_err", "sum_sq_err", "sum_ape", "mean_y", "m2_y"):
            assert getattr(got.regression, f) == pytest.approx(
                getattr(want.regression, f), rel=1e-7
            ), (where, f)


def _compare(api: Api, flt: EventFilter, bucket_us: int | None) -> int:
    """Rollup path vs raw: returns how many buckets were compared."""
    store = api.app.state.store
    assert duckdb_rollups.split(flt, bucket_us, store.rollup_policy) is not None, flt
    got = store.aggregate(flt, bucket_us, ALL)
    want = _raw(store, flt, bucket_us)
    assert set(got) == set(want), flt
    for k in want:
        _same(got[k], want[k], f"{flt} bucket {k}")
    return len(want)


def _raw(store: Any, flt: EventFilter, bucket_us: int | None) -> dict[int, WindowAggregate]:
    """The raw computation of the store's backend (no rollups)."""
    with store.reader() as cur:
        if isinstance(store, DuckDBStore):
            return duckdb_reads.aggregate(cur, flt, bucket_us, ALL)
        from modeltower.store import pg_reads

        return pg_reads.aggregate(cur, flt, bucket_us, ALL)


def _latencies(store: Any, flt: EventFilter) -> np.ndarray:
    mark = "?" if isinstance(store, DuckDBStore) else "%s"
    sql = (
        f"SELECT latency_ms FROM events WHERE model = {mark} AND ts >= {mark} AND ts < {mark} "
        "AND latency_ms IS NOT NULL"
    )
    with store.reader() as cur:
        rows = cur.execute(sql, [flt.model, flt.start_us, flt.end_us]).fetchall()
    return np.sort(np.array([r[0] for r in rows]))


async def load(api: Api, t0: int) -> None:
    rng = np.random.default_rng(7)
    await api.put_model("clf", task="classification")
    await api.put_model("reg", task="regression")
    for model, kind in (("clf", "classification"), ("reg", "regression")):
        events = _events(rng, model, t0, 6000, kind)
        # feedback that arrives before its event is counted when the event comes
        early = [{"model": model, "id": e["id"], "label": e["prediction"]} for e in events[:50]]
        await api.feedback(early)
        for i in range(0, len(events), 1000):
            await api.events(events[i : i + 1000])
        # late labels, and labels corrected a second time
        late = [
            {"model": model, "id": e["id"], "label": e["prediction"], "converted": True}
            for e in events[::3]
        ]
        await api.feedback(late)
        again = [
            {"model": model, "id": e["id"], "label": events[0]["prediction"], "revenue": 1.5}
            for e in events[::9]
        ]
        await api.feedback(again)


def compare_windows(api: Api, t0: int) -> int:
    """Rollups against raw events over windows of every version and group, unaligned edges,
    and buckets of an hour and of 15 minutes; returns how many buckets were compared."""
    rng = np.random.default_rng(3)
    compared = 0
    for model in ("clf", "reg"):
        for version in (None, "v1", "v2"):
            for group in (None, "control", "treatment"):
                # windows that do not start or end on a minute: raw edges plus rollups
                start = t0 + int(rng.integers(0, 24 * HOUR))
                end = start + int(rng.integers(2 * HOUR, 48 * HOUR))
                flt = EventFilter(model, start, end, version, group)
                compared += _compare(api, flt, None)
        hourly = EventFilter(model, t0, t0 + 72 * HOUR)
        compared += _compare(api, hourly, HOUR)
        quarter = EventFilter(model, t0 + 7 * MIN, t0 + 50 * HOUR + 30 * S, "v2", "control")
        compared += _compare(api, quarter, 15 * MIN)
    return compared


async def test_rollups_equal_the_raw_computation(make_api: MakeApi) -> None:
    t0 = (int(time.time() * S) - 4 * 24 * HOUR) // HOUR * HOUR
    async with make_api() as api:
        await load(api, t0)
        assert compare_windows(api, t0) > 150
        # the metrics endpoint over the whole history answers from rollups
        m = await api.metrics("clf", {"start": t0 / S, "end": (t0 + 72 * HOUR) / S})
        assert m["count"] == 6000


async def test_sketch_percentiles_within_their_bound(make_api: MakeApi) -> None:
    t0 = (int(time.time() * S) - 4 * 24 * HOUR) // HOUR * HOUR
    async with make_api() as api:
        await load(api, t0)
        store = api.app.state.store
        store.rollup_policy = duckdb_rollups.Policy(exact_quantiles_max=0)  # always the sketch
        flt = EventFilter("clf", t0 + 13 * S, t0 + 60 * HOUR + 7 * S)
        got = store.aggregate(flt, None, frozenset({PART_OPS, PART_QUANTILES}))[0].quantiles
        values = _latencies(store, flt)
        alpha = duckdb_rollups.SKETCH_ALPHA
        assert got is not None
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)):
            at_rank = values[math.floor(q * (len(values) - 1))]
            assert abs(got[name] - at_rank) <= alpha * at_rank + 1e-12, (name, got[name], at_rank)
        # exact when the window holds few latencies (the default policy)
        store.rollup_policy = duckdb_rollups.Policy()
        exact = store.aggregate(flt, None, frozenset({PART_OPS, PART_QUANTILES}))[0].quantiles
        assert exact is not None
        assert exact["p99"] == pytest.approx(float(np.quantile(values, 0.99)), rel=1e-12)


async def test_a_database_from_before_rollups_gets_them_built(make_api: MakeApi) -> None:
    t0 = (int(time.time() * S) - 4 * 24 * HOUR) // HOUR * HOUR
    async with make_api(db_name="old.duckdb") as api:
        await load(api, t0)
        store = api.app.state.store
        # make it look like the release before rollups: schema version 4
        drop = [
            "DROP TABLE rollup_minute",
            "DROP TABLE rollup_confusion",
            "DROP TABLE rollup_latency",
            "DROP TABLE retention",
            "DROP TABLE rollup_score",
            "DROP TABLE rollup_score_day",
            "DROP TABLE rollup_hour",
            "DROP TABLE rollup_hour_confusion",
            # (the later versions that do not depend on these stay applied)
            "DELETE FROM schema_migrations WHERE version IN (5, 6, 7)",
        ]
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
        flt = EventFilter("clf", t0 + 5 * S, t0 + 70 * HOUR)
        assert _compare(api, flt, None) == 1
        assert _compare(api, EventFilter("reg", t0, t0 + 72 * HOUR, "v1"), HOUR) > 30
