"""The body limit holds for every endpoint, with or without Content-Length (chunked), and the
per-key token bucket answers 429 with Retry-After; health checks are never limited."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest
from tests.auth.helpers import bearer, create_key

from modeltower.api.rate_limit import TokenBuckets
from modeltower.testing import ServerProcess

from .conftest import MakeApi

pytestmark = pytest.mark.anyio

LIMIT = 2048
EVENTS = orjson.dumps([{"model": "m", "prediction": "a", "features": {"x": "y" * 900}}] * 3)
RULE = {"name": "r", "metric": "count", "window": "1h", "op": "<", "threshold": 1}


async def _chunks(body: bytes, size: int = 500) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/events", EVENTS),
        (
            "POST",
            "/v1/feedback",
            orjson.dumps([{"model": "m", "id": "x" * 100, "label": "a"}] * 30),
        ),
        ("POST", "/v1/alerts/rules", orjson.dumps(RULE | {"labels": {"x": "y" * 3000}})),
        ("PUT", "/v1/models/m", orjson.dumps({"task": "classification", "x": "y" * 3000})),
        ("POST", "/log", orjson.dumps({"model_name": "m", "input_data": "y" * 3000})),
    ],
)
async def test_body_over_the_limit_is_413_with_and_without_content_length(
    make_api: MakeApi, method: str, path: str, body: bytes
) -> None:
    assert len(body) > LIMIT
    async with make_api(max_body_bytes=LIMIT) as api:
        r = await api.client.request(method, path, content=body)
        assert r.status_code == 413, r.text
        assert r.json()["detail"]["limit"] == LIMIT
        # A generator body is sent chunked, without Content-Length.
        r = await api.client.request(
            method, path, content=_chunks(body), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413, r.text
        assert "max_body_bytes" in r.json()["detail"]["message"]
        assert api.stored() == 0


async def test_small_chunked_bodies_pass(make_api: MakeApi) -> None:
    async with make_api(max_body_bytes=LIMIT) as api:
        body = orjson.dumps(RULE)
        r = await api.client.post(
            "/v1/alerts/rules",
            content=_chunks(body, 7),
            headers={"content-type": "application/json"},
        )
        assert r.status_code in (200, 201), r.text
        body = orjson.dumps([{"model": "m", "prediction": "a"}])
        r = await api.client.post("/v1/events", content=_chunks(body, 5))
        assert r.status_code == 200 and api.stored() == 1


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = Path(tmp_path_factory.mktemp("limits")) / "srv.duckdb"
    args = ["--max-body-bytes", str(LIMIT), "--rate-limit", "2", "--rate-limit-burst", "3"]
    with ServerProcess(db, args=args) as srv:
        yield srv


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while b"\r\n\r\n" not in out or not out.rstrip().endswith(b"}"):
            data = s.recv(65536)
            if not data:
                break
            out += data
        return out


def test_chunked_body_over_the_limit_on_a_real_server(server: ServerProcess) -> None:
    body = EVENTS
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:1000], body[1000:]))
    for path in (b"/v1/events", b"/v1/alerts/rules"):
        head = (
            b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"X-API-Key: body-test-" + path + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        answer = _raw(server.port, head + chunked + b"0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
        assert b"max_body_bytes" in answer


def test_rate_limit_per_key_with_retry_after(server: ServerProcess) -> None:
    import httpx

    with httpx.Client(base_url=server.url) as c:
        codes = [c.get("/v1/models", headers={"X-API-Key": "k1"}).status_code for _ in range(6)]
        assert codes[:3] == [200, 200, 200] and 429 in codes[3:], codes
        r = c.get("/v1/models", headers={"X-API-Key": "k1"})
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        body = r.json()
        assert body["error"] == "rate_limited" and body["detail"]["rate_limit_per_s"] == 2
        assert r.headers["x-content-type-options"] == "nosniff"
        # Another key, a bearer token and health checks are not affected.
        assert c.get("/v1/models", headers={"X-API-Key": "k2"}).status_code == 200
        assert c.get("/v1/models", headers={"Authorization": "Bearer t"}).status_code == 200
        assert all(c.get("/healthz").status_code == 200 for _ in range(10))


async def test_made_up_credentials_are_limited_by_their_address(make_api: MakeApi) -> None:
    """A fresh made-up key per request must not mean a fresh bucket per request: refused
    credentials are charged to the client address, which then gets 429 for a while."""
    async with make_api(rate_limit_per_s=2, rate_limit_burst=3) as api:
        admin = await create_key(api, "admin")
        codes = []
        for i in range(6):
            r = await api.client.get("/v1/models", headers={"X-API-Key": f"mtk_made-up-{i}"})
            codes.append(r.status_code)
        assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429, 429], codes
        assert int(r.headers["retry-after"]) >= 1
        # its credentialed requests wait for the bucket to refill, valid keys too
        assert (await api.client.get("/v1/models", headers=bearer(admin))).status_code == 429
        await asyncio.sleep(0.6)  # one token back at 2/s
        assert (await api.client.get("/v1/models", headers=bearer(admin))).status_code == 200
        # accepted requests are not charged to the address
        await asyncio.sleep(1.6)
        for _ in range(3):
            assert (await api.client.get("/v1/models", headers=bearer(admin))).status_code == 200
            await asyncio.sleep(0.5)
        bogus = await api.client.get("/v1/models", headers={"X-API-Key": "mtk_other"})
        assert bogus.status_code == 401


async def test_rate_limit_is_off_by_default(make_api: MakeApi) -> None:
    async with make_api() as api:
        codes = {(await api.client.get("/v1/models")).status_code for _ in range(50)}
        assert codes == {200}


def test_token_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    b = TokenBuckets(rate=2.0, burst=2, clock=lambda: now[0])
    assert [b.take("a"), b.take("a")] == [0.0, 0.0]
    assert b.take("a") == pytest.approx(0.5)
    now[0] = 0.5
    assert b.take("a") == 0.0 and b.take("a") > 0
    assert b.take("b") == 0.0  # keys are independent
