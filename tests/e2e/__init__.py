"""End-to-end durability tests against a real server process, and the small helpers they share.

The load generators use :class:`RawConn`, a minimal HTTP/1.1 keep-alive client on a plain socket:
on a 2-core machine the server and dozens of client threads share the CPU, and httpx costs about
as much CPU per request as the server does.
"""

from __future__ import annotations

import io
import socket
import time
from collections import Counter

import httpx
import orjson
import pyarrow.parquet as pq


class RawConn:
    """One keep-alive connection; reconnects lazily. Transport failures raise ``OSError``."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._file: io.BufferedReader | None = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._file = None

    def post_json(self, path: str, payload: object) -> tuple[int, dict[str, object]]:
        """POST ``payload`` as JSON; the status and the decoded JSON answer."""
        body = orjson.dumps(payload)
        if self._sock is None:
            self._sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._file = self._sock.makefile("rb")
        assert self._file is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            self._sock.sendall(head + body)
            status_line = self._file.readline()
            if not status_line:
                raise ConnectionResetError("connection closed before a response")
            status = int(status_line.split()[1])
            length: int | None = None
            close = False
            while True:
                line = self._file.readline()
                if not line:
                    raise ConnectionResetError("connection closed inside the response headers")
                if line == b"\r\n":
                    break
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            data = self._file.read(length) if length is not None else self._file.read()
            if length is not None and len(data) != length:
                raise ConnectionResetError("connection closed inside the response body")
        except (OSError, ValueError, IndexError) as exc:
            self.close()
            if isinstance(exc, OSError):
                raise
            raise ConnectionResetError(f"garbled response: {exc}") from exc
        if close or length is None:
            self.close()
        return status, (orjson.loads(data) if data else {})


def export_ids(url: str, model: str) -> list[str]:
    """Every stored event id of ``model``, via the parquet export (with repeats, if any)."""
    resp = httpx.get(f"{url}/v1/models/{model}/export", params={"format": "parquet"}, timeout=60)
    assert resp.status_code == 200, resp.text
    table = pq.read_table(io.BytesIO(resp.content), columns=["id"])
    return [str(x) for x in table.column("id").to_pylist()]


def metrics_count(url: str, model: str, start_s: float, end_s: float) -> int:
    """``count`` of GET /v1/models/{model}/metrics over [start_s, end_s) (epoch seconds)."""
    resp = httpx.get(
        f"{url}/v1/models/{model}/metrics",
        params={"start": str(int(start_s)), "end": str(int(end_s) + 1)},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return int(resp.json()["count"])


def repeated(ids: list[str]) -> dict[str, int]:
    """Ids that occur more than once, with their counts."""
    return {k: n for k, n in Counter(ids).items() if n > 1}


def wait_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline``."""
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)
