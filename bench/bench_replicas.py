"""Batched ingest on PostgreSQL with one and with three ``serve`` processes on one database.

Starts a PostgreSQL server the way the tests do (``MODELTOWER_TEST_DATABASE_URL`` or a
throw-away cluster, see tests/pg.py), then for 1 and 3 replicas: a fresh database, the replicas,
and ``--clients`` threads posting ``--batch`` events per request round-robin over the replicas for
``--seconds``. Reports acknowledged events/s and the ratio of three replicas to one (the baseline
of the same run), and checks that every acknowledged event is stored once.

    .venv/bin/python bench/bench_replicas.py [--seconds 10] [--clients 6] [--batch 1000]
        [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.pg

from tests import pg

from modeltower.testing import ServerProcess


def _batch(start: int, n: int) -> list[dict[str, object]]:
    now = time.time()
    return [
        {
            "model": "bench",
            "id": f"e{start + i}",
            "timestamp": now,
            "prediction": "1",
            "label": "1",
            "latency_ms": 12.5,
            "features": {"x": (start + i) % 97, "plan": "pro"},
        }
        for i in range(n)
    ]


def run(replicas: int, seconds: float, clients: int, batch: int) -> float:
    server = pg.server()
    url = server.create_database()
    with tempfile.TemporaryDirectory() as tmp:
        procs = [
            ServerProcess(Path(tmp) / f"r{i}.duckdb", database_url=url).start()
            for i in range(replicas)
        ]
        try:
            counter = itertools.count()
            acked = [0] * clients
            stop = time.monotonic() + seconds

            def client(k: int) -> None:
                with httpx.Client(timeout=30) as http:
                    for n in itertools.count():
                        if time.monotonic() >= stop:
                            return
                        target = procs[(k + n) % replicas]
                        start = next(counter) * batch
                        r = http.post(target.url + "/v1/events", json=_batch(start, batch))
                        if r.status_code == 200:
                            acked[k] += batch

            threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - t0
            with psycopg.connect(url) as con:
                row = con.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
            assert row is not None and row[0] == row[1] >= sum(acked), (row, sum(acked))
            return sum(acked) / elapsed
        finally:
            for p in procs:
                p.stop()
            server.drop_database(url)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--json", help="also write the figures to this file (bench/run_all.py)")
    a = p.parse_args()
    one = run(1, a.seconds, a.clients, a.batch)
    three = run(3, a.seconds, a.clients, a.batch)
    print(f"PostgreSQL batched ingest, {a.batch} events per request, {a.clients} clients")
    print(f"  1 replica : {one:10,.0f} events/s  (baseline)")
    print(f"  3 replicas: {three:10,.0f} events/s  ratio {three / one:.2f}")
    if a.json:
        figures = {"one": one, "three": three, "args": vars(a)}
        Path(a.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
