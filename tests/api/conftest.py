"""Fixtures: the real app in-process (see tests/inprocess.py); tests are ``async def`` run by anyio."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.inprocess import Api, MakeApi, Params

__all__ = ["Api", "MakeApi", "Params"]


@pytest.fixture
async def api(make_api: MakeApi) -> AsyncIterator[Api]:
    async with make_api() as a:
        yield a
