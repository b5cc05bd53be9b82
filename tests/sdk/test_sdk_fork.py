"""Fork safety: a child gets a fresh queue, lock, thread and id prefix (real HTTP, real fork)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from .receiver import Receiver, Reply, sdk_client

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _wait_child(pid: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)  # a deadlocked child must fail the test, not hang it
    os.waitpid(pid, 0)
    raise AssertionError("child did not finish: deadlock after fork?")


@pytest.mark.parametrize("parent_busy", [False, True])
def test_child_logs_and_flushes_after_fork(parent_busy: bool) -> None:
    with Receiver() as r, sdk_client(r.url, flush_interval=60) as c:
        # Not busy: the fork comes right after the first log() started the sender thread (this
        # once deadlocked the child: httpx imported modules lazily on that thread).
        parent_ids = [c.log(prediction=0) for _ in range(50)]
        if parent_busy:  # fork while the sender is inside a slow request (locks in use)
            r.script(Reply(200, delay=0.5))
            c.flush(0)
            assert r.wait_for(lambda: c.stats()["queued"] == 0)
        pid = os.fork()
        if pid == 0:  # child: never return into pytest
            code = 1
            try:
                st = c.stats()
                ids = [c.log(prediction=1, tags={"who": "child"}) for _ in range(20)]
                ok = c.flush(10)
                fresh = st["queued"] == 0 and st["sent"] == 0
                code = (
                    0
                    if ok and fresh and c.stats()["sent"] == 20 and ids[0] not in parent_ids
                    else 2
                )
            finally:
                os._exit(code)
        assert _wait_child(pid) == 0
        assert c.flush(10)
        got = r.accepted()
        child = [e for e in got if e.get("tags") == {"who": "child"}]
        parent = [e for e in got if "tags" not in e]
        assert len(child) == 20 and len(parent) == 50
        assert {e["id"] for e in parent} == set(parent_ids)
        assert not {e["id"] for e in child} & set(parent_ids)
        assert c.stats()["sent"] == 50  # the child's counters are its own
