"""The real app in-process (lifespan run, a real DuckDB file in tmp_path, httpx ASGI client)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from modeltower.app import create_app
from modeltower.config import Settings


class Api:
    """A running app and a client with happy-path helpers."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    async def events(self, events: Any) -> dict[str, Any]:
        r = await self.client.post("/v1/events", json=events)
        assert r.status_code == 200, r.text
        return r.json()

    async def feedback(self, items: Any) -> dict[str, Any]:
        r = await self.client.post("/v1/feedback", json=items)
        assert r.status_code == 200, r.text
        return r.json()

    async def get(self, path: str, **params: Any) -> Any:
        r = await self.client.get(path, params={k: v for k, v in params.items() if v is not None})
        assert r.status_code == 200, r.text
        return r.json()


MakeApi = Callable[..., contextlib.AbstractAsyncContextManager[Api]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_api(tmp_path: Path) -> MakeApi:
    """``async with make_api(snapshot_interval_s=0.2) as api:``; a fresh database each time."""
    counter = iter(range(1_000_000))

    @contextlib.asynccontextmanager
    async def factory(**settings: Any) -> AsyncIterator[Api]:
        db = tmp_path / f"health-{next(counter)}.duckdb"
        app = create_app(Settings(db_path=str(db), **settings))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield Api(app, client)

    return factory
