"""Fixtures shared by every test package: the real app in-process (see tests/inprocess.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.inprocess import MakeApi, api_factory


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_api(tmp_path: Path) -> MakeApi:
    """``async with make_api(max_body_bytes=2048) as api:``; a fresh database each time."""
    return api_factory(tmp_path)
