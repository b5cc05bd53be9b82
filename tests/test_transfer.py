"""Import/export against a real ``modeltower serve`` process (no mocks)."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modeltower.transfer import (
    ImportReport,
    TransferError,
    _to_event,
    detect_format,
    run_export,
    run_import,
)

# History: ten days ago, one event a minute. Far enough back that no default window hides it.
T0 = time.time() - 10 * 86_400
ALL_TIME = {"start": "2020-01-01T00:00:00Z", "end": str(int(time.time() + 3600))}

StartServer = Callable[..., str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServer]:
    """Factory starting ``python -m modeltower serve`` on a free port with a fresh database."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> str:
        port = _free_port()
        db = tmp_path_factory.mktemp("db") / "mt.duckdb"
        # A developer's MODELTOWER_* settings (API key, demo) must not leak into the test server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELTOWER_")}
        log = open(db.parent / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
        cmd = [sys.executable, "-m", "modeltower", "serve", "--db", str(db)]
        cmd += ["--host", "127.0.0.1", "--port", str(port), *extra]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(db.parent / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy within 60 s")

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(start_server: StartServer) -> str:
    return start_server()


def _count(url: str, model: str) -> int:
    resp = httpx.get(f"{url}/v1/models/{model}/metrics", params=ALL_TIME, timeout=30)
    resp.raise_for_status()
    return int(resp.json()["count"])


def _event(i: int) -> dict[str, Any]:
    """The i-th good event of a test file (flat, CSV-style column names)."""
    return {
        "id": f"ev-{i:05d}",
        "timestamp": T0 + 60 * i,
        "prediction": "churn" if i % 3 == 0 else "stay",
        "score": round((i % 10) / 10 + 0.05, 2),
        "label": "churn" if i % 4 == 0 else "stay",
        "latency_ms": 10.0 + i % 50,
        "tag.region": ["eu", "us"][i % 2],
        "feature.tenure": i % 72,
        "plan": ["basic", "pro"][i % 2],
    }


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> list[int]:
    """Write ``rows``; return the physical line each row starts on (header is line 1)."""
    columns = list(rows[0])
    lines: list[int] = []
    line = 1
    with open(path, "w", newline="") as f:
        f.write(",".join(columns) + "\n")
        for row in rows:
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerow([row.get(c, "") for c in columns])
            text = buf.getvalue()
            line += 1
            lines.append(line)
            line += text.count("\n") - 1  # a quoted value with a newline spans several lines
            f.write(text)
    return lines


def test_detect_format() -> None:
    assert detect_format("a/b.CSV") == "csv"
    assert detect_format("x.parquet") == "parquet"
    assert detect_format("x.ndjson.gz") == "jsonl"
    assert detect_format("x.json") == "jsonl"
    assert detect_format("x.txt", "ndjson") == "jsonl"
    with pytest.raises(TransferError):
        detect_format("x.txt")


def test_row_mapping() -> None:
    """Event-named columns, tag./feature. prefixes, other columns as features, nulls."""
    raw = {
        "id": "007",
        "timestamp": "2024-01-02 03:04:05",
        "prediction": "1.0",
        "ground_truth": "true",
        "score": '{"a": 0.25, "b": 0.75}',
        "latency_ms": "12.5",
        "converted": "yes",
        "error": None,
        "tag.region": "eu",
        "tag.empty": None,
        "feature.count": "3",
        "feature.missing": None,
        "ratio": "0.5",
        "model": "m",
    }
    event = _to_event(raw, from_text=True, model="m", version="v1")
    assert event == {
        "model": "m",
        "id": "007",  # ids stay text: leading zeros matter
        "timestamp": 1704164645.0,  # naive times are UTC
        "prediction": 1.0,
        "ground_truth": True,
        "score": {"a": 0.25, "b": 0.75},
        "latency_ms": 12.5,
        "converted": True,
        "version": "v1",
        "features": {"count": 3, "missing": None, "ratio": 0.5},
        "tags": {"region": "eu"},
    }
    refused = _to_event({"model": "x"}, from_text=True, model="m", version=None)
    assert isinstance(refused, tuple) and refused[0] == "model"
    typed = {"version": "v2", "x": float("nan"), "features": {"y": 1}, "tags": {"t": "a"}}
    assert _to_event(typed, from_text=False, model="m", version="v1") == {
        "model": "m",
        "version": "v2",
        "features": {"x": None, "y": 1},
        "tags": {"t": "a"},
    }


def test_csv_import_reports_bad_lines_and_exports(server: str, tmp_path: Path) -> None:
    model = "csv-model"
    rows = [_event(i) for i in range(300)]
    rows[10]["plan"] = "multi\nline"  # shifts every later row down one physical line
    rows[37]["latency_ms"] = "abc"
    rows[120]["latency_ms"] = -5
    rows[150]["prediction"] = ""  # no prediction and no error: refused by the server
    rows[151]["plan"] = ""  # an empty feature cell is kept as null, not a problem
    rows[299]["latency_ms"] = "abc"  # last row of the last (partial) batch
    path = tmp_path / "events.csv"
    lines = _write_csv(path, rows)
    assert lines[11] == 14  # sanity check of the line bookkeeping

    out = io.StringIO()
    report = run_import(str(path), model=model, url=server, batch_size=64, progress=True, out=out)
    bad = {37, 120, 150, 299}
    assert report.rows_read == 300
    assert report.accepted == 296 and report.duplicates == 0
    assert {line for line, _, _ in report.rejected} == {lines[i] for i in bad}
    by_line = {line: (fld, reason) for line, fld, reason in report.rejected}
    assert by_line[lines[37]][0] == "latency_ms"
    assert by_line[lines[120]][0] == "latency_ms"
    assert by_line[lines[150]][0] == "prediction"
    assert _count(server, model) == 296
    assert "row" in out.getvalue()  # the progress bar went to ``out``

    # Importing again stores nothing new: the server deduplicates by id.
    again = run_import(str(path), model=model, url=server, progress=False)
    assert again.accepted == 0 and again.duplicates == 296
    assert _count(server, model) == 296

    good_ids = {rows[i]["id"] for i in range(300) if i not in bad}
    csv_out = tmp_path / "out.csv"
    n = run_export(model=model, url=server, fmt="csv", out_path=str(csv_out), **ALL_TIME)
    assert n == csv_out.stat().st_size > 0
    df = pd.read_csv(csv_out)
    assert len(df) == 296 and set(df["id"]) == good_ids
    pq_out = tmp_path / "out.parquet"
    n = run_export(model=model, url=server, fmt="parquet", out_path=str(pq_out))
    table = pq.read_table(pq_out)
    assert n == pq_out.stat().st_size
    assert table.num_rows == 296 and set(table.column("id").to_pylist()) == good_ids
    exported = {r["id"]: r for r in table.to_pylist()}
    assert exported["ev-00151"]["feature.plan"] is None
    assert exported["ev-00151"]["feature.tenure"] == 151 % 72
    assert exported["ev-00010"]["feature.plan"] == "multi\nline"
    assert exported["ev-00003"]["tag.region"] == "us"

    # An export imports back unchanged (its feature./tag. columns are understood).
    for name, fmt in (("copy-from-csv", csv_out), ("copy-from-parquet", pq_out)):
        copy = run_import(str(fmt), model=name, url=server, progress=False)
        assert (copy.accepted, copy.rejected) == (296, [])
        again_out = tmp_path / f"{name}.parquet"
        run_export(model=name, url=server, fmt="parquet", out_path=str(again_out))
        assert pq.read_table(again_out).drop(["timestamp"]).equals(table.drop(["timestamp"]))


def test_parquet_import(server: str, tmp_path: Path) -> None:
    model = "parquet-model"
    n = 250
    ts = pa.array([int((T0 + 60 * i) * 1e6) for i in range(n)], pa.timestamp("us", tz="UTC"))
    latency = [float(i % 40) for i in range(n)]
    latency[4] = -1.0  # row 5
    score = [0.5] * n
    score[199] = 1.5  # row 200: not a probability
    income = [float(i) if i % 7 else float("nan") for i in range(n)]  # NaN is a missing value
    table = pa.table(
        {
            "id": [f"pq-{i}" for i in range(n)],
            "model": [model] * n,
            "version": ["v1"] * n,
            "timestamp": ts,
            "prediction": [float(i) for i in range(n)],
            "ground_truth": [float(i) + 0.5 for i in range(n)],
            "score": score,
            "latency_ms": latency,
            "income": income,
            "tag.team": ["a"] * n,
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(table, path, row_group_size=100)
    report = run_import(str(path), model=model, url=server, batch_size=100, progress=False)
    assert report.rows_read == n
    assert sorted(line for line, _, _ in report.rejected) == [5, 200]
    assert {fld for _, fld, _ in report.rejected} == {"latency_ms", "score"}
    assert report.accepted == n - 2
    assert _count(server, model) == n - 2
    out = tmp_path / "back.parquet"
    run_export(model=model, url=server, fmt="parquet", out_path=str(out), version="v1", **ALL_TIME)
    back = pq.read_table(out)
    assert back.num_rows == n - 2
    assert "pq-4" not in set(back.column("id").to_pylist())


def test_jsonl_import(server: str, tmp_path: Path) -> None:
    model = "jsonl-model"
    lines: list[str] = []
    expected_bad: dict[int, str] = {}
    good: set[str] = set()
    for i in range(120):
        if i == 30:
            lines.append('{"id": "broken", "prediction": ')  # truncated JSON
            expected_bad[len(lines)] = ""
            continue
        if i == 31:
            lines.append("")  # blank lines are skipped but still count for line numbers
        ev: dict[str, Any] = {
            "id": f"js-{i}",
            "timestamp": T0 + 60 * i,
            "prediction": i % 2 == 0,
            "features": {"x": i, "y": None},
            "tags": {"env": "prod"},
            "feature.z": "q",
        }
        if i == 50:
            ev["latency_ms"] = "abc"
            expected_bad[len(lines) + 1] = "latency_ms"
        elif i == 60:
            ev["model"] = "someone-else"
            expected_bad[len(lines) + 1] = "model"
        elif i == 70:
            ev["timestamp"] = "2021-03-04T05:06:07Z"  # ISO timestamps are fine
            good.add(ev["id"])
        else:
            good.add(ev["id"])
        lines.append(json.dumps(ev))
    lines.append("[1, 2]")  # valid JSON but not an object
    expected_bad[len(lines)] = ""
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")

    report = run_import(str(path), model=model, url=server, version="v9", progress=False)
    assert report.rows_read == 121
    assert {line: fld for line, fld, _ in report.rejected} == expected_bad
    assert report.accepted == len(good)
    assert _count(server, model) == len(good)
    out = tmp_path / "back.csv"
    run_export(model=model, url=server, fmt="csv", out_path=str(out), **ALL_TIME)
    df = pd.read_csv(out)
    assert set(df["id"]) == good
    assert set(df["version"]) == {"v9"}


def test_split_when_body_too_large(start_server: StartServer, tmp_path: Path) -> None:
    """A 413 halves the batch until it fits; nothing is lost."""
    url = start_server("--max-body-bytes", "20000")
    path = tmp_path / "events.csv"
    _write_csv(path, [_event(i) for i in range(400)])
    report = run_import(str(path), model="split-model", url=url, batch_size=400, progress=False)
    assert isinstance(report, ImportReport)
    assert (report.accepted, report.rejected) == (400, [])
    assert _count(url, "split-model") == 400


def test_export_errors_carry_server_message(server: str, tmp_path: Path) -> None:
    out = tmp_path / "none.csv"
    with pytest.raises(TransferError, match="unknown model 'nope'"):
        run_export(model="nope", url=server, fmt="csv", out_path=str(out))
    assert not out.exists() and not Path(f"{out}.part").exists()
    with pytest.raises(TransferError, match="window"):
        run_export(model="csv-model", url=server, fmt="csv", out_path=str(out), window="forever")
