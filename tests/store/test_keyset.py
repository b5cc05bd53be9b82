"""The DuckDB store's duplicate check without an index (store/duckdb_keyset.py): the key set
against a Python set, exact duplicates when fingerprints collide, the keys kept across a
reopen and retention, and the upgrade of a database whose tables had primary keys."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest

from modeltower.ingest.schema import EventIn, FeedbackIn, feedback_columns, to_columns
from modeltower.store import duckdb_keyset
from modeltower.store.base import (
    PART_OPS,
    EnforceRetention,
    EventFilter,
    InsertEvents,
    UpsertFeedback,
)
from modeltower.store.duckdb_schema import MIGRATIONS, migrate
from modeltower.store.duckdb_store import DuckDBStore

T0 = 1_700_000_000_000_000
HOUR = 3_600_000_000


def test_key_set_answers_as_a_set_through_merges() -> None:
    rng = np.random.default_rng(3)
    keys = duckdb_keyset.KeySet()
    seen: set[int] = set()
    for step in range(40):
        # batches of varying size, some repeating earlier values; merges happen on the way
        n = int(rng.integers(1, 20_000))
        batch = rng.integers(0, 2**63, n, dtype=np.uint64)
        if seen and step % 3 == 0:
            batch[: n // 4] = rng.choice(np.fromiter(seen, np.uint64), n // 4)
        probe = np.concatenate([batch, rng.integers(0, 2**63, 500, dtype=np.uint64)])
        want = np.array([int(x) in seen for x in probe])
        assert (keys.contains(probe) == want).all(), step
        keys.add(np.unique(batch[~keys.contains(batch)]))
        seen.update(int(x) for x in batch)
        assert len(keys) == len(seen)
    assert keys.nbytes == 8 * len(seen)


def test_fingerprints_computed_here_equal_duckdbs() -> None:
    """Small batches are hashed in Python, large ones by DuckDB: the same fingerprints, which
    are also the low bits of the stored key that the set is loaded from."""
    con = duckdb.connect()
    n = duckdb_keyset.PYTHON_MAX_ROWS + 7
    models = ["m", "churn", "ünï", "x" * 300, "", "日本"] * (n // 6 + 1)
    ids = [f"{i}-é" if i % 3 else str(i) for i in range(len(models))]
    models, ids = models[:n], ids[:n]
    batch = pa.table({"model": models, "id": ids})
    by_duckdb = duckdb_keyset.batch_fingerprints(con, batch, models, ids)
    from_keys = con.execute(
        f"SELECT {duckdb_keyset.FINGERPRINT} AS f FROM "
        "(SELECT md5_number(model || chr(0) || id) AS k FROM batch)"
    ).fetchnumpy()["f"]
    here = duckdb_keyset.fingerprints(models, ids)
    small = duckdb_keyset.batch_fingerprints(con, batch.slice(0, 50), models[:50], ids[:50])
    assert by_duckdb.dtype == here.dtype == small.dtype == np.uint64
    assert (by_duckdb == here).all()
    assert (from_keys == here).all()
    assert (small == here[:50]).all()
    assert len(set(here.tolist())) == len(set(zip(models, ids, strict=True)))


def test_key_set_stays_sorted_when_batches_are_merged_in() -> None:
    rng = np.random.default_rng(5)
    keys = duckdb_keyset.KeySet()
    added = []
    for _ in range(30):
        batch = rng.integers(0, 2**63, int(rng.integers(1, 9_000)), dtype=np.uint64) * 2
        keys.add(batch)
        added.append(batch)
    assert sum(len(p) for p in keys._parts) > 0  # a fold into the large arrays happened
    for part, piece in enumerate(keys._parts):
        assert (piece[1:] >= piece[:-1]).all()
        assert ((piece >> np.uint64(60)) == part).all()  # each part holds its top bits only
    assert (keys._recent[1:] >= keys._recent[:-1]).all()
    stored = np.concatenate([*keys._parts, keys._recent])
    assert sorted(stored.tolist()) == sorted(np.concatenate(added).tolist())


def _u64(values: list[int]) -> npt.NDArray[np.uint64]:
    return np.array([np.uint64(v) for v in values], dtype=np.uint64)


def test_key_set_loads_into_its_parts_and_finds_the_edges() -> None:
    """The parts split at multiples of 2^60: keys on both sides of each cut are found, after a
    load (streamed in batches smaller than the table) and after a fold."""
    cuts = [c << 60 for c in range(1, 16)]
    rng = np.random.default_rng(9)
    rand = rng.integers(0, 2**63, 5_000, dtype=np.uint64) * 2  # even: never one of the misses
    fps = _u64([0, 2**64 - 1, *(c + d for c in cuts for d in (-1, 0, 1))])
    con = duckdb.connect()
    con.execute("CREATE TABLE events (k UHUGEINT)")
    con.register("stored", pa.table({"f": pa.array(np.concatenate([fps, rand]), pa.uint64())}))
    con.execute("INSERT INTO events SELECT f::UHUGEINT + (7::UHUGEINT << 64) FROM stored")
    keys = duckdb_keyset.KeySet()
    original = duckdb_keyset._LOAD_ROWS
    duckdb_keyset._LOAD_ROWS = 1_000
    try:
        keys.load(con)
    finally:
        duckdb_keyset._LOAD_ROWS = original
    assert len(keys) == len(fps) + len(rand) and keys.nbytes == 8 * len(keys)
    assert keys.contains(fps).all() and keys.contains(rand).all()
    assert not keys.contains(_u64([c + 7 for c in cuts])).any()  # next to the cuts, not stored
    later = _u64([(c << 60) + 3 for c in range(16)])
    assert not keys.contains(later).any()
    keys.add(later)
    for _ in range(3):  # past the fold threshold: the recent ones go into the parts
        keys.add(rng.integers(0, 2**63, 30_000, dtype=np.uint64) * 2)
    assert len(keys._recent) == 0
    assert keys.contains(later).all() and keys.contains(fps).all()


def _events(ids: list[str], ts: int = T0, model: str = "m") -> InsertEvents:
    evs = [
        EventIn(model=model, id=i, timestamp=ts / 1e6, prediction="a", latency_ms=1.0) for i in ids
    ]
    return InsertEvents(to_columns(evs, ts))


def _stored(store: DuckDBStore) -> list[tuple[str, str]]:
    with store.reader() as cur:
        rows = cur.execute("SELECT model, id FROM events ORDER BY seq").fetchall()
    return [(str(m), str(i)) for m, i in rows]


@pytest.fixture
def store(tmp_path: Path) -> DuckDBStore:
    s = DuckDBStore(str(tmp_path / "k.duckdb"))
    s.open()
    return s


def test_retries_are_duplicates_and_collisions_are_checked_exactly(store: DuckDBStore) -> None:
    (first,) = store.write([_events(["a", "b", "c"])])
    assert first.duplicate == [False, False, False]
    (again,) = store.write([_events(["b", "d", "a"])])
    assert again.duplicate == [True, False, True]
    # a key set that matches everything (as a fingerprint collision would): the exact check
    # keeps new keys, drops only stored ones
    store._keys.contains = lambda fps: np.ones(len(fps), dtype=np.bool_)  # type: ignore[method-assign]
    (res,) = store.write([_events(["c", "f", "g"])])
    assert res.duplicate == [True, False, False]
    assert _stored(store) == [("m", x) for x in "abcdfg"]
    store.close()


def test_keys_survive_a_reopen_and_retention_forgets_expired_ones(tmp_path: Path) -> None:
    path = str(tmp_path / "r.duckdb")
    store = DuckDBStore(path)
    store.open()
    store.write([_events(["old1", "old2"], ts=T0), _events(["new1"], ts=T0 + 48 * HOUR)])
    store.close()
    store = DuckDBStore(path)
    store.open()
    (res,) = store.write([_events(["old1", "new1", "x"], ts=T0 + 49 * HOUR)])
    assert res.duplicate == [True, True, False]
    assert len(store._keys) == 4
    # events before T0 + 24 h expire: their keys leave the set, and the ids may come again
    store.write([EnforceRetention(raw_before_us=T0 + 24 * HOUR, rollups_before_us=0)])
    assert len(store._keys) == 2
    (res,) = store.write([_events(["old2"], ts=T0 + 50 * HOUR)])
    assert res.duplicate == [False]
    assert store.count_all() == 3
    # a few expired among many: their fingerprints stay for now, and an expired id that comes
    # again is told apart by the exact check
    store.write([_events([f"m{i}" for i in range(30)], ts=T0 + 60 * HOUR)])
    store.write([EnforceRetention(raw_before_us=T0 + 55 * HOUR, rollups_before_us=0)])
    assert store.count_all() == 30 and len(store._keys) == 33
    (res,) = store.write([_events(["x", "m3", "m30"], ts=T0 + 61 * HOUR)])
    assert res.duplicate == [False, True, False]
    assert store.count_all() == 32
    store.close()


def test_feedback_upsert_without_a_key_keeps_the_fields_not_sent(store: DuckDBStore) -> None:
    store.write([_events(["a", "b"])])

    def send(**fields: object) -> None:
        fb = [FeedbackIn(model="m", id="a", **fields)]  # type: ignore[arg-type]
        store.write([UpsertFeedback(feedback_columns(fb))])

    send(label="x")
    send(revenue=2.5)
    send(converted=True, label="y")
    with store.reader() as cur:
        rows = cur.execute("SELECT id, label, converted, revenue FROM feedback").fetchall()
    assert rows == [("a", "y", True, 2.5)]
    flt = EventFilter("m", T0 - HOUR, T0 + HOUR)
    assert store.aggregate(flt, None, frozenset({PART_OPS}))[0].count == 2


def test_a_database_with_primary_keys_is_rebuilt_without_them(tmp_path: Path) -> None:
    path = str(tmp_path / "v10.duckdb")
    con = duckdb.connect(path)
    for version, ddl in MIGRATIONS:
        if version <= 10:
            con.execute(ddl)
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER, applied_at BIGINT)")
    con.executemany(
        "INSERT INTO schema_migrations VALUES (?, 0)", [[v] for v, _ in MIGRATIONS if v <= 10]
    )
    for n, i in enumerate(["e1", "e2", "e3"]):
        con.execute(
            "INSERT INTO events (k, seq, model, id, ts, received_at, prediction) "
            "VALUES (md5_number('m' || chr(0) || ?), ?, 'm', ?, ?, ?, 'a')",
            [i, n + 1, i, T0, T0],
        )
    con.execute(
        "INSERT INTO feedback VALUES (md5_number('m' || chr(0) || 'e2'), 'm', 'e2', 'b', NULL, "
        "NULL, NULL, 0)"
    )
    pks = con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
        "AND table_name IN ('events', 'feedback')"
    ).fetchall()
    assert pks == [(2,)]
    con.close()
    store = DuckDBStore(path)
    store.open()
    with store.reader() as cur:
        constraints = cur.execute(
            "SELECT table_name, constraint_type FROM duckdb_constraints() "
            "WHERE table_name IN ('events', 'feedback') AND constraint_type <> 'NOT NULL'"
        ).fetchall()
        labels = cur.execute("SELECT id, label FROM feedback").fetchall()
    assert constraints == []
    assert labels == [("e2", "b")]
    assert _stored(store) == [("m", "e1"), ("m", "e2"), ("m", "e3")]
    (res,) = store.write([_events(["e3", "e4"])])
    assert res.duplicate == [True, False]
    store.close()
    con = duckdb.connect(path)
    assert migrate(con) == MIGRATIONS[-1][0]
    con.close()
