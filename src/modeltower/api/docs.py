"""Interactive API docs at /docs, served from the installed swagger-ui-bundle (no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

_HERE = Path(__file__).parent / "docs_static"


def install(app: FastAPI) -> None:
    """Mount Swagger UI's assets and the page that starts it."""
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(_HERE / "docs.html", media_type="text/html")

    @app.get("/docs/init.js", include_in_schema=False)
    async def docs_init() -> FileResponse:
        return FileResponse(_HERE / "init.js", media_type="text/javascript")
