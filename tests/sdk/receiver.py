"""A real HTTP receiver on loopback for SDK tests and benchmarks (not a mock: real sockets).

It records every request (path, headers, parsed JSON body, arrival time) and answers from a
script of responses, then with 200 and a body shaped like the modeltower server's.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from modeltower.sdk import Client


@dataclass
class Request:
    """One request as received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None when the body is not JSON
    raw: bytes
    at: float  # time.monotonic() on arrival
    status: int = 0  # what we answered


@dataclass
class Reply:
    """A scripted answer; ``body`` None means the default success body."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Scripted = Reply | Callable[[Request], Reply]


def free_port() -> int:
    """A port that was free a moment ago (for 'server started later' tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def success_body(req: Request) -> Any:
    items = req.body if isinstance(req.body, list) else [req.body]
    if req.path.startswith("/v1/feedback"):
        return {"accepted": len(items), "matched": 0}
    ids = [it.get("id") for it in items if isinstance(it, dict)]
    return {"accepted": len(items), "duplicates": 0, "ids": ids}


class Receiver:
    """``with Receiver() as r: ... r.url ... r.requests``."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Request] = []
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control --
    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
            disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms per response

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(Reply(200, {"status": "ok"}))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    body = None
                req = Request("POST", self.path, dict(self.headers), body, raw, time.monotonic())
                reply = receiver._next_reply(req)
                if reply.delay:
                    time.sleep(reply.delay)
                req.status = reply.status
                with receiver._lock:
                    receiver.requests.append(req)
                self._answer(reply if reply.body is not None else
                             Reply(reply.status, success_body(req), reply.headers))  # fmt: skip

            def _answer(self, reply: Reply) -> None:
                data = orjson.dumps(reply.body)
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def script(self, *replies: Scripted) -> None:
        """Answer the next requests with these replies (in order), then with 200."""
        with self._lock:
            self._script.extend(replies)

    def _next_reply(self, req: Request) -> Reply:
        with self._lock:
            item = self._script.popleft() if self._script else Reply()
        return item(req) if callable(item) else item

    # -- inspection --
    def posts(self, path: str = "/v1/events") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def accepted(self, path: str = "/v1/events") -> list[dict[str, Any]]:
        """Items of every request to ``path`` that was answered with 2xx."""
        return [it for r in self.posts(path) if 200 <= r.status < 300 for it in r.body]

    def wait_for(self, cond: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            time.sleep(0.01)
        return cond()


@contextmanager
def sdk_client(url: str, **kw: Any) -> Iterator[Client]:
    """A Client with test-friendly defaults (fast backoff), always closed within 2 s."""
    opts: dict[str, Any] = {"model": "churn", "version": "v3", "backoff_base": 0.01}
    opts.update(kw)
    client = Client(url, **opts)
    try:
        yield client
    finally:
        client.close(timeout=2.0)
