"""A real HTTP receiver for notification tests: records every request, answers from a script.

``Receiver`` listens on 127.0.0.1 (an ephemeral port) in a thread. Each path has a queue of
scripted replies, answered in order, then a default reply; every request is recorded with its
arrival time, so tests can check order, spacing and signatures of what was actually sent.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

# (status, headers) or (status, headers, body)
Reply = tuple[int, dict[str, str]] | tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.time() at arrival

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)


class Receiver:
    """The server; use as a context manager or through the ``receiver`` fixture."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Reply]] = {}
        self._defaults: dict[str, Reply] = {}
        self._received: list[Received] = []
        self._arrived = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        """The full URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, replies: Iterable[Reply], default: Reply = (200, {})) -> None:
        """Answer requests to ``path`` with ``replies`` in order, then always with ``default``."""
        with self._lock:
            self._scripts[path] = deque(replies)
            self._defaults[path] = default

    def requests(self, path: str | None = None) -> list[Received]:
        """What arrived (at ``path``, or anywhere), in arrival order."""
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 10.0
    ) -> list[Received]:
        """Block until ``count`` requests arrived (at ``path``); fails the test on timeout."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                got = [r for r in self._received if path is None or r.path == path]
                left = deadline - time.monotonic()
                if len(got) >= count or left <= 0:
                    break
                self._arrived.wait(left)
        assert len(got) >= count, f"{len(got)} of {count} requests arrived at {path or '*'}"
        return got

    def _reply(self, path: str) -> Reply:
        with self._lock:
            queue = self._scripts.get(path)
            if queue:
                return queue.popleft()
            return self._defaults.get(path, (200, {}))

    def _record(self, request: Received) -> None:
        with self._arrived:
            self._received.append(request)
            self._arrived.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver._record(Received("POST", self.path, headers, body, time.time()))
                reply = receiver._reply(self.path)
                status, extra = reply[0], reply[1]
                out = reply[2] if len(reply) == 3 else b"ok"
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler


def closed_port_url(path: str = "/") -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running receiver, shut down after the test."""
    with Receiver() as r:
        yield r


# ---- sample notifications ---------------------------------------------------------------------
def sample_payload(kind: str = "firing", **changes: Any) -> dict[str, Any]:
    """A notification payload as the evaluator produces it (user text with ``&<>`` included)."""
    resolved = kind == "resolved"
    payload: dict[str, Any] = {
        "kind": kind,
        "status": "resolved" if resolved else "firing",
        "fingerprint": "fp-churn-accuracy",
        "rule": "accuracy-drop",
        "model": "churn-classifier",
        "version": "v2",
        "severity": "critical",
        "labels": {
            "alertname": "accuracy-drop",
            "model": "churn-classifier",
            "severity": "critical",
            "version": "v2",
            "team": "R&D <ml>",
        },
        "metric": "accuracy",
        "feature": None,
        "window": "15m",
        "value": 0.81,
        "baseline": 0.93,
        "threshold": 0.85,
        "op": "<",
        "change": None,
        "summary": "accuracy of churn-classifier (v2) is 0.81 < 0.85 over 15m",
        "description": "Accuracy fell below the agreed level",
        "at": "2026-12-01T06:00:00+00:00",
        "starts_at": "2026-12-01T05:45:00+00:00",
        "fired_at": "2026-12-01T05:50:00+00:00",
        "resolved_at": "2026-12-01T06:00:00+00:00" if resolved else None,
        "dashboard_url": "http://mt.example:8000/models/churn-classifier?version=v2&window=15m",
        "alerts_url": "http://mt.example:8000/alerts",
    }
    payload.update(changes)
    return payload
