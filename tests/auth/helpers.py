"""Shared helpers of the access-control tests: creating keys through the real API."""

from __future__ import annotations

from typing import Any

from tests.inprocess import Api


async def create_key(
    api: Api, scope: str, name: str | None = None, admin: str | None = None, **extra: Any
) -> str:
    """A new key of ``scope`` (created with the ``admin`` key once auth is on)."""
    headers = {"Authorization": f"Bearer {admin}"} if admin else {}
    body = {"name": name or f"{scope}-key", "scope": scope, **extra}
    r = await api.client.post("/v1/keys", json=body, headers=headers)
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    assert isinstance(key, str)
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


EVENT = {"model": "m", "id": "e1", "prediction": "a", "label": "a", "latency_ms": 5.0}
