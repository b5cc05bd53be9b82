"""A real server process: ``serve --snapshot-interval`` and ``modeltower export --daily``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from modeltower.cli import main
from modeltower.testing import ServerProcess

from .test_daily import DAY, DAY0, assert_same, expected_table, traffic


def test_real_server_snapshots_daily_export_and_metrics(tmp_path: Path) -> None:
    events, feedback = traffic()
    now = int(time.time())
    recent = [
        {"model": "shop", "id": f"now{i}", "version": "v1", "prediction": "stay",
         "label": "stay", "latency_ms": 12.5, "timestamp": now - 120}
        for i in range(10)
    ]  # fmt: skip
    with ServerProcess(tmp_path / "s.duckdb", args=["--snapshot-interval", "0.3"]) as server:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.post("/v1/events", json=events + recent).status_code == 200
            assert c.post("/v1/feedback", json=feedback).status_code == 200
            deadline = time.monotonic() + 20
            snaps: list[dict[str, object]] = []
            while time.monotonic() < deadline and len({s["created_at"] for s in snaps}) < 2:
                time.sleep(0.1)
                snaps = c.get("/v1/models/shop/snapshots", params={"version": "v1"}).json()[
                    "snapshots"
                ]
            assert len({s["created_at"] for s in snaps}) >= 2, server.log()
            assert all(s["total_predictions"] == 10 and s["accuracy"] == 1.0 for s in snaps)
            text = c.get("/metrics").text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            assert "modeltower_predictions" in families
        args = ["--url", server.url, "--model", "shop", "--daily"]
        window = ["--start", str(DAY0), "--end", str(DAY0 + 3 * DAY)]
        for fmt in ("csv", "parquet"):
            out = tmp_path / f"daily.{fmt}"
            assert main(["export", *args, *window, "--format", fmt, "--out", str(out)]) == 0
            table = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
            assert_same(table, expected_table(events, feedback))
