"""The single writer: group commit, per-request results, backlog bound, shutdown."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import wait
from pathlib import Path

import pytest

from modeltower.ingest.schema import EventIn, to_columns
from modeltower.ingest.writer import Writer, WriterUnavailable
from modeltower.store.base import InsertEvents, InsertResult
from modeltower.store.duckdb_store import DuckDBStore


def _op(model: str, ids: list[str]) -> InsertEvents:
    events = [EventIn(model=model, id=i, prediction="a", latency_ms=1.0) for i in ids]
    return InsertEvents(to_columns(events, 1_700_000_000_000_000))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    s = DuckDBStore(str(tmp_path / "w.duckdb"))
    s.open()
    yield s
    s.close()


def test_concurrent_requests_share_commits_and_get_their_own_results(store: DuckDBStore) -> None:
    writer = Writer(store)
    writer.start()
    futures = [writer.submit(_op("m", [f"r{i}", f"shared-{i % 10}"])) for i in range(300)]
    wait(futures, timeout=30)
    writer.stop()
    results: list[InsertResult] = [f.result() for f in futures]
    # Every request learns exactly its own ids; the first claim of a shared id wins.
    for i, res in enumerate(results):
        assert res.ids == [f"r{i}", f"shared-{i % 10}"]
        assert res.duplicate == [False, i >= 10]
    assert store.count_all() == 300 + 10
    # Group commit: far fewer transactions than requests.
    assert writer.commits < 300


def test_duplicate_of_an_already_committed_event_is_reported_not_stored(store: DuckDBStore) -> None:
    writer = Writer(store)
    writer.start()
    first = writer.submit(_op("m", ["a", "b"])).result(10)
    second = writer.submit(_op("m", ["b", "c"])).result(10)
    writer.stop()
    assert first.duplicate == [False, False]
    assert second.duplicate == [True, False]
    assert store.count_all() == 3
    # The same id under another model is another event.
    assert store.get_model("m") is not None


def test_backlog_bound_refuses_instead_of_growing(store: DuckDBStore) -> None:
    writer = Writer(store, max_pending_events=5)
    # Not started yet would refuse everything; start, then saturate before the thread drains.
    writer.start()
    futures = [writer.submit(_op("m", [f"x{i}-{j}" for j in range(3)])) for i in range(50)]
    wait(futures, timeout=30)
    writer.stop()
    refused = [f for f in futures if f.exception() is not None]
    stored = [f for f in futures if f.exception() is None]
    assert refused, "a backlog of 150 events over a bound of 5 must refuse some requests"
    assert all(isinstance(f.exception(), WriterUnavailable) for f in refused)
    assert store.count_all() == 3 * len(stored)
    assert writer.pending_events == 0


def test_stopped_writer_refuses_and_nothing_queued_is_lost(store: DuckDBStore) -> None:
    writer = Writer(store)
    writer.start()
    futures = [writer.submit(_op("m", [f"s{i}"])) for i in range(100)]
    writer.stop()
    assert all(f.done() for f in futures)
    acknowledged = sum(1 for f in futures if f.exception() is None)
    assert acknowledged == 100  # queued before stop: committed, not dropped
    late = writer.submit(_op("m", ["late"]))
    with pytest.raises(WriterUnavailable):
        late.result(1)
    assert store.count_all() == 100
