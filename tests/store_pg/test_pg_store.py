"""The PostgreSQL store on its own: migrations, the write path, seq order across processes,
a lost connection, and every read compared with the DuckDB store's over the same data."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from modeltower.ingest.schema import EventIn, FeedbackIn, feedback_columns, to_columns
from modeltower.store.base import (
    PART_BUSINESS,
    PART_CONFUSION,
    PART_OPS,
    PART_QUANTILES,
    PART_REGRESSION,
    ROLE_PREDICTION,
    ROLE_SCORE,
    AddDriftSummaries,
    ColumnSpec,
    EventFilter,
    InsertEvents,
    ModelSettings,
    PutModelSettings,
    ReferenceRows,
    ReferenceWindow,
    ScoredRows,
    SetReference,
    Store,
    SummaryRows,
    UpsertFeedback,
)
from modeltower.store.duckdb_store import DuckDBStore
from modeltower.store.pg_store import PostgresStore

T0 = 1_700_000_000_000_000
HOUR = 3_600_000_000
ALL_PARTS = frozenset({PART_OPS, PART_QUANTILES, PART_CONFUSION, PART_REGRESSION, PART_BUSINESS})


def _events(n: int, seed: int, model: str = "m", start: int = 0) -> list[EventIn]:
    rng = random.Random(seed)
    out = []
    for k in range(start, start + n):
        numeric = model.startswith("r")
        feats: dict[str, object] = {"x": rng.gauss(0, 1), "c": rng.choice(["a", "b", 'é"q'])}
        if rng.random() < 0.2:
            feats["n"] = None
        if rng.random() < 0.1:
            feats["x"] = "oops"
        if rng.random() < 0.1:
            feats["odd key"] = rng.randint(0, 3)
        pred: object = rng.gauss(10, 2) if numeric else rng.choice(["cat", "dog", "1", 2])
        label: object = None
        if rng.random() < 0.6:
            label = pred if rng.random() < 0.7 else (rng.gauss(10, 2) if numeric else "cat")
        out.append(
            EventIn(
                model=model,
                id=f"e{k}",
                version=rng.choice(["v1", "v2", None]),
                timestamp=(T0 + rng.randrange(0, 6 * HOUR)) / 1e6,
                prediction=pred,  # type: ignore[arg-type]
                score=rng.random() if rng.random() < 0.5 else {"cat": 0.3, "dog": 0.7},
                label=label,  # type: ignore[arg-type]
                latency_ms=rng.expovariate(0.1) if rng.random() < 0.9 else None,
                error="boom" if rng.random() < 0.05 else None,
                features=feats,  # type: ignore[arg-type]
                tags={"region": rng.choice(["eu", "us"])},
                group=rng.choice(["A", "B", None]),
                converted=rng.choice([True, False, None]),
                revenue=rng.choice([1.5, None]),
            )
        )
    return out


def _fill(store: Store) -> None:
    for model in ("m", "r"):
        evs = _events(3000, 1 if model == "m" else 2, model)
        store.write([InsertEvents(to_columns(evs[:1500], T0))])
        store.write([InsertEvents(to_columns(evs[1400:], T0))])  # 100 duplicates
    fb = [FeedbackIn(model="m", id=f"e{k}", label="dog") for k in range(0, 3100, 7)]
    fb += [FeedbackIn(model="m", id=f"e{k}", revenue=2.0) for k in range(0, 200, 3)]
    store.write([UpsertFeedback(feedback_columns(fb))])
    store.write([PutModelSettings("m", ModelSettings(task="classification", positive_label="dog"))])
    store.write([InsertEvents(to_columns(_events(50, 3, "m", start=3000), T0))])


@pytest.fixture
def both(pg_store: PostgresStore, tmp_path: Path) -> Iterator[tuple[DuckDBStore, PostgresStore]]:
    duck = DuckDBStore(str(tmp_path / "parity.duckdb"))
    duck.open()
    _fill(duck)
    _fill(pg_store)
    yield duck, pg_store
    duck.close()


def _approx(a: object, b: object) -> None:
    """Equal, floats to 1e-9 (sums may add up in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys()
        for k in a:
            _approx(a[k], b[k])
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12, nan_ok=True)
    elif hasattr(a, "__dict__") and hasattr(b, "__dict__"):
        assert type(a) is type(b)
        _approx(a.__dict__, b.__dict__)
    else:
        assert a == b


