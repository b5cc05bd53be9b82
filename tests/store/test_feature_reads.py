"""The drift job's read of new events' features (duckdb_features.new_event_features) on a
DuckDB store whose memory cap is far below the size of the features it reads."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from modeltower.ingest.schema import EventIn, to_columns
from modeltower.store.base import ColumnSpec, InsertEvents
from modeltower.store.duckdb_store import DuckDBStore

T0 = 1_790_000_000_000_000
N = 60_000
NUM = [f"feature_{j}" for j in range(12)]
CAT = [f"cat_{j}" for j in range(4)]


def _events(start: int, n: int, rng: random.Random) -> InsertEvents:
    evs = []
    for i in range(start, start + n):
        feats: dict[str, float | str] = {k: float(i) + rng.random() / 2 for k in NUM}
        feats |= {k: f"value-{rng.randrange(50)}-of-a-long-category-name" for k in CAT}
        evs.append(
            EventIn(model="m", id=f"e{i}", timestamp=T0 / 1e6 + i, prediction="x", features=feats)
        )
    return InsertEvents(to_columns(evs, T0))


def test_batches_of_new_events_are_read_in_seq_order_under_a_small_memory_cap(
    tmp_path: Path,
) -> None:
    # 60,000 events of 16 features each are about 40 MB of JSON. An ORDER BY seq LIMIT over
    # the features themselves failed here with "Out of Memory" under 32MB (and under 96MB for
    # the drift job on a freshly written month).
    store = DuckDBStore(str(tmp_path / "f.duckdb"), memory_limit="32MB")
    store.open()
    rng = random.Random(3)
    try:
        for b in range(0, N, 10_000):
            store.write([_events(b, 10_000, rng)])
        specs = [ColumnSpec(k) for k in NUM] + [ColumnSpec(k, numeric=False) for k in CAT]
        top = store.last_seq()
        with store.reader() as cur:
            seqs = np.array(
                [r[0] for r in cur.execute("SELECT seq FROM events ORDER BY seq").fetchall()]
            )
        assert len(seqs) == N
        seen: list[np.ndarray] = []
        progress = 0
        while progress < top:
            data = store.new_event_features("m", specs, progress, top, 25_000)
            assert data.rows == min(25_000, N - sum(len(s) for s in seen))
            col = data.columns[f"feature:{NUM[0]}"].numeric
            assert col is not None
            values = np.sort(col)
            # the first 25,000 events after ``progress``, whatever order they come in
            expect = np.arange(len(seen) * 25_000, len(seen) * 25_000 + data.rows)
            assert np.array_equal(np.floor(values), expect)
            assert data.last_seq == seqs[len(seen) * 25_000 + data.rows - 1]
            text = data.columns[f"feature:{CAT[0]}"].text
            assert text is not None
            assert set(text) <= {f'"value-{k}-of-a-long-category-name"' for k in range(50)}
            seen.append(values)
            progress = data.last_seq
        assert len(seen) == 3
    finally:
        store.close()
