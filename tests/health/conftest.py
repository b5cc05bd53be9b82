"""Fixtures: the real app in-process (see tests/inprocess.py)."""

from __future__ import annotations

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
