"""Real server processes: the refused public bind, the keys CLI (on the database and over HTTP)
and the SDK with an ingest key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from modeltower.sdk import Client
from modeltower.testing import ServerProcess

pytestmark = pytest.mark.slow


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MODELTOWER_")}
    return subprocess.run(
        [sys.executable, "-m", "modeltower", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _target(srv: ServerProcess) -> list[str]:
    """Where the CLI works directly: the server's PostgreSQL database or its DuckDB file."""
    return ["--database-url", srv.database_url] if srv.database_url else ["--db", srv.db_path]


def test_public_bind_without_auth_is_refused(tmp_path: Path, backend: str) -> None:
    srv = ServerProcess(tmp_path / "open.duckdb", args=["--host", "0.0.0.0"])
    with pytest.raises(
        RuntimeError, match=r"refusing to serve on 0\.0\.0\.0 without authentication"
    ):
        srv.start(timeout=60)
    assert srv.proc is not None and srv.proc.returncode == 2


def test_insecure_no_auth_serves_with_a_warning(tmp_path: Path, backend: str) -> None:
    args = ["--host", "0.0.0.0", "--insecure-no-auth"]
    with ServerProcess(tmp_path / "insecure.duckdb", args=args) as srv:
        assert httpx.get(srv.url + "/v1/models").status_code == 200
    assert "WITHOUT authentication (--insecure-no-auth)" in srv.log()


def test_keys_cli_bootstrap_http_and_sdk(tmp_path: Path, backend: str) -> None:
    srv = ServerProcess(tmp_path / "keys.duckdb", args=["--host", "0.0.0.0"])
    made = _cli("keys", "create", "--scope", "admin", "--name", "boot", *_target(srv))
    assert made.returncode == 0, made.stderr
    admin = made.stdout.splitlines()[0]
    assert admin.startswith("mtk_") and "not shown again" in made.stdout
    with srv:  # an admin key exists: the public bind is allowed
        assert httpx.get(srv.url + "/v1/models").status_code == 401
        assert httpx.get(srv.url + "/healthz").status_code == 200
        http = ["--url", srv.url, "--api-key", admin]
        made = _cli("keys", "create", "--scope", "ingest", "--name", "serving", *http)
        assert made.returncode == 0, made.stderr
        ingest = made.stdout.splitlines()[0]
        listed = _cli("keys", "list", *http)
        assert listed.returncode == 0 and "serving" in listed.stdout and "boot" in listed.stdout
        assert ingest not in listed.stdout and admin not in listed.stdout
        denied = _cli("keys", "list", "--url", srv.url, "--api-key", ingest)
        assert denied.returncode == 1 and "HTTP 403" in denied.stderr
        if not srv.database_url:  # DuckDB: one process per file
            locked = _cli("keys", "list", *_target(srv))
            assert locked.returncode == 1 and "in use by another process" in locked.stderr
        # the seed-compatible endpoints take the key in a header
        log = {"model_name": "m", "input_data": "x", "prediction": "a", "latency_ms": 3.0}
        assert httpx.post(srv.url + "/log", json=log).status_code == 401
        r = httpx.post(srv.url + "/log", json=log, headers={"X-API-Key": ingest})
        assert r.status_code == 200
        assert httpx.get(srv.url + "/metrics/m", headers={"X-API-Key": ingest}).status_code == 403
        r = httpx.get(srv.url + "/metrics/m", headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200 and r.json()["total_predictions"] == 1
        # the SDK sends its api_key as a bearer token
        sdk = Client(srv.url, "m", api_key=ingest, flush_interval=0.05)
        sdk.log("a", label="a", latency_ms=1.0)
        assert sdk.flush(10) and sdk.close()
        assert sdk.stats()["sent"] == 1
        wrong = Client(srv.url, "m", api_key="mtk_000000000000_" + "z" * 43, max_retries=0)
        wrong.log("a")
        wrong.flush(10)
        wrong.close()
        assert wrong.stats()["sent"] == 0
        revoked = _cli("keys", "revoke", "serving", *http)
        assert revoked.returncode == 0 and "revoked key 'serving'" in revoked.stdout
        assert (
            httpx.post(srv.url + "/log", json=log, headers={"X-API-Key": ingest}).status_code == 401
        )
