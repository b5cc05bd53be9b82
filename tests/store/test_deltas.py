"""The rollup deltas computed in memory (store/duckdb_deltas.py) against DuckDB's own SQL
aggregation of the same rows (the statements of duckdb_rollups.py and duckdb_scores.py), and
the reads of a store whose deltas are folded in, in part or not at all (make_api: DuckDB)."""

from __future__ import annotations

import itertools
import math
import random
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from tests.inprocess import MakeApi
from tests.store import downgrade
from tests.store.test_rollups import HOUR, S, compare_windows, load

from modeltower.ingest.schema import EventIn, to_columns
from modeltower.store import duckdb_deltas, duckdb_rollups, duckdb_scores, duckdb_store
from modeltower.store.base import PART_OPS, EnforceRetention, EventFilter, InsertEvents
from modeltower.store.duckdb_store import DuckDBStore
from modeltower.store.rollup_plan import DAY_US, HOUR_US, MINUTE_US, NONE_KEY

T0 = 1_790_000_000_000_000


def _rows(n: int, seed: int) -> pa.Table:
    """Effective rows with every case the rollups distinguish: NULL version and group, errors,
    classification and regression labels, matches, multi-class scores, latencies of 0,
    conversions and revenue, over several days."""
    rng = random.Random(seed)
    cols: dict[str, list[object]] = {c: [] for c in duckdb_deltas.EFFECTIVE}
    for _ in range(n):
        regression = rng.random() < 0.3
        cols["model"].append(rng.choice(["a", "b"]))
        cols["version"].append(rng.choice(["v1", "v2", None]))
        cols["grp"].append(rng.choice(["control", "treatment", None]))
        cols["ts"].append(T0 + rng.randrange(3 * DAY_US))
        error = "boom" if rng.random() < 0.05 else None
        cols["error"].append(error)
        kind = rng.random()
        if kind < 0.1:  # classes that are numbers: whole ones count, "2.5" (a string) does not
            pred, lab = rng.choice(["0", "1", "2.5"]), rng.choice([None, "0", "1", "2.5", "7"])
            cols["prediction"].append(pred)
            cols["prediction_num"].append(None if pred == "2.5" else float(pred))
            cols["lab"].append(lab)
            cols["labn"].append(None if lab is None else float(lab))
            cols["score"].append(rng.choice([None, rng.random()]))
            cols["scores"].append(None)
        elif regression:
            y = rng.choice([None, 0.0, rng.uniform(-50, 50)])
            p = rng.uniform(-50, 50)
            cols["prediction"].append(repr(p))
            cols["prediction_num"].append(p)
            cols["lab"].append(None if y is None else repr(y))
            cols["labn"].append(y)
            cols["score"].append(None)
            cols["scores"].append(None)
        else:
            pred = None if error and rng.random() < 0.5 else rng.choice(["x", "y", "z"])
            cols["prediction"].append(pred)
            cols["prediction_num"].append(None)
            cols["lab"].append(rng.choice([None, "x", "y", "z"]))
            cols["labn"].append(None)
            kind = rng.random()
            score = rng.choice([0.0, 1.0, rng.random()]) if kind < 0.7 else None
            cols["score"].append(score)
            cols["scores"].append('{"x":0.5,"y":0.5}' if 0.7 <= kind < 0.8 else None)
        cols["latency_ms"].append(rng.choice([None, 0.0, rng.lognormvariate(3, 1)]))
        cols["conv"].append(rng.choice([None, True, False]))
        cols["rev"].append(rng.choice([None, rng.uniform(-10, 100)]))
    types = {"ts": pa.int64(), "conv": pa.bool_()}
    floats = ("prediction_num", "labn", "score", "latency_ms", "rev")
    return pa.table(
        {
            c: pa.array(v, types.get(c, pa.float64() if c in floats else pa.string()))
            for c, v in cols.items()
        }
    )


