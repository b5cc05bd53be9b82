"""Per-key request rate limit: a token bucket per presented credential or client address.

A request is keyed by a SHA-256 of its ``Authorization`` or ``X-API-Key`` header value (never
the credential itself, and whether or not it is a valid key: checking keys is access control's
job, this only stops floods), or by the client address when it presents none. Each key may send
``burst`` requests at once and ``rate`` per second on average; past that it gets 429 with
``Retry-After`` and a JSON body. Health checks are never limited.

A credential the server refuses (401) is charged to its client address as well: otherwise a
flood of made-up credentials would get a fresh bucket with every request. Once an address has
used up its bucket that way, its requests with credentials get 429 too until it refills; valid
keys sent from elsewhere keep their own buckets.

The buckets live in this process: with several ``serve`` processes behind a load balancer each
enforces the rate on its own, so a key may reach up to (processes x rate) in total.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modeltower.api.responses import send_json

EXEMPT = ("/healthz", "/readyz")
MAX_KEYS = 100_000  # buckets kept; idle (full) ones are dropped first


class TokenBuckets:
    """Token buckets by key; :meth:`take` answers how long to wait (0: go ahead)."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``; return 0.0, or the seconds until one is available."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > MAX_KEYS:
                    self._prune(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def waiting(self, key: str) -> float:
        """The seconds until ``key`` has a token again (0.0: it has one), taking none."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled (they start full again anyway)."""
        full = [
            k for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst
        ]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) > MAX_KEYS:  # a flood of distinct keys: start over
            self._buckets.clear()


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return "addr:" + (str(client[0]) if client else "unknown")


def request_key(scope: Scope) -> str:
    """The bucket key of a request: a hash of its credential, else its client address."""
    for name, value in scope.get("headers", ()):
        if name in (b"authorization", b"x-api-key") and value:
            return "key:" + hashlib.sha256(value).hexdigest()
    return _address(scope)


class RateLimit:
    """Pure ASGI middleware answering 429 to keys over their rate."""

    def __init__(self, app: ASGIApp, rate: float, burst: int) -> None:
        self.app = app
        self.buckets = TokenBuckets(rate, burst or max(1, math.ceil(2 * rate)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let the request through or answer 429."""
        if scope["type"] != "http" or scope.get("path", "") in EXEMPT:
            await self.app(scope, receive, send)
            return
        key = request_key(scope)
        refused = "refused:" + _address(scope)  # this address's refused credentials
        wait = self.buckets.waiting(refused) if key.startswith("key:") else 0.0
        if wait <= 0.0:
            wait = self.buckets.take(key)
        if wait <= 0.0:
            if not key.startswith("key:"):
                await self.app(scope, receive, send)
                return

            async def charge_refusals(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] == 401:
                    self.buckets.take(refused)
                await send(message)

            await self.app(scope, receive, charge_refusals)
            return
        await self._too_many(send, wait)

    async def _too_many(self, send: Send, wait: float) -> None:
        retry_after = max(1, math.ceil(wait))
        payload = orjson.dumps(
            {
                "error": "rate_limited",
                "detail": {
                    "message": (
                        f"more than {self.buckets.rate:g} requests/s (burst "
                        f"{self.buckets.burst:g}) from this key or address; retry after {retry_after} s"
                    ),
                    "rate_limit_per_s": self.buckets.rate,
                    "burst": self.buckets.burst,
                    "retry_after_s": round(wait, 3),
                },
            }
        )
        await send_json(send, 429, payload, [(b"retry-after", str(retry_after).encode())])