FILTERS = [
    EventFilter("m", T0, T0 + 6 * HOUR),
    EventFilter("m", T0 + HOUR, T0 + 4 * HOUR, version="v1"),
    EventFilter("m", T0, T0 + 6 * HOUR, group="A", tags=(("region", "eu"),)),
    EventFilter("r", T0, T0 + 6 * HOUR),
]


@pytest.mark.parametrize("flt", FILTERS)
def test_reads_equal_duckdb(both: tuple[DuckDBStore, PostgresStore], flt: EventFilter) -> None:
    duck, pgs = both
    for bucket in (None, HOUR):
        a = duck.aggregate(flt, bucket, ALL_PARTS)
        b = pgs.aggregate(flt, bucket, ALL_PARTS)
        assert a.keys() == b.keys()
        for k in a:
            _approx(a[k], b[k])
        sa, sb = duck.scored_rows(flt, bucket), pgs.scored_rows(flt, bucket)
        assert _scored(sa) == _scored(sb)
    _approx(duck.rolling_quantiles(flt, HOUR, 3 * HOUR), pgs.rolling_quantiles(flt, HOUR, 3 * HOUR))
    _daily_eq(duck, pgs, flt)
    cols = [
        ColumnSpec("x"),
        ColumnSpec("c", numeric=False),
        ColumnSpec("n"),
        ColumnSpec("odd key"),
        ColumnSpec("missing"),
        ColumnSpec("prediction", ROLE_PREDICTION, numeric=flt.model == "r"),
        ColumnSpec("score", ROLE_SCORE),
    ]
    other = [
        ColumnSpec("x", numeric=False),
        ColumnSpec("c"),
        ColumnSpec("prediction", ROLE_PREDICTION, numeric=flt.model != "r"),
    ]
    for columns in (cols, other):
        for bucket in (None, HOUR):
            fa = duck.window_features(flt, columns, bucket)
            fb = pgs.window_features(flt, columns, bucket)
            assert fa.rows == fb.rows
            _same_features(fa, fb, columns)
    after = duck.window_features(flt, cols, None, after_seq=2000)
    assert after.rows == pgs.window_features(flt, cols, None, after_seq=2000).rows > 0
    assert duck.feature_keys(flt, ["x", "c"]) == pgs.feature_keys(flt, ["x", "c"])


def _scored(s: ScoredRows) -> list[tuple[object, ...]]:
    cols = (s.bucket.tolist(), s.label, map(repr, s.score.tolist()), map(str, s.scores))
    return sorted(zip(*cols, strict=True))


def _daily_eq(duck: DuckDBStore, pgs: PostgresStore, flt: EventFilter) -> None:
    a, b = duck.daily_health(flt), pgs.daily_health(flt)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        _approx(x, y)


def _same_features(fa, fb, cols) -> None:  # type: ignore[no-untyped-def]
    # Rows come in no particular order: compare as sorted tuples of every column.
    def rows(fd):  # type: ignore[no-untyped-def]
        out = []
        for r in range(fd.rows):
            row = [] if fd.bucket is None else [int(fd.bucket[r])]
            for c in cols:
                d = fd.columns[c.key]
                v = d.numeric[r] if c.numeric else d.text[r]
                row += [int(d.status[r]), "nan" if v is None or v != v else repr(v)]
            out.append(tuple(row))
        return sorted(out)

    assert rows(fa) == rows(fb)


def test_models_and_counters_equal_duckdb(both: tuple[DuckDBStore, PostgresStore]) -> None:
    duck, pgs = both
    assert duck.model_names() == pgs.model_names()
    for name in ("m", "r", "none"):
        assert duck.get_model(name) == pgs.get_model(name)
    assert duck.list_models(T0 + HOUR) == pgs.list_models(T0 + HOUR)
    assert duck.last_seq() == pgs.count_all() == duck.count_all() == 6050
    bounds = (5.0, 10.0, 100.0)
    _, ca = duck.ops_counts_since(0, bounds)
    sb, cb = pgs.ops_counts_since(0, bounds)
    key = lambda c: (c.model, c.version or "")  # noqa: E731
    for x, y in zip(sorted(ca, key=key), sorted(cb, key=key), strict=True):
        _approx(x, y)
    assert pgs.ops_counts_since(sb, bounds) == (sb, [])


