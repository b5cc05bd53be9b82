"""Three server processes on one PostgreSQL database: any takes events and answers queries, the
periodic jobs run once across the group, and a replica killed mid-way loses nothing."""

from __future__ import annotations

import base64
import itertools
import threading
import time
from pathlib import Path

import httpx
import psycopg
from standardwebhooks.webhooks import Webhook
from tests.alerts.receivers import Receiver, receiver

from modeltower.testing import ServerProcess

__all__ = ["receiver"]

SECRET = "whsec_" + base64.b64encode(b"replica-test-secret-of-32-bytes!").decode()
RULES = """
channels:
  hook: {type: webhook, url: "${HOOK_URL}", secret: "${HOOK_SECRET}"}
rules:
  - {name: replica-accuracy, model: m, metric: accuracy, window: 1h, op: "<", threshold: 0.8,
     min_samples: 50, severity: critical, channels: [hook]}
"""


def _batch(start: int, n: int) -> list[dict[str, object]]:
    now = time.time()
    return [
        {
            "model": "m",
            "id": f"e{start + i}",
            "timestamp": now - 60 + (start + i) % 50,
            "prediction": "1",
            "label": "1" if (start + i) % 2 else "0",  # accuracy 0.5: the rule fires
            "latency_ms": 10.0,
        }
        for i in range(n)
    ]


def test_three_replicas_share_load_survive_a_kill_and_notify_once(
    tmp_path: Path, pg_url: str, receiver: Receiver
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    env = {"HOOK_URL": receiver.url("/hook"), "HOOK_SECRET": SECRET}
    args = ["--rules", str(rules), "--alert-interval", "0.5"]
    replicas = [
        ServerProcess(tmp_path / f"r{i}.duckdb", database_url=pg_url, args=args, env=env).start()
        for i in range(3)
    ]
    try:
        r = httpx.put(
            replicas[0].url + "/v1/models/m", json={"task": "classification", "positive_label": "1"}
        )
        assert r.status_code == 200, r.text
        acked: set[str] = set()
        lock = threading.Lock()
        alive = [True, True, True]
        counter = itertools.count()

        def client(worker: int) -> None:
            with httpx.Client(timeout=10) as http:
                for _ in range(20):
                    start = next(counter) * 50
                    batch = _batch(start, 50)
                    for attempt in range(6):  # a refused replica: the next one takes the batch
                        k = (worker + attempt) % 3
                        if not alive[k]:
                            continue
                        try:
                            resp = http.post(replicas[k].url + "/v1/events", json=batch)
                        except httpx.HTTPError:
                            continue
                        if resp.status_code == 200:
                            with lock:
                                acked.update(str(e["id"]) for e in batch)
                            break

        threads = [threading.Thread(target=client, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        alive[1] = False
        replicas[1].kill()  # mid-way, under load
        for t in threads:
            t.join(120)
        assert len(acked) >= 2000
        with psycopg.connect(pg_url) as con:
            rows = con.execute("SELECT id FROM events WHERE model = 'm'").fetchall()
        stored = [r[0] for r in rows]
        assert len(stored) == len(set(stored)), "an event was stored twice"
        assert acked <= set(stored), f"{len(acked - set(stored))} acknowledged events lost"
        # any replica answers, with the same numbers
        counts = {
            httpx.get(s.url + "/v1/models/m/metrics", params={"window": "1h"}).json()["count"]
            for k, s in enumerate(replicas)
            if alive[k]
        }
        assert counts == {len(stored)}
        # the alert fires once, and exactly one notification arrives, whichever replica leads
        got = receiver.wait_for(1, "/hook", timeout=30)
        time.sleep(3.0)  # several evaluations by every live replica: nothing more may come
        got = receiver.requests("/hook")
        assert len(got) == 1, [g.headers.get("webhook-id") for g in got]
        assert Webhook(SECRET).verify(got[0].body, got[0].headers)["data"]["kind"] == "firing"
        # killing a replica hands its jobs over: evaluation goes on, nobody re-notifies
        replicas[0].kill()
        alive[0] = False
        survivor = replicas[2]
        seen: set[str] = set()
        deadline = time.monotonic() + 30
        while len(seen) < 3 and time.monotonic() < deadline:
            at = httpx.get(survivor.url + "/v1/alerts").json()["evaluated_at"]
            if at:
                seen.add(at)
            time.sleep(0.2)
        assert len(seen) >= 3, "the survivor did not take over the evaluation"
        time.sleep(2.0)
        assert len(receiver.requests("/hook")) == 1
    finally:
        for s in replicas:
            s.kill()
