"""Retries (429 + Retry-After, 5xx, refused connections), permanent errors, 422 and 413."""

from __future__ import annotations

import email.utils
import logging
import time

import pytest

from .receiver import Receiver, Reply, Request, free_port, sdk_client


def test_429_honours_retry_after_seconds() -> None:
    with Receiver() as r, sdk_client(r.url) as c:
        r.script(Reply(429, {"detail": "slow down"}, {"Retry-After": "1"}))
        for i in range(3):
            c.log(prediction=i)
        assert c.flush(10)
        first, second = r.posts()
        assert (first.status, second.status) == (429, 200)
        assert second.at - first.at >= 1.0
        assert second.body == first.body  # same events, same ids: the server dedups
        assert c.stats()["retries"] == 1 and c.stats()["sent"] == 3


def test_429_honours_retry_after_http_date() -> None:
    with Receiver() as r, sdk_client(r.url) as c:
        when = email.utils.formatdate(time.time() + 2, usegmt=True)  # 1 s resolution
        r.script(Reply(429, {"detail": "slow down"}, {"Retry-After": when}))
        c.log(prediction=1)
        assert c.flush(10)
        first, second = r.posts()
        assert second.at - first.at >= 1.0


def test_retries_503_and_500_then_succeeds() -> None:
    with Receiver() as r, sdk_client(r.url) as c:
        r.script(Reply(503, {"detail": "busy"}), Reply(500, {"detail": "oops"}),
                 Reply(502, {"detail": "gw"}))  # fmt: skip
        c.log(prediction=1)
        assert c.flush(10)
        assert [p.status for p in r.posts()] == [503, 500, 502, 200]
        assert c.stats()["retries"] == 3 and c.stats()["sent"] == 1


def test_connection_refused_until_the_server_starts() -> None:
    port = free_port()
    with sdk_client(f"http://127.0.0.1:{port}", backoff_base=0.2) as c:
        ids = [c.log(prediction=i) for i in range(3)]
        c.flush(0)  # kick the sender now rather than after the 1 s interval
        time.sleep(0.5)  # it is now retrying against a closed port
        assert c.stats()["retries"] >= 1
        with Receiver(port) as r:
            assert c.flush(20)
            assert [e["id"] for e in r.accepted()] == ids
        assert c.stats()["sent"] == 3 and c.stats()["failed"] == 0


def test_gives_up_after_max_retries() -> None:
    with sdk_client(f"http://127.0.0.1:{free_port()}", max_retries=2) as c:
        c.log(prediction=1)
        t0 = time.monotonic()
        assert c.flush(5)  # handled: given up
        assert time.monotonic() - t0 < 5
        s = c.stats()
        assert s["failed"] == 1 and s["retries"] == 2 and s["sent"] == 0


@pytest.mark.parametrize("status", [400, 401, 404, 413])
def test_permanent_errors_are_not_retried(status: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="modeltower.sdk")
    with Receiver() as r, sdk_client(r.url) as c:
        r.script(Reply(status, {"detail": f"reason-{status}"}))
        c.log(prediction=1)
        assert c.flush(5)
        time.sleep(0.2)
        assert len(r.posts()) == 1
        assert c.stats()["rejected"] == 1 and c.stats()["retries"] == 0
        assert f"reason-{status}" in caplog.text
        assert all(rec.name == "modeltower.sdk" for rec in caplog.records)


def test_413_on_a_batch_splits_it_in_halves() -> None:
    with Receiver() as r, sdk_client(r.url) as c:
        r.script(Reply(413, {"detail": "too big"}))
        for i in range(4):
            c.log(prediction=i)
        assert c.flush(5)
        assert [len(p.body) for p in r.posts()] == [4, 2, 2]
        assert c.stats()["sent"] == 4 and c.stats()["rejected"] == 0


def _reject(indices: list[int]) -> Reply:
    errors = [{"index": i, "field": "latency_ms", "reason": "must be >= 0"} for i in indices]
    return Reply(422, {"detail": {"message": "invalid batch", "errors": errors}})


def test_422_drops_only_the_named_events_and_resends_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="modeltower.sdk")
    with Receiver() as r, sdk_client(r.url) as c:
        r.script(lambda req: _reject([1, 3]))
        ids = [c.log(prediction=i) for i in range(5)]
        assert c.flush(5)
        first, second = r.posts()
        assert first.status == 422 and second.status == 200
        assert [e["id"] for e in second.body] == [ids[0], ids[2], ids[4]]
        s = c.stats()
        assert s["rejected"] == 2 and s["sent"] == 3 and s["retries"] == 0
        assert "latency_ms" in caplog.text and "must be >= 0" in caplog.text


def test_422_on_the_resend_rejects_it_without_looping() -> None:
    with Receiver() as r, sdk_client(r.url) as c:
        r.script(_reject([0]), _reject([0]))
        for i in range(3):
            c.log(prediction=i)
        assert c.flush(5)
        time.sleep(0.2)
        assert [len(p.body) for p in r.posts()] == [3, 2]
        assert c.stats()["rejected"] == 3 and c.stats()["sent"] == 0


def test_422_without_usable_indices_rejects_the_batch() -> None:
    with Receiver() as r, sdk_client(r.url) as c:
        r.script(Reply(422, {"detail": "nope"}))
        c.log(prediction=1)
        c.log(prediction=2)
        assert c.flush(5)
        assert len(r.posts()) == 1 and c.stats()["rejected"] == 2


def test_close_is_bounded_while_retrying() -> None:
    with Receiver() as r:
        r.script(*[Reply(503, {"detail": "down"}, {"Retry-After": "30"})] * 3)
        from modeltower.sdk import Client

        c = Client(r.url, model="m")
        c.log(prediction=1)
        assert r.wait_for(lambda: len(r.posts()) == 1)
        t0 = time.monotonic()
        assert c.close(timeout=0.5) is False
        assert time.monotonic() - t0 < 2.0
        assert r.wait_for(lambda: c.stats()["failed"] == 1, timeout=1)  # the in-flight batch
        assert len(r.posts()) == 1


def _slow(req: Request) -> Reply:
    return Reply(200, delay=0.5)


def test_timeout_is_retried() -> None:
    with Receiver() as r, sdk_client(r.url, timeout=0.2) as c:
        r.script(_slow)
        c.log(prediction=1)
        assert c.flush(10)
        assert c.stats()["retries"] >= 1 and c.stats()["sent"] == 1
