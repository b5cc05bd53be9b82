"""/docs is served from local assets (works offline) and documents every endpoint."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx

from modeltower.app import create_app
from modeltower.config import Settings


def test_docs_page_and_assets_are_local(tmp_path: Path) -> None:
    app = create_app(Settings(db_path=str(tmp_path / "d.duckdb")))

    async def run() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                page = await c.get("/docs")
                assert page.status_code == 200
                assert "cdn" not in page.text.lower()
                srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
                assert srcs and all(s.startswith("/") for s in srcs), srcs
                for src in srcs:
                    r = await c.get(src)
                    assert r.status_code == 200, src
                    assert len(r.content) > 100, src
                spec = (await c.get("/openapi.json")).json()
                for path, methods in spec["paths"].items():
                    for method, op in methods.items():
                        assert op.get("summary"), f"{method.upper()} {path} has no summary"

    asyncio.run(run())