def _reference_sql(sign: int) -> list[str]:
    """The SQL upserts into empty keyed tables: one row per key, as the deltas summed."""
    ev = "SELECT * FROM batch"
    key = duckdb_rollups._key
    cls = duckdb_rollups._CLS
    return [
        duckdb_rollups._ops_sql(ev, sign, key(MINUTE_US), "rollup_minute"),
        duckdb_rollups._ops_sql(ev, sign, key(HOUR_US), "rollup_hour"),
        duckdb_rollups._confusion_sql(ev, sign, key(MINUTE_US), "rollup_confusion", True),
        duckdb_rollups._confusion_sql(ev, sign, key(HOUR_US), "rollup_hour_confusion", True),
        duckdb_scores.add_sql(ev, sign, key(HOUR_US), cls, "rollup_score"),
        duckdb_scores.add_sql(ev, sign, key(DAY_US), cls, "rollup_score_day"),
        f"""
        INSERT INTO rollup_latency
        SELECT {key(HOUR_US)}, {duckdb_rollups.BIN_SQL}, {sign} * count(*) FROM ({ev}) e
        WHERE latency_ms IS NOT NULL GROUP BY ALL
        """,
        # the model-wide copy: version and group summed away
        f"""
        INSERT INTO rollup_latency_model
        SELECT e.model, '{NONE_KEY}', '{NONE_KEY}', e.ts // {HOUR_US} * {HOUR_US},
               {duckdb_rollups.BIN_SQL}, {sign} * count(*) FROM ({ev}) e
        WHERE latency_ms IS NOT NULL GROUP BY ALL
        """,
    ]


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9):
                return False
        elif x != y:
            return False
    return True


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("seed", [1, 2])
def test_deltas_equal_the_sql_aggregation(sign: int, seed: int) -> None:
    rows = _rows(3_000, seed)
    con = duckdb.connect()
    con.execute(duckdb_rollups.SCHEMA)
    con.execute(duckdb_rollups.SCHEMA_HOURS)
    con.execute(duckdb_scores.SCHEMA)
    con.execute(duckdb_rollups.VERSION_12_SQL)
    con.execute(duckdb_rollups.VERSION_15_SQL)
    con.execute(duckdb_rollups.version_18_sql())
    con.register("batch", rows)
    for sql in _reference_sql(sign):
        con.execute(sql)
    got = duckdb_deltas.deltas(rows, sign, sketch=True)
    assert set(got) == set(duckdb_rollups.TABLES)
    con.register("delta", duckdb_rollups.delta_rows(got))
    con.execute("INSERT INTO rollup_delta BY NAME SELECT * FROM delta")
    for table in got:
        cols = ", ".join(duckdb_rollups.columns(table))
        want = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        mine = con.execute(
            f"SELECT {cols} FROM rollup_delta WHERE tbl = ? ORDER BY ALL", [table]
        ).fetchall()
        assert len(want) == len(mine) > 0, table
        bad = [(w, m) for w, m in zip(want, mine, strict=True) if not _same(w, m)]
        assert not bad, (table, bad[:3])


def test_no_sketch_and_no_labels_leave_their_tables_out() -> None:
    rows = _rows(200, 3)
    unlabeled = rows.set_column(
        rows.schema.get_field_index("lab"), "lab", pa.nulls(rows.num_rows, pa.string())
    )
    got = duckdb_deltas.deltas(unlabeled, 1, sketch=False)
    assert set(got) == {"rollup_minute", "rollup_hour"}
    assert duckdb_deltas.deltas(rows.slice(0, 0), 1, sketch=True) == {}


def _delta_rows(store: DuckDBStore) -> int:
    with store.reader() as cur:
        return int(cur.execute("SELECT count(*) FROM rollup_delta").fetchall()[0][0])


@pytest.mark.anyio
@pytest.mark.parametrize("fold", ["never", "in every write", "when idle"])
async def test_reads_are_the_same_before_and_after_the_deltas_are_folded_in(
    make_api: MakeApi, fold: str
) -> None:
    t0 = (int(time.time() * S) - 4 * 24 * HOUR) // HOUR * HOUR
    async with make_api() as api:
        store = api.app.state.store
        assert isinstance(store, DuckDBStore)
        if fold == "in every write":
            store._rollups.fold_rows = 1
        await load(api, t0)
        if fold == "when idle":
            assert _delta_rows(store) == store._rollups.pending > 0
            store.maintenance()
        if fold == "never":
            assert _delta_rows(store) == store._rollups.pending > 0
        else:
            assert _delta_rows(store) == store._rollups.pending == 0
        assert compare_windows(api, t0) > 150
        # retention folds what is left first, so that the deltas of expired units go too
        cut = t0 + 36 * HOUR
        (res,) = store.write([EnforceRetention(cut, cut)])
        assert res.rollup_rows > 0
        assert _delta_rows(store) == store._rollups.pending == 0
        with store.reader() as cur:
            for table in duckdb_rollups.TABLES:
                old = cur.execute(f"SELECT count(*) FROM {table} WHERE minute < ?", [cut])
                assert old.fetchall() == [(0,)], table