def test_export_equals_duckdb(both: tuple[DuckDBStore, PostgresStore], tmp_path: Path) -> None:
    duck, pgs = both
    flt = EventFilter("m", T0, T0 + 6 * HOUR)
    for fmt in ("csv", "parquet"):
        a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
        assert duck.export(flt, fmt, str(a)) == pgs.export(flt, fmt, str(b)) == 3050
        if fmt == "csv":
            assert a.read_bytes() == b.read_bytes()


def test_references_and_summaries_equal_duckdb(both: tuple[DuckDBStore, PostgresStore]) -> None:
    duck, pgs = both
    table = pa.table(
        {
            "features": [
                '{"x": 1.5, "c": "a"}',
                '{"x": "s", "c": null, "z": [1]}',
                None,
                '{"x":NaN,"c":-Infinity,"z":"NaN"}',
            ],
            "prediction": ["cat", "2", None, None],
            "prediction_num": [None, 2.0, None, None],
            "score": [0.5, None, 0.1, None],
        }
    )
    cols = [ColumnSpec("x"), ColumnSpec("c", numeric=False), ColumnSpec("z", numeric=False)]
    for store in (duck, pgs):
        rec = store.write(
            [SetReference("m", "dataset", {"file": "f"}, {"s": 1}, ReferenceRows(table))]
        )[0]
        assert rec.row_count == 4 and rec.status == "ready"
        win = store.write(
            [SetReference("r", "window", {}, {}, ReferenceWindow(T0, T0 + HOUR, version="v1"))]
        )[0]
        assert win.row_count > 0
    ra, rb = duck.reference("m"), pgs.reference("m")
    assert ra is not None and rb is not None
    assert (ra.kind, ra.spec, ra.settings, ra.row_count) == (
        rb.kind,
        rb.spec,
        rb.settings,
        rb.row_count,
    )
    assert duck.reference_kinds(ra.ref_id) == pgs.reference_kinds(rb.ref_id)
    _same_features(
        duck.reference_features(ra.ref_id, cols), pgs.reference_features(rb.ref_id, cols), cols
    )
    wa, wb = duck.reference("r"), pgs.reference("r")
    assert wa is not None and wb is not None and wa.row_count == wb.row_count
    fcols = [ColumnSpec("x"), ColumnSpec("c", numeric=False)]
    na = duck.new_event_features("m", fcols, 100, 2000, 500)
    nb = pgs.new_event_features("m", fcols, 100, 2000, 500)
    assert na.rows == nb.rows == 500 and na.last_seq == nb.last_seq == 600
    assert list(na.version) == list(nb.version) and list(na.grp) == list(nb.grp)
    assert na.bucket.tolist() == nb.bucket.tolist()  # type: ignore[union-attr]
    summary = pa.table(
        {
            "version": ["", "v1", ""],
            "grp": ["", "", "A"],
            "hour": [T0, T0, T0 + HOUR],
            "feature": ["x", "x", "c"],
            "key": ["#0", "#1", '"a"'],
            "n": [3, 4, 5],
            "lo": [0.5, None, None],
            "hi": [1.5, None, None],
        }
    )
    for store, ref in ((duck, ra), (pgs, rb)):
        assert store.write([AddDriftSummaries(ref.ref_id, summary, 10)]) == [True]
        assert store.write([AddDriftSummaries(ref.ref_id, summary, 20)]) == [True]
        assert store.write([AddDriftSummaries(ref.ref_id, summary, 15)]) == [False]
        assert store.drift_progress(ref.ref_id) == 20
    sa = duck.drift_summaries(ra.ref_id, EventFilter("m", T0, T0 + 6 * HOUR), HOUR, T0)
    sb = pgs.drift_summaries(rb.ref_id, EventFilter("m", T0, T0 + 6 * HOUR), HOUR, T0)
    assert _summary(sa) == _summary(sb) and sa.last_seq == sb.last_seq == 20


