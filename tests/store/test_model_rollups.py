"""The model-wide latency sketch of the DuckDB store (``rollup_latency_model``, schema version
18): always the per-version sketch with version and group summed away — through new events,
duplicates, late feedback and folds — and when built by the migration from a version 16 file."""

from __future__ import annotations

import pytest
from tests.store import downgrade
from tests.store.test_deltas import T0, _spread_events

from modeltower.ingest.schema import FeedbackIn, feedback_columns
from modeltower.store import duckdb_rollups
from modeltower.store.base import PART_QUANTILES, EventFilter, UpsertFeedback
from modeltower.store.duckdb_store import DuckDBStore
from modeltower.store.rollup_plan import DAY_US, HOUR_US, NONE_KEY

Sums = dict[tuple[object, ...], int]


def _collapsed(store: DuckDBStore) -> Sums:
    """The per-version sketch summed over versions and groups, deltas included."""
    src = duckdb_rollups.source("rollup_latency")
    with store.reader() as cur:
        rows = cur.execute(
            f"SELECT model, minute, bin, sum(n) FROM {src} GROUP BY ALL HAVING sum(n) <> 0"
        ).fetchall()
    return {tuple(r[:3]): int(r[3]) for r in rows}


def _model_wide(store: DuckDBStore) -> Sums:
    src = duckdb_rollups.source("rollup_latency_model")
    with store.reader() as cur:
        keys = cur.execute(f"SELECT DISTINCT version, grp FROM {src}").fetchall()
        assert set(keys) <= {(NONE_KEY, NONE_KEY)}
        rows = cur.execute(
            f"SELECT model, minute, bin, sum(n) FROM {src} GROUP BY ALL HAVING sum(n) <> 0"
        ).fetchall()
    return {tuple(r[:3]): int(r[3]) for r in rows}


def _fill(store: DuckDBStore) -> None:
    store.write([_spread_events(0, 4_000, 5)])
    store.write([_spread_events(3_000, 3_000, 6)])  # a third of them duplicates
    labels = [FeedbackIn(model="m", id=f"e{i}", label="b") for i in range(0, 6_000, 3)]
    store.write([UpsertFeedback(feedback_columns(labels))])


def test_the_model_wide_sketch_equals_the_per_version_sums(store: DuckDBStore) -> None:
    store._rollups.fold_rows = 10**9  # folded only when asked
    _fill(store)
    assert store._rollups.pending > 0  # deltas not folded in yet
    want = _collapsed(store)
    assert len(want) > 2_000 and sum(want.values()) == 6_000
    assert _model_wide(store) == want
    store.maintenance()  # folded
    assert store._rollups.pending == 0
    assert _model_wide(store) == _collapsed(store) == want


def test_the_migration_builds_it_from_a_version_16_database(store: DuckDBStore) -> None:
    _fill(store)
    want = _collapsed(store)
    downgrade.before_model_wide_sketch(store)
    store.close()
    again = DuckDBStore(store.path)
    again.open()
    try:
        assert _model_wide(again) == want == _collapsed(again)
    finally:
        again.close()


def test_model_wide_percentiles_equal_those_of_the_per_version_sketch(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a month, far more latencies than the exact limit: the percentiles come from the sketch
    store.rollup_policy.exact_quantiles_max = 100
    _fill(store)
    parts = frozenset({PART_QUANTILES})
    flt = EventFilter("m", T0 - HOUR_US, T0 + 31 * DAY_US)
    wide = store.aggregate(flt, DAY_US, parts)
    monkeypatch.setattr(duckdb_rollups, "MODEL_WIDE", {})
    per_version = store.aggregate(flt, DAY_US, parts)
    assert len(wide) >= 30
    assert {k: a.quantiles for k, a in wide.items()} == {
        k: a.quantiles for k, a in per_version.items()
    }
