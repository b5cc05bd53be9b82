"""The DuckDB writer's cost per commit, in process, against a plain insert of the same rows.

``DuckDBStore.write`` is timed (CPU time of the calling thread, and wall time) for groups of
decoded requests as the writer thread commits them: 32 single-event requests (what 64
connections of single events give per commit) and 4 requests of 1,000 events. Each group is
timed on a fresh store and on one whose key set holds 10M fingerprints, 156k of them recent, as
in a store of 10M events (the set is filled directly: building 10M events takes minutes).

Baseline, same run: the same rows (the Arrow table the store builds) inserted into a plain table
of the events' columns, one INSERT and one COMMIT per group, with no dedup and no rollups.

    .venv/bin/python bench/bench_writer.py [--commits 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

import _common as c
from modeltower.ingest.decoding import body_to_columns
from modeltower.ingest.limits import Limits
from modeltower.ingest.schema import EventColumns
from modeltower.store import duckdb_keyset
from modeltower.store.base import InsertEvents
from modeltower.store.duckdb_store import DuckDBStore

CASES = (("32 requests of 1 event", 1, 32), ("4 requests of 1,000 events", 1000, 4))
BIG_KEYS, RECENT_KEYS = 10_000_000, 156_000


def groups(events: int, requests: int, commits: int, tag: str) -> list[list[InsertEvents]]:
    tpl = c.make_template("bench-writer", events, seed=1)
    lim = Limits()
    now = int(time.time() * 1_000_000)
    return [
        [
            InsertEvents(body_to_columns(tpl.body(f"{tag}r{r}x{j}"), False, lim, 10_000, now))
            for j in range(requests)
        ]
        for r in range(commits + 1)
    ]


def fill_keys(store: DuckDBStore) -> None:
    rng = np.random.default_rng(1)
    big = np.sort(rng.integers(0, 2**63, BIG_KEYS, dtype=np.int64).astype(np.uint64))
    if hasattr(duckdb_keyset, "PARTS"):
        store._keys._parts = [p.copy() for p in duckdb_keyset._split(big)]
    else:  # the key set of releases before it had parts (for A/B runs with BENCH_SRC)
        store._keys._base = big
    store._keys._recent = np.sort(rng.integers(0, 2**63, RECENT_KEYS, dtype=np.int64)).astype(
        np.uint64
    )


def time_store(work: list[list[InsertEvents]], big_keys: bool, wd: str) -> tuple[float, float]:
    store = DuckDBStore(os.path.join(wd, f"w{time.monotonic_ns()}.duckdb"))
    store.open()
    try:
        if big_keys:
            fill_keys(store)
        store.write(work[0])  # warm: the first statements plan and allocate
        cpu, wall = [], []
        for group in work[1:]:
            w0, c0 = time.perf_counter(), time.thread_time()
            store.write(group)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.thread_time() - c0)
        return 1000 * statistics.median(cpu), 1000 * statistics.median(wall)
    finally:
        store.close()


def time_plain(work: list[list[InsertEvents]], wd: str) -> tuple[float, float]:
    con = duckdb.connect(os.path.join(wd, f"p{time.monotonic_ns()}.duckdb"))
    tables = []
    for group in work:
        merged = EventColumns()
        for op in group:
            merged.extend(op.columns)
        tables.append(DuckDBStore._event_table(merged, int(time.time() * 1_000_000)))
    # ``rows`` is read by its name by the SQL (a replacement scan, as the store reads its tables)
    rows = tables[0]
    con.execute("CREATE TABLE events AS SELECT * FROM rows LIMIT 0")
    cpu, wall = [], []
    for i, rows in enumerate(tables):  # noqa: B007
        w0, c0 = time.perf_counter(), time.thread_time()
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO events SELECT * FROM rows")
        con.execute("COMMIT")
        if i:  # the first one warms up, as for the store
            wall.append(time.perf_counter() - w0)
            cpu.append(time.thread_time() - c0)
    con.close()
    return 1000 * statistics.median(cpu), 1000 * statistics.median(wall)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--commits", type=int, default=100, help="timed commits per case")
    ap.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="mt-bench-writer-") as wd:
        for name, events, requests in CASES:
            work = groups(events, requests, args.commits, name[:2])
            base_cpu, base_wall = time_plain(work, wd)
            for big in (False, True):
                cpu, wall = time_store(work, big, wd)
                rows.append(
                    {
                        "commit": name,
                        "key set": f"{BIG_KEYS // 1_000_000}M keys" if big else "fresh",
                        "cpu_ms": cpu,
                        "wall_ms": wall,
                        "baseline_cpu_ms": base_cpu,
                        "baseline_wall_ms": base_wall,
                        "ratio": cpu / base_cpu,
                    }
                )
    print(
        f"DuckDBStore.write per commit, median of {args.commits}; baseline: the same rows, one "
        "INSERT + COMMIT into a plain table"
    )
    head = f"{'commit':28} {'key set':>9} {'CPU ms':>8} {'wall ms':>8} {'base CPU':>9} {'ratio':>6}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['commit']:28} {r['key set']:>9} {r['cpu_ms']:8.2f} {r['wall_ms']:8.2f} "
            f"{r['baseline_cpu_ms']:9.2f} {r['ratio']:5.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps({"commits": args.commits, "rows": rows}, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