def test_deltas_left_by_a_process_are_counted_and_folded_at_the_next_open(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "d.duckdb")
    store = DuckDBStore(path)
    store.open()
    evs = [EventIn(model="m", id=i, timestamp=T0 / 1e6, prediction="a") for i in "abc"]
    store.write([InsertEvents(to_columns(evs, T0))])
    left = store._rollups.pending
    assert left > 0
    store._con.close()  # killed: no fold at close
    store._con = None
    again = DuckDBStore(path)
    again.open()
    assert again._rollups.pending == _delta_rows(again) == left
    again.close()  # folds
    last = DuckDBStore(path)
    last.open()
    assert last._rollups.pending == _delta_rows(last) == 0
    flt = EventFilter("m", T0 - HOUR_US, T0 + 2 * HOUR_US)
    assert last.aggregate(flt, None, frozenset({PART_OPS}))[0].count == 3
    last.close()


def test_a_database_with_a_delta_table_per_rollup_upgrades_keeping_its_deltas(
    tmp_path: Path,
) -> None:
    """Schema version 15 moves the deltas not folded in yet from the seven tables of version
    14 into one: the counts and the reads stay the same."""
    path = str(tmp_path / "v14.duckdb")
    store = DuckDBStore(path)
    store.open()
    store.write([_spread_events(0, 3_000, 5)])
    flt = EventFilter("m", T0 - HOUR_US, T0 + 31 * 86_400 * 1_000_000)
    parts = frozenset({PART_OPS})
    before = store.aggregate(flt, DAY_US, parts)
    downgrade.before_model_wide_sketch(store)  # (version 14 had none)
    pending = store._rollups.pending
    assert pending == _delta_rows(store) > 0
    downgrade.before_one_delta_table(store)
    con = store._con
    assert con is not None
    left = sum(
        int(con.execute(f"SELECT count(*) FROM {t}_delta").fetchall()[0][0])
        for t in duckdb_rollups._TABLES_12
    )
    assert left == pending
    con.close()  # killed: no fold at close
    store._con = None
    again = DuckDBStore(path)
    again.open()
    assert again._rollups.pending == _delta_rows(again) == pending
    with again.reader() as cur:
        tables = {r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert not {f"{t}_delta" for t in duckdb_rollups.TABLES} & tables
    after = again.aggregate(flt, DAY_US, parts)
    assert _exact(after) == _exact(before)
    assert [a.latency_sum for a in after.values()] == pytest.approx(
        [a.latency_sum for a in before.values()], rel=1e-12
    )
    again.write([_spread_events(3_000, 500, 6)])
    assert sum(a.count for a in again.aggregate(flt, DAY_US, parts).values()) == 3_500
    again.close()


def _exact(aggs: dict[int, Any]) -> dict[int, tuple[int, ...]]:
    """The counts of aggregates (sums of floats may be added in another order)."""
    return {
        k: (a.count, a.errors, a.latency_n, a.labeled, a.matches, a.latency_max)
        for k, a in aggs.items()
    }


def _spread_events(start: int, n: int, seed: int) -> InsertEvents:
    """Events over 30 days, of 3 versions and 2 groups, half of them labeled: many rollup keys."""
    rng = random.Random(seed)
    evs = [
        EventIn(
            model="m",
            id=f"e{start + j}",
            version=rng.choice(["v1", "v2", "v3"]),
            group=rng.choice(["control", "treatment"]),
            timestamp=T0 / 1e6 + rng.uniform(0, 30 * 86_400),
            prediction=rng.choice(["a", "b"]),
            label=rng.choice(["a", "b", None]),
            score=rng.random(),
            latency_ms=rng.lognormvariate(3, 1),
        )
        for j in range(n)
    ]
    return InsertEvents(to_columns(evs, T0))


def test_index_memory_stays_bounded_through_a_bulk_load_over_a_month(tmp_path: Path) -> None:
    # Every fold grows the keyed rollup tables' indexes, which stay in memory (where the
    # memory limit cannot evict them) until a checkpoint writes them: once they take two
    # fifths of the limit the writer checkpoints. Without that, this load takes them past
    # 70 MB of a 128MB limit, and a larger one fails with "Out of Memory".
    store = DuckDBStore(str(tmp_path / "bulk.duckdb"), memory_limit="128MB")
    store.open()
    store._rollups.fold_rows = 20_000  # a batch spread over a month folds at once
    bound = store._index_memory_max
    assert 40 << 20 < bound < 60 << 20
    try:
        seen = []
        for b in range(36):
            store.write([_spread_events(b * 10_000, 10_000, b)])
            with store.reader() as cur:
                seen.append(int(cur.execute(duckdb_store._INDEX_MEMORY).fetchall()[0][0]))
        assert max(seen) <= bound + (6 << 20), [x >> 20 for x in seen]
        assert any(later < earlier for earlier, later in itertools.pairwise(seen))
        flt = EventFilter("m", T0, T0 + 31 * DAY_US)
        assert store.aggregate(flt, None, frozenset({PART_OPS}))[0].count == 360_000
    finally:
        store.close()
