"""The real application in-process for tests: lifespan run, a real database (a DuckDB file or a
PostgreSQL database), httpx ASGI client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from modeltower.app import create_app
from modeltower.config import Settings

Params = dict[str, Any] | list[tuple[str, Any]]


class Api:
    """A running app plus a client, with small helpers that assert the happy path."""

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

    async def put_model(self, model: str, **body: Any) -> dict[str, Any]:
        r = await self.client.put(f"/v1/models/{model}", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    async def metrics(self, model: str, params: Params | None = None) -> dict[str, Any]:
        r = await self.client.get(f"/v1/models/{model}/metrics", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    async def timeseries(self, model: str, params: Params) -> dict[str, Any]:
        r = await self.client.get(f"/v1/models/{model}/timeseries", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    async def get(self, path: str, **params: Any) -> Any:
        r = await self.client.get(path, params={k: v for k, v in params.items() if v is not None})
        assert r.status_code == 200, r.text
        return r.json()

    def stored(self) -> int:
        """Events stored in the database, all models together."""
        return int(self.app.state.store.count_all())


MakeApi = Callable[..., contextlib.AbstractAsyncContextManager[Api]]


def api_factory(tmp_path: Path, database_for: Callable[[str], str] | None = None) -> MakeApi:
    """``async with factory(max_body_bytes=2048) as api:``; a fresh database each time, or the file
    ``db_name`` (reused: a restart) when given. With ``database_for`` the store is PostgreSQL:
    it names the database that stands for each file."""
    counter = iter(range(1_000_000))

    @contextlib.asynccontextmanager
    async def factory(db_name: str | None = None, **settings: Any) -> AsyncIterator[Api]:
        db = tmp_path / (db_name or f"modeltower-{next(counter)}.duckdb")
        if database_for is not None and "database_url" not in settings:
            settings["database_url"] = database_for(str(db))
        app = create_app(Settings(db_path=str(db), **settings))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1"
            ) as client:
                yield Api(app, client)

    return factory
