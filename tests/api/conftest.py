"""Fixtures: the real app in-process (see tests/inprocess.py); tests are ``async def`` run by anyio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.inprocess import Api, MakeApi, Params, api_factory

__all__ = ["Api", "MakeApi", "Params"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_api(tmp_path: Path) -> MakeApi:
    return api_factory(tmp_path)


@pytest.fixture
async def api(make_api: MakeApi) -> AsyncIterator[Api]:
    async with make_api() as a:
        yield a
