"""Batching by size and by time, flush, close, feedback, headers and ids (real HTTP)."""

from __future__ import annotations

import time

from modeltower.sdk import Client

from .receiver import Receiver, sdk_client


def test_batches_by_size_before_the_interval() -> None:
    with Receiver() as r, sdk_client(r.url, batch_size=100, flush_interval=60) as c:
        for i in range(250):
            c.log(prediction=i % 2, id=f"e{i}")
        assert r.wait_for(lambda: len(r.posts()) == 2, timeout=5)
        time.sleep(0.3)  # the remaining 50 wait for the interval (60 s) or a flush
        assert [len(p.body) for p in r.posts()] == [100, 100]
        assert c.flush(5)
        assert [len(p.body) for p in r.posts()] == [100, 100, 50]
        assert [e["id"] for e in r.accepted()] == [f"e{i}" for i in range(250)]
        assert c.stats()["sent"] == 250


def test_batches_by_time() -> None:
    with Receiver() as r, sdk_client(r.url, batch_size=500, flush_interval=0.3) as c:
        t0 = time.monotonic()
        for i in range(5):
            c.log(prediction=i)
        assert r.wait_for(lambda: len(r.accepted()) == 5, timeout=3)
        assert time.monotonic() - t0 < 1.5
        assert len(r.posts()) == 1  # one request for the five events


def test_event_wire_format_and_headers() -> None:
    with Receiver() as r, sdk_client(r.url, api_key="s3cret") as c:
        eid = c.log(
            prediction="yes", score={"yes": 0.8, "no": 0.2}, label="no", latency_ms=12.5,
            features={"age": 42, "city": "Oslo", "vip": True, "gap": None}, tags={"region": "eu"},
            timestamp=1_700_000_000.5, group="B", converted=True, revenue=9.99,
        )  # fmt: skip
        assert c.flush(5)
        post = r.posts()[0]
        assert post.headers["Content-Type"] == "application/json"
        assert post.headers["Authorization"] == "Bearer s3cret"
        assert post.body == [{
            "model": "churn", "id": eid, "version": "v3", "timestamp": 1_700_000_000.5,
            "prediction": "yes", "score": {"yes": 0.8, "no": 0.2}, "label": "no",
            "features": {"age": 42, "city": "Oslo", "vip": True, "gap": None},
            "tags": {"region": "eu"}, "latency_ms": 12.5, "group": "B", "converted": True,
            "revenue": 9.99,
        }]  # fmt: skip


def test_no_auth_header_without_api_key() -> None:
    with Receiver() as r, sdk_client(r.url) as c:
        c.log(prediction=1)
        assert c.flush(5)
        assert "Authorization" not in r.posts()[0].headers


def test_generated_ids_are_unique_and_returned() -> None:
    with Receiver() as r, sdk_client(r.url) as c:
        ids = [c.log(prediction=1) for _ in range(5000)]
        assert len(set(ids)) == 5000
        assert all(isinstance(i, str) and len(i) == 32 for i in ids)
        assert c.log(prediction=1, id=123) == "123"
        assert c.flush(5)
        assert [e["id"] for e in r.accepted()] == [*ids, "123"]


def test_feedback_is_batched_to_its_endpoint() -> None:
    with Receiver() as r, sdk_client(r.url) as c:
        ids = [c.log(prediction=1) for _ in range(10)]
        for i in ids[:4]:
            c.feedback(i, label=0)
        c.feedback(ids[4], converted=True, revenue=3.5)
        c.feedback(ids[5])  # nothing to say: invalid, not sent
        assert c.flush(5)
        fb = r.accepted("/v1/feedback")
        assert len(r.posts("/v1/feedback")) == 1
        assert fb[:4] == [{"model": "churn", "id": i, "label": 0} for i in ids[:4]]
        assert fb[4] == {"model": "churn", "id": ids[4], "converted": True, "revenue": 3.5}
        assert len(fb) == 5
        assert c.stats()["sent"] == 15 and c.stats()["invalid"] == 1


def test_flush_is_bounded_while_producers_keep_logging() -> None:
    with Receiver() as r, sdk_client(r.url, flush_interval=60) as c:
        for _ in range(1000):
            c.log(prediction=1)
        t0 = time.monotonic()
        assert c.flush(5)
        assert time.monotonic() - t0 < 5
        assert len(r.accepted()) >= 1000


def test_flush_on_idle_client_is_immediate() -> None:
    c = Client("http://127.0.0.1:9", model="m")
    assert c.flush(0.1) is True
    assert c.close(0.1) is True


def test_close_sends_everything_then_drops_later_logs() -> None:
    with Receiver() as r:
        c = Client(r.url, model="m", flush_interval=60)
        for i in range(7):
            c.log(prediction=i)
        assert c.close(timeout=5) is True
        assert len(r.accepted()) == 7
        eid = c.log(prediction=1)  # closed: counted, not raised, not sent
        assert isinstance(eid, str) and eid
        c.feedback(eid, label=1)
        assert c.flush(1) is True
        assert c.stats()["dropped"] == 2
        assert c.close() is True  # idempotent
