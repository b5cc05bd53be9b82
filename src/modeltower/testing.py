"""Run a real modeltower server process on a loopback port (for tests, benchmarks and demos)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``python -m modeltower serve`` in a child process; a context manager.

    ``kill()`` sends SIGKILL (no shutdown code runs: a crash), ``stop()`` SIGTERM (a clean stop).
    With ``database_url`` the server stores in that PostgreSQL database instead of ``db_path``.
    """

    # The tests run every server on PostgreSQL too: when set, this names the database that
    # stands for ``db_path`` (the same path, e.g. a restart, gives the same database).
    database_for: ClassVar[Callable[[str], str] | None] = None

    def __init__(
        self,
        db_path: str | Path,
        *,
        port: int | None = None,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        log_path: str | Path | None = None,
        database_url: str | None = None,
    ) -> None:
        self.db_path = str(db_path)
        if database_url is None and ServerProcess.database_for is not None:
            database_url = ServerProcess.database_for(self.db_path)
        self.database_url = database_url
        self.port = port or free_port()
        self.args = list(args)
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("MODELTOWER_")}
        self.env = {**base, **(env or {})}
        self.log_path = Path(log_path) if log_path else Path(self.db_path + f".{self.port}.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start the process and wait until it answers /healthz."""
        cmd = [
            sys.executable,
            "-m",
            "modeltower",
            "serve",
            "--db",
            self.db_path,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *(["--database-url", self.database_url] if self.database_url else []),
            *self.args,
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not become ready in {timeout} s: {self.log()}")

    def log(self) -> str:
        """What the server printed so far."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait for a clean shutdown (SIGKILL if it does not come)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
