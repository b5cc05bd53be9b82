"""``modeltower reference`` against a real server process, and drift kept up by its job."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from modeltower.testing import ServerProcess


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modeltower", *args], capture_output=True, text=True, timeout=60
    )


def test_reference_set_show_delete_and_the_drift_job(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "cli.duckdb", args=["--drift-interval", "0.2"]) as srv:
        now = time.time()
        events = [
            {
                "model": "m",
                "id": f"e{i}",
                "timestamp": now - 600 + i,
                "prediction": i % 2,
                "features": {"x": float(i % 50) + (20.0 if i >= 250 else 0.0), "c": "ab"[i % 2]},
            }
            for i in range(500)
        ]
        assert httpx.post(f"{srv.url}/v1/events", json=events).status_code == 200
        ref = tmp_path / "ref.parquet"
        pq.write_table(
            pa.table(
                {"x": [float(i % 50) for i in range(300)], "c": ["ab"[i % 2] for i in range(300)]}
            ),
            ref,
        )
        r = _cli("reference", "set", "--model", "m", str(ref), "--url", srv.url)
        assert r.returncode == 0, r.stderr
        assert "dataset, 300 rows, ready" in r.stdout and "numeric" in r.stdout
        rows = tmp_path / "ref.json"
        rows.write_text(json.dumps([{"x": 1.0, "c": "a"}, {"x": 2.0, "c": "b"}]))
        r = _cli("reference", "set", "--model", "m", str(rows), "--url", srv.url)
        assert r.returncode == 0 and "2 rows" in r.stdout, r.stdout + r.stderr
        r = _cli("reference", "set", "--model", "m", "--first", "250s", "--url", srv.url)
        assert r.returncode == 0 and "window, 250 rows, ready" in r.stdout, r.stdout + r.stderr
        r = _cli("reference", "show", "--model", "m", "--url", srv.url)
        assert r.returncode == 0 and "window" in r.stdout
        # the job summarizes the stored events; the trend shows the change in the second half
        deadline = time.time() + 30
        while True:
            t = httpx.get(
                f"{srv.url}/v1/models/m/drift/timeseries", params={"window": "2h", "columns": "x"}
            ).json()
            if sum(t["count"]) == 500 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert sum(t["count"]) == 500
        d = httpx.get(f"{srv.url}/v1/models/m/drift", params={"window": "2h"}).json()
        x = next(c for c in d["columns"] if c["name"] == "x")
        assert x["drift"] is True and d["rows"]["current"] == 500
        r = _cli("reference", "set", "--model", "m", "--url", srv.url)
        assert r.returncode == 1 and "give a FILE" in r.stderr
        r = _cli("reference", "set", "--model", "m", "--first", "soon", "--url", srv.url)
        assert r.returncode == 1 and "first" in r.stderr
        r = _cli("reference", "delete", "--model", "m", "--url", srv.url)
        assert r.returncode == 0
        r = _cli("reference", "show", "--model", "m", "--url", srv.url)
        assert r.returncode == 1 and "no drift reference" in r.stderr
