"""Access to the services that ``create_app`` put on the application state."""

from __future__ import annotations

from typing import cast

from fastapi import Request

from modeltower.api.errors import BodyTooLarge
from modeltower.config import Settings
from modeltower.services.ingest import IngestService
from modeltower.services.queries import Filters, QueryService


def ingest_service(request: Request) -> IngestService:
    return cast(IngestService, request.app.state.ingest)


def query_service(request: Request) -> QueryService:
    return cast(QueryService, request.app.state.queries)


def settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it exceeds ``limit`` bytes (also when chunked)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def filters(request: Request, version: str | None, group: str | None) -> Filters:
    """Filters from the query string; ``tag.<key>=<value>`` may repeat for several keys."""
    tags = tuple(
        sorted(
            (k[4:], v)
            for k, v in request.query_params.multi_items()
            if k.startswith("tag.") and k[4:]
        )
    )
    return Filters(version=version, group=group, tags=tags)