def _summary(s: SummaryRows) -> list[tuple[object, ...]]:
    cols = (s.bucket.tolist(), s.feature, s.key, s.n.tolist(), s.lo.tolist(), s.hi.tolist())
    return sorted((tuple(map(repr, row)) for row in zip(*cols, strict=True)), key=str)


def test_seq_follows_commit_order_across_stores(pg_url: str) -> None:
    """Several stores (as several processes would) insert at once: every seq is unique and a
    reader that has seen seq N has seen every event with a lower seq."""
    stores = [PostgresStore(pg_url) for _ in range(3)]
    for s in stores:
        s.open()
    stop = threading.Event()
    seen_gaps: list[str] = []

    def reader() -> None:
        last = 0
        total = 0
        with psycopg.connect(pg_url, autocommit=True) as con:
            while not stop.is_set():
                rows = con.execute(
                    "SELECT count(*), coalesce(max(seq), 0) FROM events WHERE seq > %s", [last]
                ).fetchone()
                assert rows is not None
                n, top = rows
                if n:
                    total += n
                    last = top
                    if (
                        total
                        != con.execute(
                            "SELECT count(*) FROM events WHERE seq <= %s", [last]
                        ).fetchone()[0]
                    ):  # type: ignore[index]
                        seen_gaps.append(f"at {last}")

    def writer(k: int) -> None:
        for b in range(20):
            evs = _events(200, k * 100 + b, f"w{k}", start=b * 200)
            stores[k].write([InsertEvents(to_columns(evs, T0))])

    r = threading.Thread(target=reader)
    r.start()
    ws = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    stop.set()
    r.join()
    assert not seen_gaps
    assert stores[0].count_all() == 3 * 20 * 200
    assert stores[0].last_seq() == 3 * 20 * 200
    # Each store's registry also knows the events the other stores inserted.
    for s in stores:
        info = s.get_model("w1")
        assert info is not None and info.event_count == 20 * 200
    for s in stores:
        s.close()


def test_dedup_within_and_across_writes(pg_store: PostgresStore) -> None:
    evs = _events(10, 5)
    first, second = pg_store.write(
        [InsertEvents(to_columns(evs[:6], T0)), InsertEvents(to_columns(evs[4:], T0))]
    )
    assert first.duplicate == [False] * 6
    assert second.duplicate == [True, True, False, False, False, False]
    (third,) = pg_store.write([InsertEvents(to_columns(evs[8:] + _events(1, 6, start=10), T0))])
    assert third.duplicate == [True, True, False]
    assert pg_store.count_all() == 11
    info = pg_store.get_model("m")
    assert info is not None and info.event_count == 11


def test_lost_connection_fails_the_write_then_recovers(
    pg_store: PostgresStore, pg_url: str
) -> None:
    pg_store.write([InsertEvents(to_columns(_events(5, 7), T0))])
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    # The pool notices the dead connections and replaces them; a write either succeeds on a
    # fresh connection or raises (never hangs, never half-commits).
    try:
        pg_store.write([InsertEvents(to_columns(_events(5, 8, start=5), T0))])
    except psycopg.Error:
        pg_store.write([InsertEvents(to_columns(_events(5, 8, start=5), T0))])
    assert pg_store.count_all() == 10


def test_write_on_a_stopped_server_raises(pg_url: str) -> None:
    store = PostgresStore(pg_url, timeout_s=2.0)
    store.open()
    try:
        store.write([InsertEvents(to_columns(_events(3, 9), T0))])
        other = psycopg.conninfo.make_conninfo(pg_url, dbname="postgres")
        with psycopg.connect(other, autocommit=True) as admin:
            name = str(psycopg.conninfo.conninfo_to_dict(pg_url)["dbname"])
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
            )
        with pytest.raises(Exception):  # noqa: B017 - psycopg.Error or the pool's timeout
            store.write([InsertEvents(to_columns(_events(3, 9, start=3), T0))])
    finally:
        store.close()
