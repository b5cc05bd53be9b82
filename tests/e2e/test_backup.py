"""``modeltower backup`` / ``modeltower restore``: consistent while clients write, verified on
restore, refused when damaged; on PostgreSQL the API points to pg_dump.

Spec: "`modeltower backup --out DIR` and `modeltower restore DIR` for the embedded store
(consistent while the server runs)". Consistent means: the copy is one committed state — every
event acknowledged before the backup started is in it, every request is in it whole or not at
all, and each client's requests are in it up to some point (commit order), never with a gap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from modeltower.testing import ServerProcess

from . import RawConn, export_ids, metrics_count, repeated

pytestmark = pytest.mark.slow

MODEL = "bak"
CLIENTS = 4


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modeltower", *args], capture_output=True, text=True, timeout=300
    )


class _Writer(threading.Thread):
    """Posts batches of 20 events, one after the other; remembers each batch and its answer."""

    def __init__(self, index: int, port: int) -> None:
        super().__init__(daemon=True)
        self.index, self.port = index, port
        self.stop = threading.Event()
        self.batches: list[list[str]] = []
        self.acked_at: list[float] = []  # monotonic time of each batch's 2xx

    def run(self) -> None:
        conn = RawConn(self.port)
        try:
            while not self.stop.is_set():
                k = len(self.batches)
                ids = [f"w{self.index}-{k:05d}-{j:02d}" for j in range(20)]
                batch = [
                    {"model": MODEL, "id": i, "prediction": "a" if j % 3 else "b", "label": "a",
                     "latency_ms": float(j), "tags": {"w": str(self.index)}}
                    for j, i in enumerate(ids)
                ]  # fmt: skip
                self.batches.append(ids)
                status, _ = conn.post_json("/v1/events", batch)
                assert status == 200
                self.acked_at.append(time.monotonic())
        finally:
            conn.close()


def _metrics(url: str) -> dict[str, object]:
    r = httpx.get(f"{url}/v1/models/{MODEL}/metrics", params={"window": "30d"}, timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_backup_while_clients_write_restores_one_committed_state(
    tmp_path: Path, backend: str
) -> None:
    db = tmp_path / "db.duckdb"
    out = tmp_path / "backup"
    with ServerProcess(db, log_path=tmp_path / "server.log") as server:
        if backend == "postgres":
            r = httpx.post(server.url + "/v1/admin/backup", timeout=30)
            assert r.status_code == 501 and "pg_dump" in r.text, r.text
            done = _cli("backup", "--out", str(out), "--url", server.url)
            assert done.returncode == 1 and "pg_dump" in done.stderr, done
            return
        writers = [_Writer(i, server.port) for i in range(CLIENTS)]
        for w in writers:
            w.start()
        time.sleep(2.0)
        started = time.monotonic()
        done = _cli("backup", "--out", str(out), "--url", server.url)
        finished = time.monotonic()
        time.sleep(0.5)  # writes go on after the backup
        for w in writers:
            w.stop.set()
        for w in writers:
            w.join(30)
        assert done.returncode == 0, done.stderr
        original_ids = export_ids(server.url, MODEL)
    manifest = json.loads((out / "manifest.json").read_text())

    restored = tmp_path / "restored.duckdb"
    done = _cli("restore", str(out), "--db", str(restored))
    assert done.returncode == 0, done.stderr
    again = _cli("restore", str(out), "--db", str(restored))
    assert again.returncode == 1 and "--force" in again.stderr, again
    with ServerProcess(restored, log_path=tmp_path / "restored.log") as server:
        ids = export_ids(server.url, MODEL)
        count = metrics_count(server.url, MODEL, time.time() - 3600, time.time() + 60)
    assert not repeated(ids)
    have = set(ids)
    assert count == len(ids) == manifest["counts"]["events"]
    assert len(have) < len(original_ids), "the writes after the backup are not in it"
    for w in writers:
        present = [all(i in have for i in b) for b in w.batches]
        partial = [b[0] for b in w.batches if 0 < sum(i in have for i in b) < len(b)]
        assert not partial, f"requests in the backup in part: {partial[:5]}"
        # Acknowledged before the backup started: in it. Commit order: a prefix, no gap.
        before = sum(t < started for t in w.acked_at)
        assert all(present[:before])
        last = max((k for k, p in enumerate(present) if p), default=-1)
        assert all(present[: last + 1]), "a gap in a client's requests"
        after = sum(t < finished for t in w.acked_at)
        assert last + 1 <= after + 1
    print(
        f"\nbackup while {CLIENTS} clients wrote: {len(ids)} of {len(original_ids)} events in it; "
        f"took {finished - started:.2f} s (CLI included)"
    )


def test_offline_backup_restores_the_same_answers_and_a_damaged_one_is_refused(
    tmp_path: Path, backend: str
) -> None:
    if backend == "postgres":  # --db is a DuckDB file: nothing of PostgreSQL to back up here
        done = _cli("backup", "--out", str(tmp_path / "b"), "--db", str(tmp_path / "none.duckdb"))
        assert done.returncode == 1 and "no database file" in done.stderr
        return
    db = tmp_path / "db.duckdb"
    with ServerProcess(db, log_path=tmp_path / "server.log") as server:
        conn = RawConn(server.port)
        for k in range(20):
            batch = [
                {"model": MODEL, "id": f"o{k}-{j}", "prediction": "a" if (j + k) % 3 else "b",
                 "label": "a" if j % 4 else "b", "latency_ms": float(j + k)}
                for j in range(50)
            ]  # fmt: skip
            assert conn.post_json("/v1/events", batch)[0] == 200
        conn.close()
        before = _metrics(server.url)
        ids_before = sorted(export_ids(server.url, MODEL))
    out = tmp_path / "backup"
    done = _cli("backup", "--out", str(out), "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert _cli("backup", "--out", str(out), "--db", str(db)).returncode == 1  # not empty

    restored = tmp_path / "restored.duckdb"
    assert _cli("restore", str(out), "--db", str(restored)).returncode == 0
    with ServerProcess(restored, log_path=tmp_path / "restored.log") as server:
        after = _metrics(server.url)
        assert sorted(export_ids(server.url, MODEL)) == ids_before
        # Not even --force replaces a database a running server has open.
        busy = _cli("restore", str(out), "--db", str(restored), "--force")
        assert busy.returncode == 1 and "in use" in busy.stderr, busy
    for volatile in ("window", "start", "end", "generated_at"):
        before.pop(volatile, None)
        after.pop(volatile, None)
    assert after == before

    # One flipped byte: refused by its checksum, and nothing is written.
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for f in out.iterdir():
        (damaged / f.name).write_bytes(f.read_bytes())
    data = bytearray((damaged / "modeltower.duckdb").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (damaged / "modeltower.duckdb").write_bytes(bytes(data))
    target = tmp_path / "from-damaged.duckdb"
    done = _cli("restore", str(damaged), "--db", str(target))
    assert done.returncode == 1 and "damaged" in done.stderr, done
    assert not target.exists()
    # A manifest that does not match the tables is refused too (checksums recomputed to match).
    (damaged / "modeltower.duckdb").write_bytes((out / "modeltower.duckdb").read_bytes())
    manifest = json.loads((damaged / "manifest.json").read_text())
    manifest["counts"]["events"] += 1
    (damaged / "manifest.json").write_text(json.dumps(manifest))
    done = _cli("restore", str(damaged), "--db", str(target))
    assert done.returncode == 1 and "do not hold what the manifest says" in done.stderr, done
    assert not target.exists()
